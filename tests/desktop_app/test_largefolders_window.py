"""Large folders in the window: the CPU threads and image-memory fields, preparation progress, cache clearing."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from desktop_app.cache_action import ask_and_clear
from desktop_app.pages.train import TrainPage
from engine.core.events import Progress, Stage


def test_train_page_sends_threads_and_image_memory(qtbot, demo_state, engine_info):
    page = TrainPage(demo_state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())
    page.engine_ready(engine_info)
    page.settings_panel.advanced_form.set_values({"threads": 3, "cache_memory_mb": 512})
    config = page.settings_panel.build_config()
    assert config.threads == 3 and config.cache_memory_mb == 512
    page.settings_panel.advanced_form.set_values({"threads": None, "cache_memory_mb": None})
    config = page.settings_panel.build_config()
    assert config.threads is None and config.cache_memory_mb is None  # the defaults stay "default"


def test_decoding_progress_shows_counts_and_eta(qtbot, demo_state, engine_info):
    page = TrainPage(demo_state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())
    page._on_events([Stage("Decoding source", 2500, 10000, 42.0)])
    assert page.progress.maximum() == 10000 and page.progress.value() == 2500
    assert page.status.text() == "Decoding source: 2,500/10,000 images, ETA 42 s"
    assert page.progress.text() == "2500 / 10000 images"  # the bar counts images here, not steps
    page._on_events([Stage("Scanning source", 70000, 0, float("nan"), "images found")])
    assert page.progress.maximum() == 0  # an unknown total: a busy bar, never a frozen one
    assert "70,000 images found" in page.status.text()
    page._on_events([Progress(1, 3, 780)])  # training starts: the bar counts steps again
    assert page.progress.text() == "3 / 780 steps"


def test_clear_cache_from_the_window(qtbot, tmp_path, monkeypatch, tiny_demo):
    from engine.data import image_cache
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain

    monkeypatch.setattr(image_cache, "cache_dir_override", tmp_path / "c")
    decode_domain(scan_domain(tiny_demo.source), 16)
    assert image_cache.total_bytes() > 0
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text: shown.append(text))
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    assert ask_and_clear(parent) > 0 and image_cache.bundles() == [] and "MB freed" in shown[0]
