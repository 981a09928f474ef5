"""Generate page, driven like a user: train a conditional GAN and watch the live grid and plots,
transfer it with FreezeD + DiffAugment, save samples per class, export, stop, and bad input."""

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
    with qtbot.waitSignal(page.trained, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.stop_button, LEFT)
    assert blocker.args[0].status == "stopped" and page.batch.isEnabled()
    assert error_calls == []

    page.data_edit.setText(str(tiny_demo.target_test))  # 20 images
    page.batch.setValue(64)
    with qtbot.waitSignal(page.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.run_button, LEFT)
    assert "fewer than the batch size 64" in error_calls[-1][0]
    page.data_edit.setText("")
    qtbot.mouseClick(page.run_button, LEFT)
    assert "Choose a folder" in error_calls[-1][0]


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
