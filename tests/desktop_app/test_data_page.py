"""Data page, driven as a user: choose folders (typing, dropping, recent), check, read the report."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from desktop_app.pages.data import DataPage


def make_page(qtbot, state) -> DataPage:
    page = DataPage(state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())
    page.resize(1200, 760)
    page.show()
    return page


def drop_folder(widget, folder: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(
        QPoint(5, 5).toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)


def test_check_shows_counts_issues_unreadable_and_thumbnails(qtbot, app_state, tiny_demo, tmp_path, error_calls):
    source = tmp_path / "source"
    import shutil

    shutil.copytree(tiny_demo.source, source)
    (source / "3" / "broken.png").write_bytes(b"not a png at all")
    page = make_page(qtbot, app_state)
    page.source_picker.choose(str(source))  # as if typed and confirmed
    drop_folder(page.target_picker, tiny_demo.target_train)
    page.test_picker.edit.setText(str(tiny_demo.target_test))
    page.test_picker.edit.editingFinished.emit()
    assert (app_state.source, app_state.target, app_state.target_test) == (
        str(source),
        str(tiny_demo.target_train),
        str(tiny_demo.target_test),
    )

    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.report is not None, timeout=20_000)
    assert error_calls == []
    assert page.progress.value() == page.progress.maximum() > 0
    assert page.chart.heights("Source") == [12.0] * 10  # the broken file is not counted
    assert page.chart.heights("Target test") == [2.0] * 10
    assert "Target" not in page.chart.bars  # unlabelled: no per-class bars
    rows = [page.unreadable.topLevelItem(i) for i in range(page.unreadable.topLevelItemCount())]
    assert [(r.text(0), Path(r.text(1)).name) for r in rows] == [("Source", "broken.png")]
    assert rows[0].text(2)  # the reason
    findings = [page.issues.topLevelItem(i).text(1) for i in range(page.issues.topLevelItemCount())]
    assert any("cannot be read" in f for f in findings)
    assert "OK to train" in page.status.text()

    assert page.grid.thumbnails.rowCount() == 121  # all source files, the broken one included
    page.show_images("target_test", "3")
    assert page.grid.thumbnails.rowCount() == 2
    paths = page.grid.thumbnails.paths()
    qtbot.waitUntil(lambda: all(page.grid.thumbnails.cached(p) for p in paths), timeout=10_000)
    page.show_images("source", "3")
    broken = next(p for p in page.grid.thumbnails.paths() if p.endswith("broken.png"))
    qtbot.waitUntil(lambda: page.grid.thumbnails.cached(broken), timeout=10_000)  # a warning icon, no crash


def test_missing_folder_and_folder_without_images_show_the_error_dialog(qtbot, app_state, tmp_path, error_calls):
    page = make_page(qtbot, app_state)
    page.source_picker.choose(str(tmp_path / "does-not-exist"))
    page.check()
    qtbot.waitUntil(lambda: len(error_calls) == 1, timeout=10_000)
    assert "Folder not found" in error_calls[0][0] and "does-not-exist" in error_calls[0][0]
    assert "Check failed" in page.status.text()
    empty = tmp_path / "empty" / "cats"
    empty.mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    qtbot.waitUntil(lambda: page.check_button.isEnabled(), timeout=5_000)
    page.source_picker.choose(str(tmp_path / "empty"))
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(error_calls) == 2, timeout=10_000)
    assert "No images found" in error_calls[1][0]
    page.source_picker.choose("")
    page.check()
    assert "Choose a source folder" in error_calls[2][0]


def test_recent_folders_menu_and_folders_restored_from_state(qtbot, app_state, tiny_demo):
    app_state.set_folders(str(tiny_demo.source), "", "")
    app_state.remember_recent(str(tiny_demo.target_test))
    page = make_page(qtbot, app_state)
    assert page.source_picker.path() == str(tiny_demo.source)
    page.target_picker._on_recent_menu()
    actions = page.target_picker.recent_menu.actions()
    assert [a.text() for a in actions] == [str(tiny_demo.target_test), str(tiny_demo.source)]
    actions[0].trigger()
    assert app_state.target == str(tiny_demo.target_test)
    assert app_state.settings.value("folders/target") == str(tiny_demo.target_test)


def test_thumbnail_grid_stays_lazy_with_thousands_of_images(qtbot, tiny_demo, tmp_path):
    from desktop_app.widgets.image_grid import ImageGrid

    originals = sorted(Path(tiny_demo.source).rglob("*.png"))
    paths = []
    for i in range(3000):  # 3,000 distinct files (links), cheap to make
        link = tmp_path / f"img_{i:05d}.png"
        link.symlink_to(originals[i % len(originals)])
        paths.append(str(link))
    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.resize(500, 400)
    grid.show()
    grid.set_paths(paths)
    qtbot.waitUntil(lambda: grid.thumbnails.loads > 0, timeout=10_000)
    qtbot.wait(300)
    assert grid.thumbnails.rowCount() == 3000
    assert grid.thumbnails.loads < 300  # only what is on screen was decoded, not 3,000 files
    grid.scrollToBottom()
    qtbot.waitUntil(lambda: grid.thumbnails.cached(paths[-1]), timeout=10_000)  # the bottom loads when shown


def test_a_report_about_other_folders_is_cleared_when_the_folders_change(qtbot, app_state, tiny_demo, error_calls):
    page = make_page(qtbot, app_state)
    page.source_picker.choose(str(tiny_demo.source))
    page.test_picker.choose(str(tiny_demo.target_test))
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.report is not None, timeout=20_000)
    assert page.chart.bars and page.grid.thumbnails.rowCount() > 0

    page.test_picker.choose(str(tiny_demo.source))  # another folder: the shown report is stale
    assert page.report is None and not page.chart.bars and page.issues.topLevelItemCount() == 0
    assert page.grid.thumbnails.rowCount() == 0
    assert "folders changed" in page.status.text()
    app_state.set_folders(str(tiny_demo.source), "", str(tiny_demo.target_test))  # back, from elsewhere
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.report is not None, timeout=20_000)
    assert page.chart.bars and "OK to train" in page.status.text() and error_calls == []
