"""The window fits a 1366x768 laptop screen on every page (issue 10, point 11), and a window
opened (or restored) larger than the screen is shrunk to it."""

from __future__ import annotations

from PySide6.QtCore import QRect

from desktop_app.main_window import MainWindow

# 768 px less a 30 px title bar and a 40 px panel: what a 1366x768 laptop leaves a window
SMALL = (1366, 698)


def test_every_page_fits_a_1366x768_screen(qtbot, app_state, engine_info):
    window = MainWindow(app_state)
    qtbot.addWidget(window, before_close_func=lambda w: w.close_without_asking())
    window.show()
    window.on_engine_ready(engine_info)  # the pages' engine-dependent widgets (method forms, attacks)
    too_big = []
    for page in window.pages:
        window.show_page(type(page).__name__)
        hint = window.minimumSizeHint()
        if hint.width() > SMALL[0] or hint.height() > SMALL[1]:
            too_big.append(f"{page.title}: {hint.width()}x{hint.height()}")
    assert too_big == []
    window.resize(*SMALL)
    robustness = window.show_page("RobustnessPage")
    assert robustness is not None
    examples = robustness.results.gallery  # type: ignore[attr-defined]
    assert examples.width() >= 320 and examples.preview.height() >= 240  # large enough to see


def test_a_window_larger_than_the_screen_is_shrunk_to_it(qtbot, app_state, monkeypatch):
    from PySide6.QtGui import QScreen

    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, *SMALL))
    window = MainWindow(app_state)  # first start: asks for 1280x820, more than the 698 px free
    qtbot.addWidget(window, before_close_func=lambda w: w.close_without_asking())
    assert window.height() <= SMALL[1] and window.width() <= SMALL[0]
    assert window.height() >= window.minimumSizeHint().height()
