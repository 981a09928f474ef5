"""Splits over the memory budget stay on disk through the steps that used to join or convert them
whole: synthetic images appended to training (ConcatImages), SSL pretraining on several folders,
and the translator of pixel_da / `gan translate` (uint8 kept, made float a batch at a time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from read_spy import SpyImages, spy_file

from engine.core.config import TrainConfig
from engine.core.events import Collector, Log
from engine.data import image_cache
from engine.data.demo import DemoPaths
from engine.data.disk_images import ConcatImages, DiskImages, concat, take
from engine.data.prepare import DecodeCache, prepare_data


def _spy(tmp_path: Path, x: torch.Tensor, name: str) -> SpyImages:
    return spy_file(tmp_path / name, x)


def _images(n: int, seed: int, size: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(image_cache, "cache_dir_override", root)
    return root


def test_concat_images_index_like_torch_cat(tmp_path: Path) -> None:
    a, b, c = _images(30, 1), _images(7, 2), _images(12, 3)
    disk_a, disk_c = _spy(tmp_path, a, "a.u8"), _spy(tmp_path, c, "c.u8")
    joined = ConcatImages([disk_a, b, disk_c])
    whole = torch.cat([a, b, c])
    assert len(joined) == 49 and joined.shape == whole.shape and joined.nbytes == whole.numel()
    shuffled = torch.randperm(49, generator=torch.Generator().manual_seed(0))
    assert torch.equal(joined[shuffled], whole[shuffled])
    assert torch.equal(joined[25:40], whole[25:40]) and torch.equal(joined[-1], whole[-1])
    assert torch.equal(joined[30], whole[30]) and torch.equal(joined[np.array([48, 0, 36])], whole[[48, 0, 36]])
    assert max(disk_a.log + disk_c.log) <= 30  # each part reads only what the key asks of it
    n_reads = len(disk_a.log + disk_c.log)
    view = take(joined, shuffled[:20])  # a split of the joined set: nothing read
    assert len(disk_a.log + disk_c.log) == n_reads and len(view) == 20
    assert torch.equal(view[torch.arange(20)], whole[shuffled[:20]])
    assert torch.equal(take(joined, torch.arange(31, 36)), b[1:6])  # one part only: that part's view
    nested = ConcatImages([joined, b])
    assert len(nested.parts) == 4 and torch.equal(nested[:], torch.cat([whole, b]))  # flattened
    assert isinstance(concat([a, b]), torch.Tensor) and isinstance(concat([disk_a, b]), ConcatImages)
    with pytest.raises(ValueError, match="different shapes"):
        ConcatImages([a, _images(3, 4, size=16)])
    with pytest.raises(IndexError):
        joined[49]


def test_synthetic_images_join_a_split_on_disk_without_reading_it(
    cache_root: Path, tiny_demo: DemoPaths, tmp_path: Path
) -> None:
    from engine.training.trainer import run_train

    base = TrainConfig(
        source=tiny_demo.source, synthetic=tiny_demo.target_test, synthetic_ratio=0.3, runs_dir=tmp_path / "runs"
    )
    memory = prepare_data(base.model_copy(update={"cache_memory_mb": 1000}), 32, Collector(), cache=DecodeCache())
    events = Collector()
    disk = prepare_data(base.model_copy(update={"cache_memory_mb": 0}), 32, events, cache=DecodeCache())
    assert isinstance(memory.x_train, torch.Tensor) and isinstance(disk.x_train, ConcatImages) and disk.on_disk
    assert torch.equal(disk.x_train[torch.arange(len(disk.x_train))], memory.x_train)
    assert torch.equal(disk.y_train, memory.y_train)
    assert any(isinstance(e, Log) and "Synthetic:" in e.message for e in events.events)
    # and a run trains from it, augmented (per-image dataset) and not (read-ahead batches)
    for augment in ("none", "light"):
        cfg = base.model_copy(update={"cache_memory_mb": 0, "epochs": 1, "augment": augment, "name": augment})
        res = run_train(cfg, Collector())
        assert res.status == "finished" and res.metrics["val/acc"] >= 0


def test_pretraining_over_the_budget_matches_pretraining_in_memory(
    cache_root: Path, tiny_demo: DemoPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.ssl import pretrain
    from engine.ssl.config import PretrainConfig

    cfg = PretrainConfig(
        data=[tiny_demo.target_train, tiny_demo.target_test], epochs=1, batch_size=16, runs_dir=tmp_path / "runs"
    )
    losses, kinds = [], []

    def recording_concat(parts: list[Any]) -> Any:
        kinds.append([type(p).__name__ for p in parts])
        return concat(parts)

    monkeypatch.setattr(pretrain, "concat", recording_concat)
    for budget in (1 << 40, 0):
        monkeypatch.setattr(pretrain, "budget_bytes", lambda _mb, b=budget: b)
        events = Collector()
        torch.manual_seed(0)
        report = pretrain.run_pretrain(cfg.model_copy(update={"name": f"b{budget}"}), events)
        assert report.status == "finished"
        losses.append([e.metrics["loss"] for e in events.of(pretrain.Progress)])
    assert kinds == [["Tensor", "Tensor"], ["DiskImages", "DiskImages"]]
    assert losses[0] and losses[0] == pytest.approx(losses[1], abs=1e-5)


def test_translator_reads_a_batch_of_uint8_at_a_time(tmp_path: Path) -> None:
    from engine.gan.data import to_model_range
    from engine.gan.translate import TranslatorTrainer, pairs_grid

    xs, xt = _images(40, 5, size=16), _images(30, 6, size=16)
    ys = torch.arange(40) % 3
    spy_s, spy_t = _spy(tmp_path, xs, "s.u8"), _spy(tmp_path, xt, "t.u8")
    on_disk = TranslatorTrainer(spy_s, ys, spy_t, width=4, batch_size=8, seed=1)
    in_memory = TranslatorTrainer(xs, ys, xt, width=4, batch_size=8, seed=1)
    for _ in range(2):
        got, want = on_disk._batch(), in_memory._batch()
        for g, w in zip(got, want, strict=True):
            assert torch.equal(g, w)
        on_disk.step += 1
        in_memory.step += 1
    assert max(spy_s.log + spy_t.log) <= 8
    grid = pairs_grid(on_disk, n=4)
    assert grid.shape == (8, 3, 16, 16) and torch.equal(grid[:4], to_model_range(xs[:4]))


def test_multitask_splits_follow_the_memory_budget(cache_root: Path, tmp_path: Path) -> None:
    from engine.multitask.data import prepare_multitask
    from engine.multitask.demo import make_multitask_demo

    demo = make_multitask_demo(tmp_path / "mt", per_class=4, scarce=2, test_per_class=1, seed=3)
    cfg = TrainConfig.model_validate({"labels": demo.labels, "method": "multitask", "runs_dir": tmp_path / "runs"})
    memory = prepare_multitask(
        cfg.model_copy(update={"cache_memory_mb": 1000}), 32, lambda e: None, None, DecodeCache()
    )
    logs: list[str] = []
    disk = prepare_multitask(
        cfg.model_copy(update={"cache_memory_mb": 0}),
        32,
        lambda e: logs.append(e.message) if isinstance(e, Log) else None,
        None,
        DecodeCache(),
    )
    assert isinstance(memory.x_train, torch.Tensor) and not memory.on_disk
    assert isinstance(disk.x_train, DiskImages) and isinstance(disk.x_val, DiskImages) and disk.on_disk
    assert torch.equal(disk.x_train[torch.arange(len(disk.x_train))], memory.x_train)
    assert torch.equal(disk.x_val[torch.arange(len(disk.x_val))], memory.x_val)
    assert torch.equal(disk.y_train, memory.y_train) and any("batch by batch" in m for m in logs)


class _TinyGenerator(torch.nn.Module):
    """z -> 3x8x8 images in [-1, 1] (eval mode, batch-independent), like a GAN generator."""

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(z_dim + 1, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        cond = (y if y is not None else torch.zeros(len(z))).float().unsqueeze(1)
        return torch.tanh(self.fc(torch.cat([z, cond], 1))).view(len(z), 3, 8, 8)


def test_gan_scores_read_real_images_a_batch_at_a_time(tmp_path: Path) -> None:
    from engine.gan.data import to_unit_range
    from engine.gan.evaluate import BATCH, generate, score_generator, score_images

    torch.manual_seed(0)
    g = _TinyGenerator(6).eval()
    real = _images(600, 21, size=16)  # at another size than g's: resized to 8 px a batch at a time
    disk = _spy(tmp_path, real, "real.u8")
    got = score_generator(g, 6, 3, disk, n_fake=520, seed=4)
    assert max(disk.log) <= BATCH
    # the same numbers as converting, resizing and extracting the whole sets at once
    fake = to_unit_range(generate(g, 520, 6, 3, 4))
    real01 = torch.nn.functional.interpolate(real.float() / 255.0, size=(8, 8), mode="bilinear", antialias=True)
    want = score_images(real01, fake)
    assert got.keys() == want.keys() and got["n_real"] == 600 and got["n_fake"] == 520
    for k, v in want.items():
        assert got[k] == (pytest.approx(v, rel=1e-9, abs=1e-12) if isinstance(v, float) else v), k


def test_pixel_da_keeps_originals_on_disk_beside_the_translations(tmp_path: Path) -> None:
    from engine.methods.pixel_da import mix_with_source

    original, translated = _images(40, 5), _images(40, 6)
    labels = torch.arange(40) % 4
    on_disk = _spy(tmp_path, original, "source.u8")
    gen = torch.Generator().manual_seed(0)
    mixed, mixed_labels, n = mix_with_source(translated, on_disk, labels, 0.2, gen)
    assert n == 10 and isinstance(mixed, ConcatImages) and on_disk.log == []  # nothing read yet
    in_memory, same_labels, _ = mix_with_source(translated, original, labels, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(mixed[torch.arange(50)], in_memory) and torch.equal(mixed_labels, same_labels)
    assert max(on_disk.log) <= 10  # then only the originals asked for
