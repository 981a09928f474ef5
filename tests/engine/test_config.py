"""Configs: TOML round trip and errors that name the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.config import TrainConfig, load_config, read_toml, save_toml
from engine.core.errors import UserError
from engine.methods.base import method_config


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = TrainConfig(
        source=tmp_path / "src", runs_dir=tmp_path / "runs", epochs=3, method_options={"freeze_stages": 2}
    )
    save_toml(cfg, tmp_path / "run.toml")
    again = load_config(TrainConfig, tmp_path / "run.toml", {})
    assert again == cfg
    assert "target" not in read_toml(tmp_path / "run.toml")  # None values are left out


def test_flags_override_the_file(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text('source = "a"\nepochs = 3\n')
    cfg = load_config(TrainConfig, tmp_path / "run.toml", {"epochs": 7, "lr": None})
    assert cfg.epochs == 7 and cfg.lr == TrainConfig.model_fields["lr"].default


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"source": "a", "epochs": 0}, r"field 'epochs' = 0: Input should be greater than or equal to 1"),
        (
            {"source": "a", "augment": "extreme"},
            r"field 'augment' = 'extreme': Input should be 'none', 'light' or 'strong'",
        ),
        ({"source": "a", "learning_rate": 0.1}, r"unknown key 'learning_rate'"),
        ({"source": "a", "epoch": 3}, r"unknown key 'epoch': did you mean 'epochs'\?"),
        ({"epochs": 3}, r"field 'source'.*Field required"),
    ],
)
def test_bad_values_name_field_value_and_allowed(tmp_path: Path, data: dict, expected: str) -> None:
    import tomli_w

    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(UserError, match=expected) as info:
        load_config(TrainConfig, path, {})
    assert str(path) in str(info.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("epochs = = 3\n")
    with pytest.raises(UserError, match="not valid TOML"):
        read_toml(tmp_path / "broken.toml")
    with pytest.raises(UserError, match="config file not found"):
        read_toml(tmp_path / "nope.toml")


def test_method_options_are_validated_by_the_method() -> None:
    assert method_config("finetune", {"freeze_stages": 2}).freeze_stages == 2
    with pytest.raises(
        UserError, match=r"method_options \(finetune\): unknown key 'freez': did you mean 'freeze_stages'\?"
    ):
        method_config("finetune", {"freez": 1})
    with pytest.raises(UserError, match="method 'magic' is unknown"):
        method_config("magic", {})


def test_a_run_without_a_backbone_gets_its_methods_own(tmp_path: Path) -> None:
    """Self-ensembling's default backbone is small_cnn_gap (measured on the shift zoo), every other
    method's small_cnn; a backbone given in the file or a flag is kept, and saved, so resuming or
    repeating the run uses the same net."""
    from engine.methods import list_methods

    own = {m.name: TrainConfig(source=tmp_path, method=m.name).backbone for m in list_methods()}
    assert own.pop("self_ensembling") == "small_cnn_gap" and set(own.values()) == {"small_cnn"}
    assert TrainConfig(source=tmp_path).backbone == "small_cnn"
    flags = load_config(TrainConfig, None, {"source": str(tmp_path), "method": "self_ensembling", "backbone": None})
    assert flags.backbone == "small_cnn_gap"
    chosen = load_config(TrainConfig, None, {"source": "a", "method": "self_ensembling", "backbone": "tiny_cnn"})
    assert chosen.backbone == "tiny_cnn"
    save_toml(flags, tmp_path / "run.toml")
    assert read_toml(tmp_path / "run.toml")["backbone"] == "small_cnn_gap"
    assert load_config(TrainConfig, tmp_path / "run.toml", {"method": "dann"}).backbone == "small_cnn_gap"
