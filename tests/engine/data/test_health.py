"""Health checks: unreadable files, duplicates, class problems, cross-domain mismatches."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from engine.core.control import JobControl, Stopped
from engine.data.folders import scan_domain
from engine.data.health import FoldersReport, HealthReport, check_domain, check_folders, compare_domains


def codes(issues) -> dict[str, str]:
    return {i.code: i.level for i in issues}


def test_clean_domain_has_no_issues(tmp_path, labelled):
    report = check_domain(scan_domain(make := labelled(tmp_path / "src", {"a": 6, "b": 6})))
    assert report.issues == [] and not report.has_errors
    assert report.class_counts == {"a": 6, "b": 6} and report.num_images == 12 and report.root == str(make)
    assert report.sizes == {
        "min_width": 8,
        "median_width": 8,
        "max_width": 8,
        "min_height": 8,
        "median_height": 8,
        "max_height": 8,
    }
    assert report.modes == {"RGB": 12} and report.formats == {"PNG": 12}


def test_unreadable_files_are_listed_with_reasons(tmp_path, labelled):
    root = labelled(tmp_path / "src", {"a": 6, "b": 6})
    (root / "a" / "zero.png").write_bytes(b"")
    (root / "b" / "text.jpg").write_text("hello")
    report = check_domain(scan_domain(root))
    assert {(u["path"].split("/")[-1], u["reason"]) for u in report.unreadable} == {
        ("zero.png", "empty file (0 bytes)"),
        ("text.jpg", "not an image (could not identify format)"),
    }
    assert codes(report.issues) == {"unreadable": "warning"}
    assert report.class_counts == {"a": 6, "b": 6}  # readable images only
    text = report.to_text()
    assert str(root / "a" / "zero.png") + ": empty file (0 bytes)" in text
    assert "text.jpg: not an image" in text and "12 readable, 2 unreadable" in text


def test_all_unreadable_is_an_error(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(b"")
    report = check_domain(scan_domain(tmp_path))
    assert report.has_errors and codes(report.issues)["all_unreadable"] == "error"


def test_bomb_limit_applies(tmp_path, labelled):
    root = labelled(tmp_path / "src", {"a": 2, "b": 2})
    report = check_domain(scan_domain(root), max_pixels=10)
    assert len(report.unreadable) == 4 and "decompression-bomb" in report.unreadable[0]["reason"]


def test_duplicates_small_classes_imbalance_empty_class(tmp_path, labelled):
    root = labelled(tmp_path / "src", {"big": 12, "small": 3})
    shutil.copy(root / "big" / "000.png", root / "big" / "copy.png")
    shutil.copy(root / "big" / "001.png", root / "small" / "clash.png")
    (root / "empty").mkdir()
    report = check_domain(scan_domain(root))
    c = codes(report.issues)
    assert c == {
        "duplicates": "warning",
        "duplicate_across_classes": "warning",
        "empty_class": "warning",
        "small_class": "warning",
        "imbalance": "warning",
    }
    assert len(report.duplicates) == 2 and all(len(g) == 2 for g in report.duplicates)
    msg = {i.code: i.message for i in report.issues}
    assert "small (4)" in msg["small_class"]
    assert (
        "'big' has 13 images" in msg["imbalance"] and "'small' has 4" in msg["imbalance"] and "3.2×" in msg["imbalance"]
    )
    assert "empty" in msg["empty_class"]
    assert not report.has_errors


def test_mild_imbalance_is_fine(tmp_path, labelled):
    report = check_domain(scan_domain(labelled(tmp_path / "src", {"a": 10, "b": 5})))
    assert "imbalance" not in codes(report.issues)


def test_modes_and_sizes_summary(tmp_path, noise, png):
    noise(tmp_path / "a.png", seed=1, size=(10, 20))
    noise(tmp_path / "b.jpg", seed=2, size=(30, 40))
    png(tmp_path / "c.png", size=(50, 60))
    from PIL import Image

    Image.new("L", (70, 80)).save(tmp_path / "d.png")
    report = check_domain(scan_domain(tmp_path))
    assert report.sizes["min_width"] == 10 and report.sizes["max_height"] == 80 and report.sizes["median_width"] == 40
    assert report.modes == {"RGB": 3, "L": 1} and report.formats == {"PNG": 3, "JPEG": 1}
    assert not report.labelled and report.class_counts == {}


def test_photos_checked_in_draft_mode_keep_their_size_and_truncation_is_found(tmp_path, noise):
    from PIL import Image

    noise(tmp_path / "whole.jpg", seed=1, size=(400, 300))
    Image.open(tmp_path / "whole.jpg").save(tmp_path / "again.jpg", quality=70)  # another file, same size
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) - 300])  # a download that stopped early
    report = check_domain(scan_domain(tmp_path))
    assert [(u["path"].split("/")[-1], u["reason"]) for u in report.unreadable] == [("cut.jpg", "truncated image data")]
    assert report.sizes["min_width"] == 400 and report.sizes["max_height"] == 300  # the file's size, not the draft's


def test_progress_and_stop(tmp_path, labelled):
    root = labelled(tmp_path / "src", {"a": 40, "b": 40})
    seen: list[tuple[int, int]] = []
    check_domain(scan_domain(root), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (80, 80) and all(t == 80 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    control = JobControl()
    calls = []

    def stop_early(done: int, total: int) -> None:
        calls.append(done)
        if done >= 5:
            control.stop()

    with pytest.raises(Stopped):
        check_domain(scan_domain(root), progress=stop_early, control=control)
    assert calls[-1] < 80


def test_pause_blocks_until_resumed(tmp_path, labelled):
    root = labelled(tmp_path / "src", {"a": 5, "b": 5})
    control = JobControl()
    control.pause()
    result: list[HealthReport] = []
    worker = threading.Thread(target=lambda: result.append(check_domain(scan_domain(root), control=control)))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and not result
    control.resume()
    worker.join(10)
    assert result and result[0].num_images == 10


def test_compare_domains(tmp_path, labelled):
    src = scan_domain(labelled(tmp_path / "src", {"a": 1, "b": 1, "c": 1}))
    tgt = scan_domain(labelled(tmp_path / "tgt", {"b": 1, "c": 1, "zebra": 1}, start_seed=50))
    issues = compare_domains(src, tgt)
    c = codes(issues)
    assert c == {"class_missing_in_source": "error", "class_missing_in_target": "warning"}
    msg = {i.code: i.message for i in issues}
    assert "zebra" in msg["class_missing_in_source"] and "a" in msg["class_missing_in_target"]
    subset = scan_domain(labelled(tmp_path / "sub", {"a": 1}, start_seed=70))
    assert codes(compare_domains(src, subset)) == {"class_missing_in_target": "warning"}
    assert codes(compare_domains(subset, src)) == {"class_missing_in_source": "error"}
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "x.png").write_bytes((tmp_path / "src" / "a" / "000.png").read_bytes())
    assert codes(compare_domains(src, scan_domain(flat))) == {"target_unlabelled": "info"}


def test_check_folders_bundle_and_json(tmp_path, labelled):
    src = labelled(tmp_path / "src", {"a": 6, "b": 6})
    tst = labelled(tmp_path / "test", {"a": 5, "b": 5}, start_seed=100)
    tgt = tmp_path / "tgt"
    tgt.mkdir()
    for i in range(4):
        shutil.copy(tst / "a" / f"{i:03d}.png", tgt / f"{i}.png")  # leak: target train holds test images
    seen = []
    report = check_folders(src, tgt, tst, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (26, 26)
    assert report.target is not None and report.target_test is not None
    assert report.target.domain == "target" and report.target_test.domain == "target_test"
    c = codes(report.issues)
    assert c == {"target_unlabelled": "info", "test_overlap": "warning"}
    assert not report.has_errors and "OK to train." in report.to_text()
    back = FoldersReport.model_validate(json.loads(report.to_json()))
    assert back.source.class_counts == {"a": 6, "b": 6} and back.issues == report.issues


def test_check_folders_errors(tmp_path, labelled, noise):
    flat = tmp_path / "flat"
    noise(flat / "x.png", seed=1)
    tst = labelled(tmp_path / "test", {"a": 5, "q": 5})
    report = check_folders(flat, target_test=flat)
    assert codes(report.issues)["source_unlabelled"] == "error"
    assert codes(report.issues)["target_test_unlabelled"] == "error"
    assert report.has_errors and "ERRORS" in report.to_text()
    src = labelled(tmp_path / "src", {"a": 5, "b": 5}, start_seed=20)
    report = check_folders(src, target_test=tst)
    assert codes(report.issues) == {"class_missing_in_source": "error", "class_missing_in_target": "warning"}
    assert report.has_errors and "q" in report.to_text()


def test_health_check_speed(tmp_path, noise):
    import time

    for i in range(300):
        noise(tmp_path / f"{i:04d}.png", seed=i, size=(16, 16))
    start = time.monotonic()
    report = check_domain(scan_domain(tmp_path))
    assert report.num_readable == 300 and time.monotonic() - start < 10
