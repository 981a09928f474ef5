"""The disk cache of decoded images: keys, invalidation, versions, failures, the memory budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.control import JobControl, Stopped
from engine.core.events import Collector, Log
from engine.data import image_cache
from engine.data.decode import decode_square
from engine.data.disk_images import DiskImages
from engine.data.folders import scan_domain
from engine.data.loading import decode_domain
from engine.data.prepare import DecodeCache, prepare_data
from engine.data.synthetic_photos import photo, write_photo_folder


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(image_cache, "cache_dir_override", root)
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_photo_folder(tmp_path / "photos", 24, classes=3, width=160, height=120)


def _decode(folder: Path, size: int = 24, **kw):
    warnings: list[str] = []
    dec = decode_domain(scan_domain(folder), size, warn=warnings.append, **kw)
    return dec, warnings


def _reference(dec, size: int) -> np.ndarray:
    return np.stack([decode_square(p, size).transpose(2, 0, 1) for p in dec.paths])


def test_second_run_reads_everything_from_disk_and_pixels_match(cache_root, folder):
    first, _ = _decode(folder)
    assert first.cache_hits == 0 and len(first) == 24
    second, warnings = _decode(folder)
    assert second.cache_hits == 24 and not warnings
    assert torch.equal(first.images, second.images)
    assert np.array_equal(second.images.numpy(), _reference(second, 24))
    # the key includes the image size: another size is another bundle, decoded afresh
    other, _ = _decode(folder, size=16)
    assert other.cache_hits == 0 and other.images.shape[-1] == 16
    assert len(image_cache.bundles(cache_root)) == 2


def test_changed_new_and_removed_files_are_noticed(cache_root, folder):
    _decode(folder)
    files = sorted(folder.rglob("*.jpg"))
    changed, same_size, removed = files[0], files[1], files[2]
    photo(99, 0, 160, 120).save(changed)  # new content, new size and mtime
    st = same_size.stat()
    os.utime(same_size, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # only the mtime moves
    removed.unlink()
    photo(100, 1, 160, 120).save(folder / "class_1" / "new.jpg")
    dec, _ = _decode(folder)
    assert len(dec) == 24 and dec.cache_hits == 24 - 3  # changed, touched and new: decoded again
    assert np.array_equal(dec.images.numpy(), _reference(dec, 24))  # never the stale pixels
    assert str(removed) not in dec.paths
    again, _ = _decode(folder)
    assert again.cache_hits == 24


def test_unreadable_files_are_remembered_and_still_reported(cache_root, folder):
    (folder / "class_0" / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 64)
    first, _ = _decode(folder)
    second, _ = _decode(folder)
    for dec in (first, second):
        assert len(dec) == 24 and [Path(p).name for p, _ in dec.skipped] == ["broken.jpg"]
    assert second.cache_hits == 25  # the failure is cached too: a broken file is not re-read every run


def test_a_cache_of_another_version_is_rebuilt(cache_root, folder):
    _decode(folder)
    (bundle,) = image_cache.bundles(cache_root)
    index = json.loads((bundle / "index.json").read_text())
    index["version"] = "0.1"
    (bundle / "index.json").write_text(json.dumps(index))
    dec, warnings = _decode(folder)
    assert dec.cache_hits == 0 and any("rebuilt" in w for w in warnings)
    assert np.array_equal(dec.images.numpy(), _reference(dec, 24))
    assert _decode(folder)[0].cache_hits == 24


def test_unwritable_cache_folder_falls_back_to_memory_and_says_so(tmp_path, monkeypatch, folder):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(image_cache, "cache_dir_override", blocker / "decoded")  # mkdir fails
    dec, warnings = _decode(folder, budget=1)
    assert dec.where == "memory (no cache)" and isinstance(dec.images, torch.Tensor)
    assert any("cannot be written" in w for w in warnings)
    assert any("over the memory budget" in w for w in warnings)
    assert np.array_equal(dec.images.numpy(), _reference(dec, 24))


def test_full_disk_while_writing_keeps_the_rest_in_memory(cache_root, folder, monkeypatch):
    real = os.pwrite
    calls = {"n": 0}

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(28, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(image_cache.os, "pwrite", pwrite)
    dec, warnings = _decode(folder)
    assert any("could not be written" in w for w in warnings)
    assert len(dec) == 24 and np.array_equal(dec.images.numpy(), _reference(dec, 24))
    monkeypatch.setattr(image_cache.os, "pwrite", real)
    assert _decode(folder)[0].cache_hits == 5  # what was written before the disk filled is kept


def test_stop_while_decoding_keeps_what_was_decoded(cache_root, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.data.cached_decode.SAVE_EVERY", 1)
    big = write_photo_folder(tmp_path / "big", 600, classes=2, width=64, height=48)
    control = JobControl()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 256:
            control.stop()

    with pytest.raises(Stopped):
        decode_domain(scan_domain(big), 16, progress=progress, control=control)
    dec, _ = _decode(big, size=16)
    assert dec.cache_hits >= 256 and len(dec) == 600


def test_size_limit_prunes_least_recently_used_bundles(cache_root, tmp_path):
    folders = [write_photo_folder(tmp_path / f"f{i}", 6, classes=2, width=64, height=48) for i in range(3)]
    for i, f in enumerate(folders):
        _decode(f, size=32)
        (b,) = [b for b in image_cache.bundles(cache_root) if b.name == image_cache.bundle_name(f, 32)]
        os.utime(b / "index.json", (1000 + i, 1000 + i))
    one = image_cache.total_bytes(cache_root) // 3
    removed = image_cache.prune(limit=2 * one + 10, root=cache_root)
    assert [r.name for r in removed] == [image_cache.bundle_name(folders[0], 32)]
    with image_cache.ImageStore.open(folders[2], 32, cache_root):  # a run using it: left alone
        assert image_cache.clear(cache_root) > 0
        assert [b.name for b in image_cache.bundles(cache_root)] == [image_cache.bundle_name(folders[2], 32)]
    assert image_cache.clear(cache_root) > 0 and image_cache.bundles(cache_root) == []


def test_disk_images_index_like_a_tensor(cache_root, folder):
    mem, _ = _decode(folder)
    disk = decode_domain(scan_domain(folder), 24, lazy=True).images
    assert isinstance(disk, DiskImages) and disk.shape == mem.images.shape and len(disk) == 24
    idx = torch.tensor([5, 0, 23, 6, 7, 5])
    assert torch.equal(disk[idx], mem.images[idx])
    assert torch.equal(disk[3:9], mem.images[3:9]) and torch.equal(disk[4], mem.images[4])
    view = disk.rows(torch.tensor([2, 4, 6]))
    assert torch.equal(view[1:], mem.images[[4, 6]]) and torch.equal(view.materialize(), mem.images[[2, 4, 6]])


@pytest.mark.parametrize("budget_mb", [0, 1000])
def test_memory_budget_switches_between_memory_and_disk(cache_root, folder, train_config, budget_mb, tmp_path):
    cfg = train_config.model_copy(
        update={"source": folder, "target": None, "target_test": None, "cache_memory_mb": budget_mb}
    )
    logs: list[str] = []
    data = prepare_data(cfg, 24, lambda e: logs.append(e.message) if isinstance(e, Log) else None, cache=DecodeCache())
    assert data.on_disk == (budget_mb == 0)
    assert isinstance(data.x_train, DiskImages) == (budget_mb == 0)
    assert any(("disk cache batch by batch" if budget_mb == 0 else "in memory:") in m for m in logs)
    assert any(m.startswith("Scanning source: 24 images found in") for m in logs)
    assert any(m.startswith("Decoding source: 24 images in") for m in logs)
    ref = prepare_data(cfg.model_copy(update={"cache_memory_mb": 1000}), 24, lambda e: None, cache=DecodeCache())
    assert torch.equal(data.x_train[torch.arange(len(data.x_train))], ref.x_train)
    assert torch.equal(data.x_val[:], ref.x_val) and torch.equal(data.y_train, ref.y_train)


@pytest.mark.parametrize("augment", ["none", "light"])
def test_training_from_disk_equals_training_in_memory(cache_root, train_config, augment):
    """Same seed, same batches: reading them from the cache file must not change a single step."""
    from engine.training.trainer import run_train

    results = []
    for budget, name in ((0, "disk"), (4000, "memory")):
        update = {"epochs": 1, "cache_memory_mb": budget, "threads": 1, "name": name, "augment": augment}
        cfg = train_config.model_copy(update=update)
        events = Collector()
        res = run_train(cfg, events)
        logs = [e.message for e in events.of(Log)]
        assert res.status == "finished"
        assert "CPU threads: 1 of" in "\n".join(logs)
        assert ("batch by batch" in "\n".join(logs)) == (budget == 0)
        results.append(res.metrics)
    disk, memory = results
    assert disk.keys() == memory.keys() and "val/acc" in memory
    for k in [k for k in memory if "time" not in k]:
        assert disk[k] == pytest.approx(memory[k], abs=1e-6), k


def test_read_rows_in_any_order_with_runs_split(tmp_path, monkeypatch):
    monkeypatch.setattr(image_cache, "MAX_RUN_BYTES", 3 * 4 * 4 * 5)  # runs of at most 5 rows
    data = np.random.default_rng(0).integers(0, 256, (40, 3, 4, 4), dtype=np.uint8)
    path = tmp_path / "rows.u8"
    path.write_bytes(data.tobytes())
    for rows in (
        np.arange(40),
        np.random.default_rng(1).permutation(40),
        np.array([7, 7, 3, 39, 0, 8, 9, 10, 11, 12, 13]),
    ):
        assert np.array_equal(image_cache.read_rows(path, rows, 4), data[rows])
    with pytest.raises(OSError, match="shorter than its index"):
        image_cache.read_rows(path, np.array([40]), 4)
