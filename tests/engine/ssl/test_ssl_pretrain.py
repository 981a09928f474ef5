"""The pretraining job (SimCLR, BYOL): run directory, events, kNN monitor, stop/resume, and the
hand-off of the pretrained backbone to training through `weights = RUN_DIR`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.core.config import TrainConfig, validate
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Collector, EpochEnd, Finished, Progress, Started
from engine.data.demo import DemoPaths
from engine.models.classifier import build_model
from engine.ssl.config import PretrainConfig
from engine.ssl.pretrain import run_pretrain
from engine.ssl.run_io import is_pretrain_run, read_pretrained_backbone
from engine.training.checkpoints import load_checkpoint
from engine.training.trainer import run_train


def _config(demo: DemoPaths, tmp_path: Path, **kw: object) -> PretrainConfig:
    base: dict[str, object] = dict(
        data=str(demo.target_train), epochs=2, batch_size=16, runs_dir=tmp_path / "runs", knn_data=demo.target_test
    )
    base.update(kw)
    return PretrainConfig.model_validate(base)


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_pretraining_run_writes_a_run_and_reports(tiny_demo: DemoPaths, tmp_path: Path, method: str) -> None:
    events = Collector()
    report = run_pretrain(_config(tiny_demo, tmp_path, method=method), events)
    assert report.status == "finished" and report.epochs_done == 2
    assert isinstance(events.events[0], Started) and isinstance(events.events[-1], Finished)
    steps = events.of(Progress)
    assert steps and all(torch.isfinite(torch.tensor(e.metrics["loss"])) for e in steps)
    epochs = events.of(EpochEnd)
    assert [e.epoch for e in epochs] == [1, 2]
    assert all(0.0 <= e.metrics["knn/acc"] <= 1.0 for e in epochs)
    assert is_pretrain_run(report.run_dir)
    info = (report.run_dir / "run.json").read_text()
    assert '"kind": "pretrain"' in info and '"status": "finished"' in info
    ckpt = load_checkpoint(report.run_dir / "checkpoints" / "last.pt")
    assert ckpt["kind"] == "pretrain" and ckpt["backbone_name"] == "small_cnn" and ckpt["input_size"] == 32
    assert bool(ckpt["target"]) == (method == "byol")


def test_pretraining_changes_the_backbone_and_separates_views(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    """SimCLR on a tiny folder: the NT-Xent loss falls well below its value at random init.
    (small_cnn_gap: the flatten head's dropout makes the loss on 50 images fall too slowly for a
    short test; the machinery measured is the same.)"""
    events = Collector()
    cfg = _config(tiny_demo, tmp_path, epochs=12, knn_data=None, lr=4e-3, backbone="small_cnn_gap")
    run_pretrain(cfg, events)
    losses = [e.metrics["train/loss"] for e in events.of(EpochEnd)]
    assert losses[-1] < losses[0] - 0.3, losses


def test_stop_and_resume_match_an_uninterrupted_run(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    cfg = _config(tiny_demo, tmp_path, method="byol", epochs=2, knn_data=None)
    straight = run_pretrain(cfg.model_copy(update={"name": "straight"}))

    class StopAfter(JobControl):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        def check(self) -> None:
            self.n -= 1
            if self.n < 0:
                self.stop()
            super().check()

    stopped = run_pretrain(cfg.model_copy(update={"name": "stopped"}), control=StopAfter(3))
    assert stopped.status == "stopped" and stopped.epochs_done == 0
    resumed = run_pretrain(resume=stopped.run_dir)
    assert resumed.status == "finished" and resumed.epochs_done == 2
    a = load_checkpoint(straight.run_dir / "checkpoints" / "last.pt")["backbone"]
    b = load_checkpoint(resumed.run_dir / "checkpoints" / "last.pt")["backbone"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


def test_weights_hand_off_loads_the_pretrained_backbone(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    report = run_pretrain(_config(tiny_demo, tmp_path, epochs=1, knn_data=None))
    state, info = read_pretrained_backbone(report.run_dir)
    assert info["backbone"] == "small_cnn"
    model = build_model("small_cnn", 10, weights=str(report.run_dir))
    assert model.pretrained
    own = model.backbone.state_dict()
    assert set(own) == set(state)
    for key, tensor in state.items():
        assert torch.equal(own[key], tensor), key
    fresh = build_model("small_cnn", 10, weights="random")
    assert not torch.equal(fresh.backbone.state_dict()["block1.0.weight"], state["block1.0.weight"])

    # through the trainer too: a fine-tuning run started from the pretraining run
    result = run_train(
        TrainConfig(
            source=tiny_demo.source, epochs=1, batch_size=32, weights=str(report.run_dir), runs_dir=tmp_path / "ft"
        )
    )
    assert result.status == "finished"


def test_weights_hand_off_refuses_other_backbones_and_plain_folders(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    report = run_pretrain(_config(tiny_demo, tmp_path, epochs=1, knn_data=None))
    with pytest.raises(UserError, match="pretrained backbone 'small_cnn'"):
        build_model("resnet18", 10, weights=str(report.run_dir))
    with pytest.raises(UserError, match="not a pretraining run"):
        build_model("small_cnn", 10, weights=str(tiny_demo.source))


def test_bad_pretraining_input_is_named(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "one"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "a.png")
    with pytest.raises(UserError, match="at least 2"):
        run_pretrain(PretrainConfig(data=[folder], epochs=1, runs_dir=tmp_path / "runs"))
    with pytest.raises(UserError, match="field 'data'"):
        validate(PretrainConfig, {"data": [], "runs_dir": str(tmp_path)})


def test_cli_pretrain_then_train_from_it(tiny_demo: DemoPaths, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from engine.cli import main

    runs = tmp_path / "runs"
    args = ["pretrain", "--data", str(tiny_demo.target_train), "--data", str(tiny_demo.source), "--method", "byol"]
    assert (
        main([*args, "--epochs", "1", "--batch-size", "32", "--runs-dir", str(runs), "--name", "ssl", "--quiet"]) == 0
    )
    assert "use it: transfer-studio train" in capsys.readouterr().out
    run = runs / "ssl"
    assert is_pretrain_run(run)
    train = ["train", "--source", str(tiny_demo.source), "--epochs", "1", "--weights", str(run), "--quiet"]
    assert main([*train, "--runs-dir", str(tmp_path / "ft")]) == 0
    assert main(["pretrain", "--resume", str(run), "--quiet"]) == 0  # finished: nothing left to do
    assert main(["pretrain", "--data", str(tmp_path / "missing"), "--runs-dir", str(runs)]) == 2


def test_commands_for_trained_runs_explain_a_pretraining_run(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    from engine.core.runs import load_run_model

    report = run_pretrain(_config(tiny_demo, tmp_path, epochs=1, knn_data=None))
    with pytest.raises(UserError, match=r"a pretraining run .* has no classifier"):
        load_run_model(report.run_dir)
    with pytest.raises(UserError, match="pretraining run"):
        run_train(resume=report.run_dir)


def test_pretraining_encoder_trains_with_the_heads_dropout_off() -> None:
    """small_cnn's flatten head has dropout; in pretraining the two views of an image must not get
    independent dropout masks: in train mode the same batch gives the same features twice."""
    from engine.models.backbones import get_backbone_spec
    from engine.ssl.heads import Encoder

    spec = get_backbone_spec("small_cnn")
    full, extract = spec.build()
    bb = extract(full)
    encoder = Encoder(bb.module, bb.dim, spec.mean, spec.std, hidden=32, out=16).train()
    assert encoder.training and any(isinstance(m, torch.nn.Dropout) for m in encoder.modules())
    assert not any(m.training for m in encoder.modules() if isinstance(m, torch.nn.Dropout))
    x = torch.rand(8, 3, 32, 32)
    assert torch.equal(encoder.features(x), encoder.features(x))
