"""Point 1: a checkpoint or weights file carrying a pickle payload is refused in one line, never run.

Each payload would create a marker file if it were unpickled; the tests assert the refusal text
(file, first global, 'not loaded', what a valid file is, no advice to lower the protection), exit
code 2 in the CLI, and that the marker file does not exist.
"""

from __future__ import annotations

import builtins
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.cli import main
from engine.core.errors import UnsafeFile
from engine.core.runs import Run, load_run_model
from engine.models.weights import read_state_dict
from engine.training.checkpoints import load_checkpoint


class Payload:
    """Unpickling this calls open(marker, 'w'): it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (builtins.open, (str(self.marker), "w"))


def plant(path: Path, marker: Path) -> Path:
    """A torch file whose 'model' entry is the payload, next to real tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"w": torch.zeros(2)}, "evil": Payload(marker), "classes": ["a"]}, path)
    return path


def assert_refusal(text: str, path: Path, marker: Path) -> None:
    line = text.strip().splitlines()[-1]
    assert str(path) in line
    assert "other than tensors" in line and "'io.open'" in line  # builtins.open pickles as io.open
    assert "was not loaded" in line and "A valid file is" in line
    assert "weights_only" not in text and "False" not in text and "trusted" not in text
    assert not marker.exists(), "the payload ran"


def test_the_payload_is_real(tmp_path: Path) -> None:
    """Control: unpickled without protection, the payload does create its marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize(
    ("name", "read", "valid"),
    [("last.pt", load_checkpoint, "A valid file is"), ("weights.pth", read_state_dict, "state_dict")],
)
def test_checkpoint_and_weights_files_are_refused_naming_the_global(
    tmp_path: Path, name: str, read: Callable[[Path], object], valid: str
) -> None:
    """One line that names the file and the global, says what a valid file is; the payload never runs."""
    marker = tmp_path / "pwned"
    path = plant(tmp_path / name, marker)
    with pytest.raises(UnsafeFile) as info:
        read(path)
    assert_refusal(str(info.value), path, marker)
    assert len(str(info.value).splitlines()) == 1 and valid in str(info.value)


def _tamper(run: Run, which: str, marker: Path) -> Path:
    return plant(run.checkpoint(which), marker)


@pytest.mark.parametrize("command", ["evaluate", "export", "attack", "resume"])
def test_cli_refuses_tampered_run_checkpoints_with_exit_2(
    tiny_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    marker = tmp_path / f"pwned-{command}"
    which = "last" if command == "resume" else "best"
    path = _tamper(tiny_run, which, marker)
    data = str(tiny_run.config().source)
    argv = {
        "evaluate": ["evaluate", str(tiny_run.path), "--data", data],
        "export": ["export", str(tiny_run.path)],
        "attack": ["attack", str(tiny_run.path), "--data", data, "--attack", "fgsm", "--eps", "0,0.1"],
        "resume": ["train", "--resume", str(tiny_run.path), "--quiet"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    assert_refusal(err, path, marker)


def test_cli_refuses_tampered_weights_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reliability_helpers import write_images

    marker = tmp_path / "pwned"
    path = plant(tmp_path / "evil.pth", marker)
    data = write_images(tmp_path / "data")
    argv = ["train", "--source", str(data), "--weights", str(path), "--epochs", "1", "--runs-dir", str(tmp_path)]
    assert main([*argv, "--image-size", "8", "--quiet"]) == 2
    assert_refusal(capsys.readouterr().err, path, marker)


def test_load_run_model_refuses_before_building_anything(tiny_run: Run, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _tamper(tiny_run, "best", marker)
    with pytest.raises(UnsafeFile):
        load_run_model(tiny_run.path)
    assert not marker.exists()
