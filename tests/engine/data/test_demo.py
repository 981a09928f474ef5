"""The digits demo: layout, disjoint originals, determinism, and that it scans as the app expects."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import UserError
from engine.data.demo import _load_digits, assign_digits, make_demo, render_demo
from engine.data.folders import scan_domain

CLASSES = [str(i) for i in range(10)]


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_counts_and_scan(tmp_path):
    calls = []
    paths = make_demo(tmp_path / "demo", seed=3, size=20, per_class=4, progress=lambda d, t: calls.append((d, t)))
    assert paths.source == tmp_path / "demo" / "source"
    assert paths.target_train == tmp_path / "demo" / "target" / "train"
    assert paths.target_test == tmp_path / "demo" / "target" / "test"
    src = scan_domain(paths.source)
    trn = scan_domain(paths.target_train)
    tst = scan_domain(paths.target_test)
    assert src.labelled and src.classes == CLASSES and set(src.class_counts().values()) == {4}
    assert not trn.labelled and len(trn) == 20 and all(p.parent == paths.target_train for p in trn.paths)
    assert tst.labelled and tst.classes == CLASSES and set(tst.class_counts().values()) == {1}
    assert calls[-1] == (70, 70)  # 40 source + 20 target train + 10 target test
    from PIL import Image

    with Image.open(src.paths[0]) as s, Image.open(tst.paths[0]) as t:
        assert s.size == (20, 20) and s.mode == "L" and t.size == (20, 20) and t.mode == "RGB"


def test_deterministic_for_a_seed(tmp_path):
    a = tree(make_demo(tmp_path / "a", seed=5, per_class=2).source.parent)
    b = tree(make_demo(tmp_path / "b", seed=5, per_class=2).source.parent)
    c = tree(make_demo(tmp_path / "c", seed=6, per_class=2).source.parent)
    assert a == b and a.keys() == c.keys() and a != c


def test_source_and_target_use_disjoint_digits():
    _, targets = _load_digits()
    parts = assign_digits(targets, 150, np.random.default_rng(0))
    src, trn, tst = (set(parts[k].tolist()) for k in ("source", "train", "test"))
    assert not (src & trn) and not (src & tst) and not (trn & tst)
    assert len(parts["source"]) == 1500 and len(trn) == 600 and len(tst) == 300
    assert np.bincount(targets[parts["test"]]).tolist() == [30] * 10
    assert len(src) > 800  # ~90 distinct originals per class behind the 150 jittered copies
    assert targets[parts["train"][:20]].tolist() != sorted(targets[parts["train"][:20]].tolist())  # shuffled


def test_domains_differ_in_colour_not_shape():
    arrays = render_demo(seed=0, size=24, per_class=5)
    src, tgt = arrays.source.astype(float), arrays.target_test.astype(float)
    assert src.ndim == 3 and tgt.shape[-1] == 3
    assert src.mean() < 90  # dark background, light stroke
    chroma = np.abs(tgt - tgt.mean(-1, keepdims=True)).mean()
    assert chroma > 15  # the target is colourful; the source is grey by construction
    assert (src.reshape(len(src), -1).std(1) > 30).all()  # every source image shows a digit


def test_refuses_non_empty_folder_and_bad_args(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(UserError, match="not an empty folder"):
        make_demo(tmp_path)
    with pytest.raises(UserError, match="per_class"):
        render_demo(per_class=0)
    with pytest.raises(UserError, match="size"):
        render_demo(size=4)
