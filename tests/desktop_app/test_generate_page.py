"""Generate page, driven like a user: train a conditional GAN and watch the live grid and plots,
transfer it with FreezeD + DiffAugment, save samples per class, export, pause, stop, and bad input;
translate the source (live pairs, Pause, Stop, Resume translation, CUT loss)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from PySide6.QtCore import Qt

from desktop_app.pages.generate import GeneratePage

TIMEOUT_MS = 240_000
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def page(pages_open, demo_state):
    return pages_open(GeneratePage, demo_state, (1100, 800))


def _train(qtbot, page: GeneratePage) -> object:
    with qtbot.waitSignal(page.trained, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.run_button, LEFT)
    return blocker.args[0]


def test_train_watch_transfer_sample_export(qtbot, page, demo_state, tiny_demo, error_calls, tmp_path):
    assert page.data_edit.text() == demo_state.source and page.source.currentData() == ""
    assert not page.freeze_d.isEnabled() and not page.sample_button.isEnabled()
    page.conditional.setChecked(True)
    page.steps.setValue(4)
    page.batch.setValue(8)
    page.sample_every.setValue(2)
    report = _train(qtbot, page)
    assert error_calls == [] and report.status == "finished" and report.steps_done == 4
    run = Path(report.run_dir)
    assert run.parent == demo_state.runs_dir and (run / "samples" / "latest.png").is_file()
    assert page.grid.pixmap() is not None and not page.grid.pixmap().isNull()
    qtbot.waitUntil(lambda: page.plots.curve_length("loss/G") == 4, timeout=5000)
    assert page.plots.curve_length("D(fake)") == 4 and page.plots.curve_length("kid", epoch=True) == 2
    assert "Finished: 4 steps, KID" in page.status.text()

    # transfer the run to the (labelled) target test images with FreezeD and DiffAugment
    assert page.source.findData(str(run)) > 0
    page.source.setCurrentIndex(page.source.findData(str(run)))
    assert page.freeze_d.isEnabled()
    page.freeze_d.setValue(2)
    page.augment["color"].setChecked(True)
    page.augment["translation"].setChecked(True)
    page.data_edit.setText(str(tiny_demo.target_test))
    second = _train(qtbot, page)
    saved = tomllib.loads((Path(second.run_dir) / "config.toml").read_text())
    assert saved["from_run"] == str(run) and saved["freeze_d"] == 2 and saved["diffaugment"] == "color,translation"

    # save samples per class, then export
    assert page.sample_button.isEnabled()
    out = tmp_path / "samples"
    page.n_samples.setValue(2)
    page.per_class.setChecked(True)
    page.sample_out.setText(str(out))
    with qtbot.waitSignal(page.sampled, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.sample_button, LEFT)
    assert sum(1 for _ in out.rglob("*.png")) == 20 and "Wrote 20 images" in page.tools_status.text()
    page.export_out.setText(str(tmp_path / "G.onnx"))
    with qtbot.waitSignal(page.exported, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.export_button, LEFT)
    assert blocker.args[0].passed and "parity passed" in page.tools_status.text()
    assert error_calls == []


def test_stop_and_bad_input(qtbot, page, tiny_demo, error_calls):
    page.steps.setValue(100_000)
    page.batch.setValue(8)
    with qtbot.waitSignal(page.runner.events, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.run_button, LEFT)
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=TIMEOUT_MS)
    assert not page.batch.isEnabled()
    qtbot.mouseClick(page.pause_button, LEFT)  # GAN training pauses too, and a paused run can be stopped
    assert page.runner.paused and page.pause_button.text() == "Resume"
    with qtbot.waitSignal(page.trained, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.stop_button, LEFT)
    assert blocker.args[0].status == "stopped" and page.batch.isEnabled()
    assert page.pause_button.text() == "Pause" and not page.pause_button.isEnabled()
    assert error_calls == []

    page.data_edit.setText(str(tiny_demo.target_test))  # 20 images
    page.batch.setValue(64)
    with qtbot.waitSignal(page.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.run_button, LEFT)
    assert "fewer than the batch size 64" in error_calls[-1][0]
    page.data_edit.setText("")
    qtbot.mouseClick(page.run_button, LEFT)
    assert "Choose a folder" in error_calls[-1][0]


def test_translate_stop_resume_and_live_pairs(qtbot, page, demo_state, error_calls, tmp_path):
    """Translating: the live grid keeps changing, Pause holds the steps until clicked again, Stop
    keeps a checkpoint, Resume translation continues that run."""
    page.translate_out.setText(str(tmp_path / "never"))
    page.translate_steps.setValue(100_000)
    page.sample_every.setValue(1)  # a grid of pairs at every step
    page.translate_loss.setCurrentIndex(page.translate_loss.findData("cut"))
    assert not page.resume_translate_button.isEnabled()
    qtbot.mouseClick(page.translate_button, LEFT)
    assert page.runner.running and page.stop_button.isEnabled() and not page.run_button.isEnabled()
    assert not page.translate_button.isEnabled() and not page.translate_loss.isEnabled()
    shown: set[int] = set()

    def grids_changed() -> bool:  # the pixmap is re-read from the run folder as the translator learns
        if page.grid.pixmap() is not None:
            shown.add(page.grid.pixmap().cacheKey())
        return page.translate_grids >= 3 and len(shown) >= 2

    qtbot.waitUntil(grids_changed, timeout=TIMEOUT_MS)
    assert page.plots.curve_length("loss/PatchNCE") > 0 and "Translating: step" in page.tools_status.text()
    assert page.pause_button.isEnabled() and page.pause_button.text() == "Pause"
    qtbot.mouseClick(page.pause_button, LEFT)
    assert page.runner.paused and page.pause_button.text() == "Resume" and page.status.text().startswith("Paused")
    qtbot.wait(500)  # the steps queued before the pause are drawn
    held = page.progress.value()
    qtbot.wait(1500)
    assert page.progress.value() == held and page.runner.running  # no step while paused
    qtbot.mouseClick(page.pause_button, LEFT)
    assert not page.runner.paused and page.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: page.progress.value() > held, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(page.translated, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.stop_button, LEFT)
    first = blocker.args[0]
    assert first.status == "stopped" and first.steps_done >= 3 and first.loss == "cut"
    assert "Resume translation continues" in page.tools_status.text() and page.resume_translate_button.isEnabled()
    assert not page.pause_button.isEnabled()
    assert page.translate_button.isEnabled() and not (tmp_path / "never").exists()

    qtbot.mouseClick(page.resume_translate_button, LEFT)
    assert page.runner.running and not page.resume_translate_button.isEnabled()
    qtbot.waitUntil(lambda: page.progress.value() > first.steps_done + 1, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(page.translated, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.stop_button, LEFT)
    second = blocker.args[0]
    assert second.status == "stopped" and second.run_dir == first.run_dir and second.steps_done > first.steps_done + 1
    runs = [p for p in demo_state.runs_dir.iterdir() if (p / "config.toml").is_file()]
    assert runs == [first.run_dir]  # resumed in place, no second run folder
    assert error_calls == []


def test_translate_shows_pairs_and_writes_the_labelled_source(qtbot, page, tiny_demo, error_calls, tmp_path):
    qtbot.mouseClick(page.translate_button, LEFT)
    assert "Type a new folder" in error_calls[-1][0]
    out = tmp_path / "translated"
    page.translate_out.setText(str(out))
    page.translate_steps.setValue(2)
    with qtbot.waitSignal(page.translated, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.translate_button, LEFT)
    report = blocker.args[0]
    assert report.written == 120 and sorted(p.name for p in out.iterdir()) == [str(d) for d in range(10)]
    assert page.grid.pixmap() is not None and not page.grid.pixmap().isNull()
    assert (report.run_dir / "samples" / "latest.png").is_file() and "Translated 120" in page.tools_status.text()
    assert len(error_calls) == 1


def test_window_routes_a_translation_resume_to_this_page(qtbot, app_state, monkeypatch, tmp_path):
    """The Runs page's Resume (and the resume offer at start) reach resume_translation for a translation run."""
    from desktop_app.main_window import MainWindow

    run = tmp_path / "a-translation"
    run.mkdir()
    (run / "config.toml").write_text('kind = "translate"\n')
    asked: list[str] = []
    monkeypatch.setattr(GeneratePage, "resume_translation", lambda self, d="": (asked.append(d), True)[1])
    window = MainWindow(app_state, [("desktop_app.pages.generate", "GeneratePage")])
    qtbot.addWidget(window, before_close_func=lambda w: [p.shutdown() for p in w.pages])
    assert window.resume_run(str(run)) and asked == [str(run)]
    assert isinstance(window.current_page(), GeneratePage)
