"""Issue 10, point 1: a form built from a config class can say "default" for every optional field.

The Train page's EMA decay once read 0 (weight averaging off for every run from the window) and
could not be emptied; these tests build every settings form the app shows and check that each
optional field starts at "default" (None), can be cleared back to it by the keyboard, and that the
window's default run config is the CLI's.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from PySide6.QtCore import Qt

from desktop_app.widgets.config_form import DEFAULT_TEXT, ConfigForm, default_of, unwrap_optional
from desktop_app.widgets.train_settings import TrainSettings
from engine.core.config import TrainConfig, load_config


def _config_classes() -> list[tuple[str, type[BaseModel], dict[str, Any]]]:
    """(name, class, base values) of every settings form: training, each method, each attack."""
    from engine.attacks import get_attack, list_attacks
    from engine.methods import list_methods

    out: list[tuple[str, type[BaseModel], dict[str, Any]]] = [("train", TrainConfig, {"source": "."})]
    out += [(f"method {m.name}", m.Config, {}) for m in list_methods()]
    out += [(f"attack {a}", get_attack(a).config_cls, {}) for a in list_attacks()]
    return out


def _optional_numbers(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, info in model.model_fields.items()
        if unwrap_optional(info.annotation)[1] and unwrap_optional(info.annotation)[0] in (int, float)
    ]


def test_every_optional_field_of_every_form_starts_at_default_and_can_be_cleared(qtbot, engine_info):
    checked = 0
    for label, model, base in _config_classes():
        form = ConfigForm(model, base_values=base)
        qtbot.addWidget(form)
        values = form.values()
        for name in form.field_names():
            info = model.model_fields[name]
            if unwrap_optional(info.annotation)[1] and default_of(info) is None:
                assert values[name] is None, f"{label}: optional field {name} reads {values[name]!r}, not default"
        for name in _optional_numbers(model):
            if name not in form.field_names():
                continue
            spin = form.editor(name)
            assert spin.text() == DEFAULT_TEXT, f"{label}.{name} shows {spin.text()!r}"
            spin.stepBy(1)  # the first real value: within the field's bounds, so valid
            assert form.values()[name] is not None and form.errors().get(name) is None, (label, name, form.errors())
            spin.stepBy(-1)  # and back to default, not to a value below the bound
            assert form.values()[name] is None, (label, name)
            spin.stepBy(1)
            spin.lineEdit().selectAll()  # a person clears the box with the keyboard
            qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Delete)
            spin.interpretText()
            assert form.values()[name] is None, f"{label}.{name} cannot be emptied"
            checked += 1
        form.deleteLater()
    assert checked >= 4  # ema_decay, image_size, PGD step_size, adversarial training step_size at least


def test_train_settings_default_run_config_is_the_clis(qtbot, demo_state, engine_info):
    panel = TrainSettings(demo_state)
    qtbot.addWidget(panel)
    panel.engine_ready()
    assert panel.advanced_form.editor("ema_decay").text() == DEFAULT_TEXT
    for method in ("finetune", "dann"):
        panel.set_method(method)
        window = panel.build_config()
        assert window.ema_decay is None  # so DANN averages its weights with 0.99, as on the command line
        cli = load_config(
            TrainConfig,
            None,
            {
                "source": demo_state.source,
                "target": demo_state.target,
                "target_test": demo_state.target_test,
                "method": method,
                "runs_dir": str(demo_state.runs_dir),
            },
        )
        ours, theirs = window.model_dump(), cli.model_dump()
        ours.pop("method_options"), theirs.pop("method_options")
        assert ours == theirs, {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
        from engine.methods.base import method_config

        assert method_config(method, window.method_options) == method_config(method, {})


def test_a_zero_saved_by_the_old_form_is_not_taken_for_a_choice(qtbot, demo_state, engine_info):
    """Settings saved before the fix hold ema_decay 0.0 that nobody chose: read as default."""
    demo_state.settings.setValue("train/advanced", '{"ema_decay": 0.0, "seed": 3}')
    panel = TrainSettings(demo_state)
    qtbot.addWidget(panel)
    panel.engine_ready()
    assert panel.build_config().ema_decay is None
    assert panel.build_config().seed == 3
    panel.advanced_form.set_values({"ema_decay": 0.0})  # chosen now: kept, saved and restored
    panel.save()
    again = TrainSettings(demo_state)
    qtbot.addWidget(again)
    again.engine_ready()
    assert again.build_config().ema_decay == 0.0


@pytest.mark.parametrize("value", [0.5, 0.999])
def test_optional_float_round_trips(qtbot, value):
    form = ConfigForm(TrainConfig, fields=["ema_decay"], base_values={"source": "."})
    qtbot.addWidget(form)
    form.set_values({"ema_decay": value})
    assert form.values()["ema_decay"] == value
    form.set_values({"ema_decay": None})
    assert form.values()["ema_decay"] is None
