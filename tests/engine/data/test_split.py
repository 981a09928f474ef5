"""stratified_split: determinism, coverage, per-class guarantees."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.core.errors import UserError
from engine.data.split import stratified_split

LABELS = [0] * 50 + [1] * 20 + [2] * 3 + [3] * 2 + [4]


def test_partition_and_determinism():
    train, val = stratified_split(LABELS, 0.2, seed=7)
    assert sorted(train + val) == list(range(len(LABELS))) and not set(train) & set(val)
    assert train == sorted(train) and val == sorted(val)
    assert (train, val) == stratified_split(LABELS, 0.2, seed=7)
    assert stratified_split(LABELS, 0.2, seed=8) != (train, val)


def test_per_class_shares():
    train, val = stratified_split(LABELS, 0.2, seed=0)
    v = Counter(LABELS[i] for i in val)
    t = Counter(LABELS[i] for i in train)
    assert v[0] == 10 and v[1] == 4
    assert v[2] == 1 and t[2] == 2  # small classes still get one of each
    assert v[3] == 1 and t[3] == 1
    assert v[4] == 0 and t[4] == 1  # a single image stays in train


def test_large_fraction_keeps_one_train_item_per_class():
    train, _val = stratified_split(LABELS, 0.95, seed=0)
    t = Counter(LABELS[i] for i in train)
    assert all(t[c] >= 1 for c in set(LABELS))


def test_zero_fraction_and_empty():
    assert stratified_split(LABELS, 0.0, seed=1) == (list(range(len(LABELS))), [])
    assert stratified_split([], 0.3, seed=1) == ([], [])


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_bad_fraction(bad):
    with pytest.raises(UserError, match="val_fraction"):
        stratified_split(LABELS, bad, seed=0)


def test_unlabelled_items_are_one_group():
    train, val = stratified_split([-1] * 10, 0.3, seed=0)
    assert len(val) == 3 and len(train) == 7
