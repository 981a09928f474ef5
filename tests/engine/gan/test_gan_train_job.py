"""The GAN training job on tiny demo data: a real run directory, exact resume after a stop,
transfer with FreezeD and its refusals, and each bad input named in a UserError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Collector, EpochEnd, Log, Progress
from engine.gan.config import GanTrainConfig
from engine.gan.trainer import collapse_warning
from engine.jobs.gan_train import JOB
from engine.training.checkpoints import load_checkpoint

TINY = {"z_dim": 8, "g_width": 8, "d_width": 8, "batch_size": 8, "device": "cpu", "kid_samples": 16}


def _config(tmp_path: Path, data: Path, **kw: object) -> GanTrainConfig:
    return GanTrainConfig.model_validate({"data": data, "runs_dir": tmp_path / "runs", **TINY, **kw})


def test_run_directory_metrics_grid_and_exact_resume(tmp_path, tiny_demo):
    cfg = _config(
        tmp_path,
        tiny_demo.source,
        steps=6,
        sample_every=2,
        checkpoint_every=2,
        name="full",
        diffaugment="color,translation,cutout",
    )
    full = JOB.run(cfg)
    assert full.status == "finished" and full.steps_done == 6
    run = full.run_dir
    assert (run / "config.toml").is_file() and (run / "samples" / "latest.png").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6] and all("kid" in r and "d_loss" in r for r in rows)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    grid = Image.open(run / "samples" / "latest.png")
    assert grid.size == (8 * 34 + 2, 8 * 34 + 2)  # 8x8 tiles of 32 px with 2 px borders

    # stop after step 3 (from the event stream, like the Stop button), then resume to the end
    control = JobControl()

    def emit(event: object) -> None:
        if isinstance(event, Progress) and event.step == 3:
            control.stop()

    half = JOB.run(cfg.model_copy(update={"name": "half"}), emit, control)
    assert half.status == "stopped" and half.steps_done == 3
    assert load_checkpoint(half.run_dir / "checkpoints" / "last.pt")["step"] == 3
    events = Collector()
    resumed = JOB.run(GanTrainConfig(resume=half.run_dir), events)
    assert resumed.status == "finished" and resumed.steps_done == 6 and resumed.run_dir == half.run_dir
    assert any(isinstance(e, Log) and "resumed at step 3" in e.message for e in events.events)
    a = load_checkpoint(run / "checkpoints" / "last.pt")
    b = load_checkpoint(half.run_dir / "checkpoints" / "last.pt")
    for part in ("generator", "discriminator"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"
    assert resumed.kid_history[-1] == pytest.approx(full.kid_history[-1])


def test_transfer_with_freezed_and_its_refusals(tmp_path, tiny_demo):
    src = JOB.run(_config(tmp_path, tiny_demo.source, steps=2, sample_every=2, name="src", conditional=True))
    src_d = load_checkpoint(src.run_dir / "checkpoints" / "last.pt")["discriminator"]
    out = JOB.run(
        _config(
            tmp_path,
            tiny_demo.target_test,
            steps=3,
            sample_every=3,
            conditional=True,
            from_run=src.run_dir,
            freeze_d=2,
            diffaugment="color,translation",
            name="tgt",
        )
    )
    tgt_d = load_checkpoint(out.run_dir / "checkpoints" / "last.pt")["discriminator"]
    frozen = [k for k in src_d if k.startswith(("blocks.0.", "blocks.1."))]
    assert frozen and all(torch.equal(src_d[k], tgt_d[k]) for k in frozen)
    assert not torch.equal(
        src_d["blocks.2.conv2.parametrizations.weight.original"],
        tgt_d["blocks.2.conv2.parametrizations.weight.original"],
    )
    # a source of another image size, another class set, or unconditional into conditional
    with pytest.raises(UserError, match="32 px, but this run is 64 px"):
        JOB.run(_config(tmp_path, tiny_demo.target_test, from_run=src.run_dir, conditional=True, image_size=64))
    with pytest.raises(UserError, match="unconditional"):
        JOB.run(_config(tmp_path, tiny_demo.target_test, from_run=src.run_dir, steps=1))
    fewer = tmp_path / "three"
    for c in "012":
        (fewer / c).mkdir(parents=True)
        for p in sorted((tiny_demo.source / c).iterdir())[:4]:
            (fewer / c / p.name).write_bytes(p.read_bytes())
    with pytest.raises(UserError, match="same class set"):
        JOB.run(_config(tmp_path, fewer, from_run=src.run_dir, conditional=True, steps=1))
    with pytest.raises(UserError, match="not a GAN run"):
        JOB.run(_config(tmp_path, tiny_demo.source, from_run=tiny_demo.source, steps=1))


def test_bad_input_is_named(tmp_path, tiny_demo):
    with pytest.raises(UserError, match=r"fewer than the batch size 64.*--batch-size"):
        JOB.run(_config(tmp_path, tiny_demo.target_test, batch_size=64))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(8):
        Image.new("RGB", (32, 32) if i % 2 else (48, 40), (i * 20, 0, 0)).save(mixed / f"{i}.png")
    with pytest.raises(UserError, match=r"2 different sizes.*--resize-mixed"):
        JOB.run(_config(tmp_path, mixed, steps=1))
    assert JOB.run(_config(tmp_path, mixed, steps=1, resize_mixed=True)).status == "finished"
    with pytest.raises(UserError, match="class sub-folders"):
        JOB.run(_config(tmp_path, mixed, conditional=True))
    with pytest.raises(UserError, match="needs a GAN run to transfer from"):
        JOB.run(_config(tmp_path, tiny_demo.source, freeze_d=1))
    with pytest.raises(UserError, match="diffaugment"):
        JOB.parse({"data": str(mixed), "diffaugment": "colour"})
    with pytest.raises(UserError, match="image_size"):
        JOB.parse({"data": str(mixed), "image_size": 48})


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_demo, monkeypatch):
    import engine.gan.trainer as trainer_module

    real_loss = trainer_module.d_loss
    calls = {"n": 0}

    def flaky(name, real, fake):  # finite for 4 steps, then NaN
        calls["n"] += 1
        out = real_loss(name, real, fake)
        return out * float("nan") if calls["n"] > 4 else out

    monkeypatch.setattr(trainer_module, "d_loss", flaky)
    cfg = _config(tmp_path, tiny_demo.source, steps=8, sample_every=4, checkpoint_every=2, kid_every=0, name="nan")
    with pytest.raises(UserError, match=r"discriminator loss became nan at step 5.*last good checkpoint"):
        JOB.run(cfg)
    run = tmp_path / "runs" / "nan"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


def test_collapse_warning_needs_pinned_d_and_rising_kid():
    assert collapse_warning([0.1, 0.2, 0.3], 0.995, 300) is not None
    assert "mode collapse" in (collapse_warning([0.05, 0.1, 0.2, 0.3], 1.0, 400) or "")
    assert collapse_warning([0.1, 0.2, 0.3], 0.8, 300) is None  # D not pinned
    assert collapse_warning([0.3, 0.2, 0.25], 1.0, 300) is None  # KID not rising
    assert collapse_warning([0.1, 0.2], 1.0, 300) is None


def test_collapse_is_warned_in_the_log_while_training(tmp_path, tiny_demo, monkeypatch):
    import engine.gan.trainer as trainer_module

    kids = iter([0.1, 0.2, 0.4, 0.8])
    monkeypatch.setattr(trainer_module.GanTrainer, "measure_kid", lambda self: next(kids))
    monkeypatch.setattr(trainer_module.GanTrainer, "train_step", lambda self: _pinned(self))
    events = Collector()
    report = JOB.run(_config(tmp_path, tiny_demo.source, steps=4, sample_every=1), events)
    warns = [e for e in events.of(Log) if e.level == "warning"]
    assert warns and "mode collapse" in warns[0].message and report.warnings
    assert [e.metrics["kid"] for e in events.of(EpochEnd)] == [0.1, 0.2, 0.4, 0.8]


def _pinned(trainer: object) -> dict[str, float]:
    trainer.step += 1  # type: ignore[attr-defined]
    return {"g_loss": 3.0, "d_loss": 0.0, "d_real": 2.0, "d_fake": -3.0, "fake_rejected": 1.0}
