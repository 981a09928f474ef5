"""`train --synthetic DIR`: generated labelled images join the training split (never validation),
in the set ratio; a folder without classes, or with a class the source lacks, is refused."""

from __future__ import annotations

import shutil

import pytest

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.events import Collector, Log
from engine.data.prepare import DecodeCache, prepare_data


def test_synthetic_images_join_training_in_ratio(tmp_path, tiny_demo):
    base = TrainConfig(source=tiny_demo.source, runs_dir=tmp_path)
    plain = prepare_data(base, 32, Collector(), cache=DecodeCache())
    events = Collector()
    cfg = base.model_copy(update={"synthetic": tiny_demo.target_test, "synthetic_ratio": 0.1})
    data = prepare_data(cfg, 32, events, cache=DecodeCache())
    added = round(0.1 * len(plain.y_train))
    assert len(data.y_train) == len(plain.y_train) + added and len(data.y_val) == len(plain.y_val)
    assert (data.x_train[: len(plain.y_train)] == plain.x_train).all()
    assert data.x_train[len(plain.y_train) :].float().std(dim=(0, 2, 3)).min() > 0  # colour (target) images
    assert any(isinstance(e, Log) and f"Synthetic: {added} generated" in e.message for e in events.events)
    many = prepare_data(cfg.model_copy(update={"synthetic_ratio": 5.0}), 32, Collector(), cache=DecodeCache())
    assert len(many.y_train) == len(plain.y_train) + 20  # all 20 images: fewer than asked

    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((tiny_demo.target_test / "3").iterdir()):
        shutil.copy2(p, flat / p.name)
    with pytest.raises(UserError, match=r"synthetic folder.*no class sub-folders"):
        prepare_data(base.model_copy(update={"synthetic": flat}), 32, Collector(), cache=DecodeCache())
    odd = tmp_path / "odd" / "eleven"
    odd.mkdir(parents=True)
    shutil.copy2(next(flat.iterdir()), odd / "a.png")
    with pytest.raises(UserError, match="eleven"):
        prepare_data(base.model_copy(update={"synthetic": odd.parent}), 32, Collector(), cache=DecodeCache())
    with pytest.raises(UserError, match="not found"):
        prepare_data(base.model_copy(update={"synthetic": tmp_path / "nope"}), 32, Collector(), cache=DecodeCache())
