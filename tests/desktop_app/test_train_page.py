"""Train page, driven as a user: pick a method, start, watch plots, pause, resume, stop, resume the run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from pydantic import Field
from PySide6.QtCore import Qt

from desktop_app.pages.train import TrainPage
from engine.methods.base import METHODS, Method, MethodConfig


def make_page(qtbot, state, engine_info) -> TrainPage:
    page = TrainPage(state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())  # never leave a worker behind
    page.resize(1300, 860)
    page.show()
    assert not page.start_button.isEnabled() and "loading" in page.start_reason.text().lower()
    page.engine_ready(engine_info)
    return page


def worker_waits_in_pause() -> bool:
    """True when some thread is blocked in JobControl.check(): the worker honours the pause."""
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_name == "check" and frame.f_code.co_filename.endswith(
                os.path.join("engine", "core", "control.py")
            ):
                return True
            frame = frame.f_back
    return False


def run_info(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def test_start_plots_pause_resume_stop_without_stalling_the_window(
    qtbot, demo_state, engine_info, heartbeat, error_calls
):
    page = make_page(qtbot, demo_state, engine_info)
    page.settings_panel.basic_form.set_values({"epochs": 60, "batch_size": 8, "lr": 0.003})
    assert page.start_button.isEnabled()
    heartbeat.start()
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.busy() and not page.start_button.isEnabled() and page.stop_button.isEnabled()
    qtbot.waitUntil(lambda: page.plots.curve_length("loss") >= 5, timeout=60_000)  # step points on screen
    assert page.plots.curve_length("lr") >= 5
    assert set(page.plots.groups()) >= {"Loss", "Accuracy", "Learning rate"}
    assert page.progress.maximum() == page.total_steps > 0 and page.progress.value() > 0
    assert "ETA" in page.eta_label.text()

    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    assert page.pause_button.text() == "Resume"
    qtbot.waitUntil(worker_waits_in_pause, timeout=60_000)  # the step in flight has landed
    qtbot.wait(150)  # its events are drained
    frozen = page.progress.value()
    qtbot.wait(800)
    assert page.progress.value() == frozen and page.busy()
    assert page.eta_label.text() == "Paused." and "Paused (the job waits" in page.log.toPlainText()
    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.progress.value() > frozen, timeout=30_000)

    qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy(), timeout=60_000)
    stall = heartbeat.stop()
    print(f"longest event-loop stall during training: {stall * 1000:.0f} ms over {heartbeat.ticks} heartbeats")
    assert error_calls == []
    assert run_info(page.run_dir)["status"] == "stopped"
    assert (Path(page.run_dir) / "checkpoints" / "last.pt").is_file()
    assert demo_state.run_dir == page.run_dir
    assert "resume" in page.log.toPlainText().lower()
    assert page.start_button.isEnabled()
    assert stall < 0.25, f"the event loop stalled {stall * 1000:.0f} ms during training"


def test_a_stopped_run_resumes_and_becomes_the_current_run(qtbot, demo_state, engine_info, error_calls):
    page = make_page(qtbot, demo_state, engine_info)
    page.settings_panel.basic_form.set_values({"epochs": 2, "batch_size": 32})
    page.start()
    qtbot.waitUntil(lambda: page.plots.curve_length("val/acc", epoch=True) >= 1, timeout=60_000)  # epoch 1 done
    page.stop()
    qtbot.waitUntil(lambda: not page.busy() and page.start_button.isEnabled(), timeout=60_000)
    stopped = page.run_dir
    assert Path(stopped).parent == demo_state.runs_dir
    assert run_info(stopped)["status"] == "stopped"

    assert page.continue_button.isVisible() and page.continue_button.isEnabled()  # Start would begin a new run

    updates: list[int] = []
    demo_state.runs_updated.connect(lambda: updates.append(1))
    with qtbot.waitSignal(demo_state.run_changed, timeout=60_000) as changed:  # Continue (and the Runs page) resume
        qtbot.mouseClick(page.continue_button, Qt.MouseButton.LeftButton)
    assert changed.args[0] == stopped == demo_state.run_dir and updates
    assert not page.continue_button.isVisible()  # the run finished: nothing left to continue
    assert run_info(stopped)["status"] == "finished" and run_info(stopped)["epoch"] == 2
    assert "Resuming" in page.log.toPlainText()
    qtbot.waitUntil(lambda: page.plots.curve_length("val/acc", epoch=True) == 2, timeout=5_000)  # epoch 1 reloaded
    assert page.progress.value() == page.progress.maximum()
    assert error_calls == []

    # a start refused for bad input keeps the last curves and leaves no failed run directory
    runs = sorted(demo_state.runs_dir.iterdir())
    page.settings_panel.basic_form.set_values({"device": "cuda"})  # tests hide every GPU
    page.start()
    qtbot.waitUntil(lambda: len(error_calls) == 1, timeout=60_000)
    qtbot.waitUntil(lambda: page.start_button.isEnabled(), timeout=10_000)
    assert "cuda" in error_calls[0][0]
    assert page.plots.curve_length("val/acc", epoch=True) == 2
    assert sorted(demo_state.runs_dir.iterdir()) == runs


def test_bad_value_is_flagged_inline_and_disables_start(qtbot, demo_state, engine_info):
    page = make_page(qtbot, demo_state, engine_info)
    assert page.start_button.isEnabled()
    page.settings_panel.basic_form.editor("lr").setValue(0)
    assert not page.start_button.isEnabled()
    assert "greater than 0" in page.settings_panel.basic_form.errors()["lr"]
    assert "red" in page.start_reason.text()
    assert not page.start()  # Ctrl+R goes through start(): refused too
    page.settings_panel.basic_form.editor("lr").setValue(0.01)
    assert page.start_button.isEnabled()
    page.set_method("dann")
    page.settings_panel.method_form.editor("gamma").setValue(0)  # gt=0 in the method's own config class
    assert not page.start_button.isEnabled()
    assert "greater than 0" in page.settings_panel.method_form.errors()["gamma"]


def test_methods_and_their_forms_come_from_the_registry(qtbot, demo_state, engine_info, monkeypatch):
    class PlainConfig(MethodConfig):
        mixing: float = Field(0.25, ge=0, le=1, description="How much of the new thing to mix in.")

    class Plain(Method):
        name = "plain_test_method"
        label = "Plain (test)"
        summary = "A method registered by the test only."
        Config = PlainConfig

    monkeypatch.setitem(METHODS, Plain.name, Plain)
    page = make_page(qtbot, demo_state, engine_info)
    names = [page.settings_panel.method_combo.itemData(i) for i in range(page.settings_panel.method_combo.count())]
    assert {"finetune", "dann", Plain.name} <= set(names)
    page.set_method(Plain.name)
    assert page.settings_panel.method_summary.text().endswith(Plain.summary)
    assert "mixing" in page.settings_panel.method_form.field_names()
    assert page.settings_panel.method_form.editor("mixing").toolTip() == "How much of the new thing to mix in."
    page.set_method("dann")
    assert (
        "disc_hidden" in page.settings_panel.method_form.field_names()
        and "mixing" not in page.settings_panel.method_form.field_names()
    )
    for form in (page.settings_panel.basic_form, page.settings_panel.advanced_form, page.settings_panel.method_form):
        for name in form.field_names():
            assert form.editor(name).toolTip(), f"{name} has no tooltip"


def test_missing_pretrained_weights_show_the_engine_message_inline(qtbot, demo_state, engine_info):
    from engine.models.backbones import get_backbone_spec
    from engine.models.weights import missing_message

    page = make_page(qtbot, demo_state, engine_info)
    page.settings_panel.backbone.set_choice("resnet18", "pretrained")
    assert page.settings_panel.backbone.message.text() == missing_message(get_backbone_spec("resnet18"))
    assert not page.start_button.isEnabled()  # offline in tests: it cannot be downloaded
    page.settings_panel.backbone.set_choice("resnet18", "random")
    assert page.start_button.isEnabled()
    page.settings_panel.backbone.set_choice("small_cnn", "/no/such/weights.pth")
    assert page.settings_panel.backbone.weights() == "/no/such/weights.pth"
    assert "not found" in page.settings_panel.backbone.message.text() and not page.start_button.isEnabled()


def test_an_engine_error_becomes_a_dialog(qtbot, demo_state, engine_info, error_calls):
    page = make_page(qtbot, demo_state, engine_info)
    page.settings_panel.basic_form.set_values({"device": "cuda", "epochs": 1})  # tests hide every GPU
    page.start()
    qtbot.waitUntil(lambda: len(error_calls) == 1, timeout=60_000)
    assert "cuda" in error_calls[0][0] and "auto" in error_calls[0][0]
    qtbot.waitUntil(lambda: page.start_button.isEnabled(), timeout=10_000)
    assert "Failed" in page.eta_label.text()


@pytest.mark.parametrize("seconds,text", [(5, "0:05"), (75, "1:15"), (3725, "1:02:05"), (float("nan"), "estimating…")])
def test_eta_format(seconds, text):
    from desktop_app.pages.train import format_eta

    assert format_eta(seconds) == text


def test_a_target_the_method_ignores_is_pointed_out(qtbot, demo_state, engine_info):
    """With a target folder chosen, a source-only method says the target is unused and names an
    adaptation method; choosing one (or clearing the target) removes the hint."""
    page = make_page(qtbot, demo_state, engine_info)
    panel = page.settings_panel
    page.set_method("finetune")
    assert panel.target_hint.isVisibleTo(page) and "Self-ensembling" in panel.target_hint.text()
    page.set_method("self_ensembling")
    assert not panel.target_hint.isVisibleTo(page)
    assert {"confidence", "teacher_decay", "ops_per_image"} <= set(panel.method_form.field_names())
    page.set_method("pgd_at")
    assert panel.target_hint.isVisibleTo(page)
    demo_state.set_folders(demo_state.source, "", "")
    assert not panel.target_hint.isVisibleTo(page)


def test_choosing_a_method_shows_its_own_backbone_and_a_hand_chosen_one_stays(qtbot, demo_state, engine_info):
    """Self-ensembling's default backbone is small_cnn_gap, the others' small_cnn: the picker
    follows the method while it shows the previous method's default, and a run starts on it."""
    page = make_page(qtbot, demo_state, engine_info)
    panel = page.settings_panel
    page.set_method("dann")
    panel.backbone.set_choice("small_cnn", "auto")
    page.set_method("self_ensembling")
    assert panel.backbone.backbone() == "small_cnn_gap" and not panel.backbone_hint.isVisibleTo(page)
    assert panel.build_config().backbone == "small_cnn_gap"
    page.set_method("mcc")
    assert panel.backbone.backbone() == "small_cnn"
    panel.backbone.set_choice("tiny_cnn", "auto")  # chosen by hand: no method changes it
    page.set_method("self_ensembling")
    assert panel.backbone.backbone() == "tiny_cnn" and panel.build_config().backbone == "tiny_cnn"


def test_a_method_points_to_a_better_backbone_and_one_click_switches(qtbot, demo_state, engine_info):
    """Self-ensembling on small_cnn chosen by hand says small_cnn_gap did better with it, and the
    link switches the backbone; on small_cnn_gap, or with another method, there is no hint."""
    page = make_page(qtbot, demo_state, engine_info)
    panel = page.settings_panel
    page.set_method("dann")
    panel.backbone.set_choice("small_cnn", "auto")
    assert not panel.backbone_hint.isVisibleTo(page)
    page.set_method("self_ensembling")
    panel.backbone.set_choice("small_cnn", "auto")
    assert panel.backbone_hint.isVisibleTo(page) and "small_cnn_gap" in panel.backbone_hint.text()
    panel.backbone_hint.linkActivated.emit("small_cnn_gap")  # the user clicks "Use small_cnn_gap"
    assert panel.backbone.backbone() == "small_cnn_gap"
    assert not panel.backbone_hint.isVisibleTo(page)
    assert panel.build_config().backbone == "small_cnn_gap" and panel.build_config().method == "self_ensembling"
