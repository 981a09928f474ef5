"""Point 9: property-based tests (hypothesis).

Configs: any value in any field of every config (training, export, evaluation, attack job, every
method's and every attack's settings), straight or through a TOML file, either validates or gives
a UserError naming the field; never a traceback. Images: random bytes under image extensions,
bare or behind a real format's magic number, and real images cut or corrupted at random places,
are decoded or skipped with a reason; never a crash or a hang (a deadline per example).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel

from engine.analysis.evaluate import EvaluateConfig
from engine.attacks import list_attacks
from engine.attacks.base import get_attack
from engine.attacks.robustness import AttackJobConfig
from engine.core.config import TrainConfig, load_config, validate
from engine.core.errors import UnreadableImage, UserError
from engine.data import health
from engine.data.images import IMAGE_EXTENSIONS, open_rgb
from engine.deploy.export_job import ExportConfig
from engine.methods import list_methods

BASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (TrainConfig, {"source": "data"}),
    (ExportConfig, {"run_dir": "run"}),
    (EvaluateConfig, {"run_dir": "run", "data": "data"}),
    (AttackJobConfig, {"model": "run", "data": "data"}),
    *[(m.Config, {}) for m in list_methods()],
    *[(get_attack(a).config_cls, {}) for a in list_attacks()],
]
FIELDS = [(model, base, name) for model, base in BASES for name in model.model_fields]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=3),
)


def _check(model: type[BaseModel], data: dict[str, Any], field: str, source: str = "config") -> None:
    try:
        validate(model, data, source)
    except UserError as err:
        assert re.search(rf"\b{field}\b", str(err)), (field, str(err))
        assert "Traceback" not in str(err)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), values)
def test_any_value_in_any_field_names_the_field(spec: tuple, value: Any) -> None:
    model, base, field = spec
    _check(model, {**base, field: value}, field)


@settings(max_examples=100, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(FIELDS), values)
def test_through_a_toml_file(tmp_path: Path, spec: tuple, value: Any) -> None:
    model, base, field = spec
    data = {**base, field: value}
    try:
        text = tomli_w.dumps({k: v for k, v in data.items() if v is not None})
    except (TypeError, ValueError):  # not expressible in TOML (e.g. a NaN key or None in a list)
        return
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(model, path, {})
    except UserError as err:
        assert str(path) in str(err), str(err)
        assert re.search(rf"\b{field}\b", str(err)) or data.get(field) is None, str(err)


@settings(max_examples=100, deadline=1000)
@given(st.text(min_size=1, max_size=15).filter(lambda k: k not in TrainConfig.model_fields))
def test_unknown_keys_are_named(key: str) -> None:
    try:
        validate(TrainConfig, {"source": "x", key: 1})
    except UserError as err:
        assert f"unknown key '{key}'" in str(err)
    else:
        raise AssertionError("an unknown key was accepted")


# ----------------------------------------------------------------------------- images
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"II*\x00"]


def _real(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


REAL = {fmt: _real(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


def _decode_or_reason(path: Path) -> None:
    try:
        img = open_rgb(path)
    except UnreadableImage as err:
        assert err.reason.strip() and str(path) in str(err)
        result = health._inspect(str(path), None)  # the health check agrees and does not raise
        assert result["error"]
        return
    assert img.mode == "RGB" and img.width > 0 and img.height > 0


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(IMAGE_EXTENSIONS)), st.sampled_from(MAGIC), st.binary(max_size=600))
def test_random_bytes_under_image_extensions(tmp_path: Path, ext: str, magic: bytes, body: bytes) -> None:
    path = tmp_path / f"x{ext.upper() if len(body) % 2 else ext}"
    path.write_bytes(magic + body)
    _decode_or_reason(path)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(REAL)), st.data())
def test_real_images_cut_or_corrupted(tmp_path: Path, fmt: str, data: st.DataObject) -> None:
    raw = bytearray(REAL[fmt])
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=4))
    for i, v in flips:
        raw[i] = v
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(bytes(raw[:cut]))
    _decode_or_reason(path)
