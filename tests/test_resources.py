"""The shipped resources: a valid icon, a style sheet Qt accepts, demo configs the engine loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.resources import app_style, resource_path
from engine.core.config import TrainConfig, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "resources" / "configs").glob("*.toml"))


def test_icon_svg_and_png_are_there_and_square(qapp):
    from PySide6.QtGui import QImage
    from PySide6.QtSvg import QSvgRenderer

    svg, png = resource_path("icons/transfer-studio.svg"), resource_path("icons/transfer-studio.png")
    assert svg is not None and png is not None
    assert QSvgRenderer(str(svg)).isValid()
    image = QImage(str(png))
    assert (image.width(), image.height()) == (256, 256)


def test_style_sheet_is_found_and_names_the_roles():
    style = app_style()
    assert 'role="error"' in style and 'role="pass"' in style


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_demo_configs_load_with_a_source_flag(path, tmp_path):
    from engine.methods.base import method_config

    cfg = load_config(TrainConfig, path, {"source": str(tmp_path)})
    assert cfg.source == tmp_path and cfg.epochs >= 1
    method_config(cfg.method, cfg.method_options)  # the method's own settings validate too


def test_there_are_demo_configs():
    assert len(CONFIGS) >= 3


def test_unknown_resource_is_none():
    assert resource_path("no/such/file") is None
