"""The settings form built from a pydantic model: editors by type, bounds, tooltips, inline validation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from desktop_app.widgets.config_form import ConfigForm, field_label
from engine.core.config import TrainConfig


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(10, ge=1, le=100, description="How many steps.")
    rate: float = Field(0.01, gt=0, le=1, description="Step size.")
    share: float = Field(0.5, ge=0, lt=1, description="A share below one.")
    mode: Literal["fast", "slow"] = Field("fast", description="Which mode.")
    flag: bool = Field(True, description="A switch.")
    size: int | None = Field(None, ge=8, description="Optional size.")
    folder: Path = Field(Path("out"), description="Output folder.")
    weights: list[float] = Field([1.0, 2.0], min_length=1, description="Weights.")
    low: int = Field(1, ge=0, description="Low end.")
    high: int = Field(5, ge=0, description="High end.")

    @model_validator(mode="after")
    def _order(self) -> Sample:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


def test_editors_follow_types_bounds_and_descriptions(qtbot):
    form = ConfigForm(Sample)
    qtbot.addWidget(form)
    assert isinstance(form.editor("steps"), QSpinBox)
    assert (form.editor("steps").minimum(), form.editor("steps").maximum()) == (1, 100)
    assert isinstance(form.editor("rate"), QDoubleSpinBox)
    assert form.editor("rate").maximum() == 1.0
    assert isinstance(form.editor("mode"), QComboBox)
    assert [form.editor("mode").itemText(i) for i in range(2)] == ["fast", "slow"]
    assert isinstance(form.editor("flag"), QCheckBox)
    assert isinstance(form.editor("folder"), QLineEdit)
    for name, info in Sample.model_fields.items():
        assert info.description in form.editor(name).toolTip(), name
    assert form.values() == {
        "steps": 10,
        "rate": 0.01,
        "share": 0.5,
        "mode": "fast",
        "flag": True,
        "size": None,
        "folder": "out",
        "weights": [1.0, 2.0],
        "low": 1,
        "high": 5,
    }
    assert form.is_valid()


def test_set_values_round_trip_and_optional_default(qtbot):
    form = ConfigForm(Sample)
    qtbot.addWidget(form)
    form.set_values(
        {"steps": 42, "rate": 1e-5, "mode": "slow", "flag": False, "size": 64, "folder": "/tmp/x", "weights": [0.5]}
    )
    values = form.values()
    assert values["steps"] == 42 and values["rate"] == 1e-5 and values["mode"] == "slow" and values["flag"] is False
    assert values["size"] == 64 and values["folder"] == "/tmp/x" and values["weights"] == [0.5]
    assert form.editor("rate").text() == "1e-05"  # not 0.000010000000
    form.set_values({"size": None})
    assert form.values()["size"] is None
    assert form.editor("size").text() == "(default)"


def test_bad_values_are_flagged_inline_with_the_pydantic_message(qtbot):
    form = ConfigForm(Sample)
    qtbot.addWidget(form)
    seen: list[bool] = []
    form.valid_changed.connect(seen.append)
    form.editor("rate").setValue(0.0)  # gt=0: the spin box allows the bound so the message can show
    assert not form.is_valid() and seen == [False]
    assert "greater than 0" in form.errors()["rate"]
    label = form._errors_labels["rate"]
    assert label.isVisibleTo(form) and "greater than 0" in label.text()
    base = QPalette.ColorRole.Base
    assert form.editor("rate").palette().color(base) != form.editor("steps").palette().color(base)  # painted red
    form.editor("rate").setValue(0.1)
    assert form.is_valid() and seen == [False, True]
    assert not label.isVisibleTo(form)
    form.editor("share").setValue(1.0)  # lt=1
    assert "less than 1" in form.errors()["share"]
    form.editor("share").setValue(0.2)
    form.editor("weights").setText("0.5, x")
    assert "weights" in form.errors()
    form.editor("weights").setText("0.5, 2")
    assert form.values()["weights"] == [0.5, 2] and form.is_valid()


def test_model_level_errors_show_under_the_form(qtbot):
    form = ConfigForm(Sample)
    qtbot.addWidget(form)
    form.set_values({"low": 9, "high": 2})
    assert not form.is_valid()
    assert "low must not exceed high" in form.general_error.text()
    assert form.general_error.isVisibleTo(form)


def test_train_config_form_uses_base_values_and_labels(qtbot):
    form = ConfigForm(
        TrainConfig,
        fields=["epochs", "lr", "image_size", "device"],
        base_values={"source": "."},
        labels={"lr": "Learning rate"},
    )
    qtbot.addWidget(form)
    assert form.field_names() == ["epochs", "lr", "image_size", "device"]
    assert form.is_valid()
    assert form.values()["image_size"] is None
    assert field_label("ema_decay") == "EMA decay"
    form.editor("lr").setValue(0)
    assert form.errors() == {"lr": "Input should be greater than 0"}
