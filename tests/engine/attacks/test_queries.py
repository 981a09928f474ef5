"""The query counter (batching, de-duplication, budgets) and ONNX/PyTorch agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attack_helpers import OrtScores

from engine.attacks import get_attack
from engine.attacks.queries import QueryBudgetExceeded, QueryCounter, torch_scores_fn
from engine.attacks.robustness import compare_onnx_torch


class Spy:
    """A fake scores function: score = per-image mean, recording every batch it gets."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(x.copy())
        m = x.reshape(len(x), -1).mean(1)
        return np.stack([m, -m], axis=1).astype(np.float32)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 4, 4), dtype=np.float32)


def test_counter_sends_in_batches_and_counts_per_image():
    spy = Spy()
    counter = QueryCounter(spy, n=3, batch_size=4)
    x = images(10)
    index = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    out = counter(x, index)
    assert [len(b) for b in spy.batches] == [4, 4, 2]
    assert out.shape == (10, 2) and np.allclose(out[:, 0], x.reshape(10, -1).mean(1))
    assert counter.queries.tolist() == [4, 3, 3]
    assert counter.calls == 3


def test_counter_never_resends_an_image_within_a_step():
    spy = Spy()
    counter = QueryCounter(spy, n=2, batch_size=100)
    x = images(2)
    dup = np.stack([x[0], x[0], x[1], x[0]])
    out = counter(dup, np.array([0, 0, 1, 0]))
    assert sum(len(b) for b in spy.batches) == 2  # x[0] once, x[1] once
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[3])
    counter(x[:1], np.array([0]))  # same step: served from the cache
    assert counter.queries.tolist() == [1, 1] and sum(len(b) for b in spy.batches) == 2
    counter(x[:1], np.array([1]))  # same pixels for another example: a real query for that example
    assert counter.queries.tolist() == [1, 2]
    counter.new_step()
    counter(x[:1], np.array([0]))  # a new step asks again
    assert counter.queries.tolist() == [2, 2] and sum(len(b) for b in spy.batches) == 4


def test_counter_budget_and_remaining():
    counter = QueryCounter(Spy(), n=2, batch_size=8, budget=3)
    x = images(3)
    counter(x, np.array([0, 0, 1]))
    assert counter.remaining.tolist() == [1, 2]
    with pytest.raises(QueryBudgetExceeded):
        counter(images(2, seed=1), np.array([0, 0]))
    assert counter.queries.tolist() == [2, 1]  # a refused request is not counted


def test_counter_labels_are_argmax():
    counter = QueryCounter(Spy(), n=1)
    x = np.stack([np.full((3, 4, 4), 0.9, np.float32), np.full((3, 4, 4), -0.9, np.float32)])
    assert counter.labels(x, np.array([0, 0])).tolist() == [0, 1]


def test_onnx_and_torch_agree_on_clean_and_adversarial_images(task):
    onnx = OrtScores(task.onnx_path)
    res = get_attack("square")(eps=0.1, max_queries=100)(onnx, task.x, task.y)
    both = torch.cat([task.x, res.x_adv])
    cmp = compare_onnx_torch(task.model, onnx, both)
    assert cmp["n"] == 2 * len(task.x)
    assert cmp["max_abs_diff"] < 1e-4
    assert cmp["top1_agreement"] == 1.0
    # the same attack, same seed, against the PyTorch model gives the same images and counts
    res_t = get_attack("square")(eps=0.1, max_queries=100)(torch_scores_fn(task.model), task.x, task.y)
    assert torch.equal(res.success, res_t.success)
    assert torch.equal(res.queries, res_t.queries)
    assert float((res.x_adv - res_t.x_adv).abs().max()) < 1e-6


def test_compare_onnx_torch_notices_a_different_model(task):
    cmp = compare_onnx_torch(task.surrogate, OrtScores(task.onnx_path), task.x)
    assert cmp["max_abs_diff"] > 1e-2


def test_query_attacks_accept_numpy_inputs_and_empty_batches(task):
    onnx = OrtScores(task.onnx_path)
    res = get_attack("hopskipjump")(max_queries=60)(onnx, task.x[:4].numpy(), task.y[:4].numpy())
    assert res.x_adv.shape == (4, 3, 16, 16) and int(res.queries.max()) <= 60
    empty = get_attack("square")()(onnx, task.x[:0], task.y[:0])
    assert len(empty.success) == 0 and empty.queries.tolist() == []
