"""Point 8: an unknown TOML key names the key and the closest valid one (CLI and window), and a
saved config.toml holds absolute paths, so `train --config RUN/config.toml` works from anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.core.config import TrainConfig, load_config, read_toml, validate
from engine.core.errors import UserError
from engine.core.runs import create_run, open_run
from engine.data.demo import DemoPaths


def test_cli_unknown_key_suggests_the_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "train.toml"
    cfg.write_text('source = "x"\nepoch = 3\n[method_options]\nfreez = 1\n')
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: unknown key 'epoch': did you mean 'epochs'?" in err
    assert "Traceback" not in err


def test_unknown_key_far_from_any_lists_the_valid_ones() -> None:
    with pytest.raises(UserError, match=r"unknown key 'zzz'\. Valid keys: source, target, target_test, method"):
        validate(TrainConfig, {"source": "x", "zzz": 1})


def test_window_gets_the_same_message(tmp_path: Path) -> None:
    """The window validates with the same engine call (Train page settings, Runs page resume)."""
    run = create_run(TrainConfig(source=tmp_path, runs_dir=tmp_path / "runs", name="r"))
    run.config_path.write_text("lr_rate = 0.1\n" + run.config_path.read_text())  # a typo at the top
    with pytest.raises(UserError, match=r"unknown key 'lr_rate': did you mean 'lr'\?"):
        open_run(run.path).config()
    with pytest.raises(UserError, match=r"training settings: unknown key 'batchsize': did you mean 'batch_size'\?"):
        validate(TrainConfig, {"source": "x", "batchsize": 4}, "training settings")


def test_saved_config_repeats_the_run_from_another_folder(
    tiny_demo: DemoPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    here = tmp_path / "project"
    here.mkdir()
    os.symlink(tiny_demo.source, here / "digits")  # a relative path given by the user
    monkeypatch.chdir(here)
    assert (
        main(["train", "--source", "digits", "--epochs", "1", "--runs-dir", "runs", "--name", "first", "--quiet"]) == 0
    )
    saved = read_toml(here / "runs" / "first" / "config.toml")
    assert saved["source"] == str(here / "digits") and saved["runs_dir"] == str(here / "runs")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = "../project/runs/first/config.toml"
    assert load_config(TrainConfig, config, {}).source == here / "digits"
    assert main(["train", "--config", config, "--name", "again", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(finished, 1 epochs" in out
    assert (here / "runs" / "again" / "checkpoints" / "last.pt").is_file()  # the same runs folder
