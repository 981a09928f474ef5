"""Point 2: a full disk (ENOSPC simulated at the write) is one clear error naming the folder, the
space needed and what is intact, and loses nothing: checkpoints, exports, INT8 models, robustness
reports and CSVs all write through engine.core.fsutil, so one mechanism covers them all."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import FullDisk, leftovers, onnx_classifier

from engine.core.config import TrainConfig
from engine.core.errors import DiskFull, UserError
from engine.core.events import EpochEnd, Event
from engine.core.fsutil import atomic_write_bytes, atomic_write_json
from engine.core.runs import Run, open_run
from engine.training.checkpoints import load_checkpoint
from engine.training.trainer import run_train


def test_atomic_write_on_full_disk_keeps_the_old_file(tmp_path: Path, full_disk: FullDisk) -> None:
    target = tmp_path / "out" / "data.bin"
    atomic_write_bytes(target, b"old contents")
    full_disk.arm()
    with pytest.raises(DiskFull) as info:
        atomic_write_bytes(target, b"x" * 3000)
    msg = str(info.value)
    assert str(target.parent) in msg and "2.9 KB" in msg and "free" in msg and "intact" in msg
    assert "Errno" not in msg
    assert info.value.resumable and info.value.needed == 3000
    assert target.read_bytes() == b"old contents"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        with open(tmp_path / "plain.txt", "w") as fh:  # what open() gives under the same umask
            fh.write("x")
    finally:
        os.umask(old)
    got = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert got == 0o666 & ~mask == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(open_run(run_dir).checkpoint("last"))["model"]


def test_training_on_a_full_disk_stops_keeps_last_checkpoint_and_resumes(
    train_config: TrainConfig, full_disk: FullDisk
) -> None:
    train_config.epochs = 2
    straight = run_train(train_config)
    train_config.name = "full-disk"

    def fill_the_disk_after_epoch_1(event: Event) -> None:
        if isinstance(event, EpochEnd) and event.epoch == 1:
            full_disk.arm(free=20_000)  # 20 KB left: run.json fits, epoch 2's checkpoint does not

    with pytest.raises(DiskFull) as info:
        run_train(train_config, fill_the_disk_after_epoch_1)
    run = Run(Path(train_config.runs_dir) / "full-disk")
    msg = str(info.value)
    assert msg.startswith(f"{run.checkpoint_dir}: the disk is full: saving ")
    assert re.search(r"saving (last|best)\.pt needs [\d.]+ (KB|MB) and .* is free", msg), msg
    assert f"last good checkpoint {run.checkpoint('last')}" in msg and "is intact" in msg
    assert "--resume" in msg and "Errno" not in msg
    assert type(info.value).resumable  # the trainer marks such a run stopped, not failed
    assert load_checkpoint(run.checkpoint("last"))["epoch"] == 1  # the last good one, readable
    assert leftovers(run.path) == []

    full_disk.disarm()  # space freed
    resumed = run_train(resume=run.path)
    assert resumed.status == "finished" and resumed.epochs_done == 2
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    a, b = _final_weights(straight.run_dir), _final_weights(run.path)
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_export_on_full_disk_keeps_the_previous_model(tmp_path: Path, full_disk: FullDisk) -> None:
    from engine.deploy.export import export_onnx

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    out = tmp_path / "exports" / "model.onnx"
    out.parent.mkdir()
    out.write_bytes(b"previous export")
    full_disk.arm()
    with pytest.raises(DiskFull) as info:
        export_onnx(model, torch.rand(2, 3, 8, 8), out, {"classes": ["a", "b", "c", "d"]})
    assert str(out.parent) in str(info.value) and "needs" in str(info.value)
    assert out.read_bytes() == b"previous export" and leftovers(tmp_path) == []


def test_int8_on_full_disk(tmp_path: Path, full_disk: FullDisk) -> None:
    from engine.deploy.quantize import quantize_int8

    src = tmp_path / "m.onnx"
    onnx_classifier(src)
    out = tmp_path / "m.int8.onnx"
    full_disk.arm()
    calib = [np.random.default_rng(0).random((4, 3, 8, 8), dtype=np.float32)]
    with pytest.raises(DiskFull) as info:
        quantize_int8(src, calib, out)
    assert str(tmp_path) in str(info.value) and "m.int8.onnx" in str(info.value)
    assert not out.exists() and leftovers(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".quant-")]


def test_robustness_report_on_full_disk(tiny_run: Run, tmp_path: Path, full_disk: FullDisk) -> None:
    from engine.attacks.robustness import AttackJobConfig, run_attack

    cfg = AttackJobConfig(model=tiny_run.path, data=tiny_run.config().source, attack="fgsm", eps=[0.0, 0.1])
    first = run_attack(cfg)
    report = Path(first.folder) / "report.json"
    before = report.read_bytes()
    full_disk.arm()
    with pytest.raises(DiskFull) as info:
        run_attack(cfg)
    robustness = Path(first.folder).parent
    assert str(info.value).startswith(str(robustness)) and "needs" in str(info.value)
    assert report.read_bytes() == before and leftovers(robustness) == []


def test_predictions_csv_on_full_disk_cli(tmp_path: Path, full_disk: FullDisk, capsys: pytest.CaptureFixture) -> None:
    from reliability_helpers import write_images

    from engine.cli import main

    model = tmp_path / "m.onnx"
    onnx_classifier(model)
    images = write_images(tmp_path / "imgs", per_class=1)
    csv_path = tmp_path / "out" / "p.csv"
    assert main(["predict", str(model), str(images), "--csv", str(csv_path)]) == 0
    before = csv_path.read_bytes()
    full_disk.arm()
    assert main(["predict", str(model), str(images), "--csv", str(csv_path)]) == 2
    err = capsys.readouterr().err
    assert f"{csv_path.parent}: the disk is full" in err and "Errno" not in err and "Traceback" not in err
    assert csv_path.read_bytes() == before


def test_other_os_errors_are_not_called_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from engine.core import fsutil

    def eio(fd: int, data: bytes) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fsutil, "_write_fd", eio)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "x", b"1")
    assert not isinstance(info.value, UserError) and leftovers(tmp_path) == []
