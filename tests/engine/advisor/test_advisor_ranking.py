"""The combined ranking and the successive-halving schedule, against hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.advisor.halving import Rung, affordable, fit_budget, plan_cost, plan_halving
from engine.advisor.ranking import accuracy_tie_band, combined_scores, normalised_ranks, rank_candidates
from engine.core.errors import UserError

ROWS = [
    {"val_acc": 0.90, "dev": 1.0, "snd": 2.0, "entropy": 0.5},  # A
    {"val_acc": 0.95, "dev": 0.8, "snd": 1.0, "entropy": 0.3},  # B
    {"val_acc": 0.70, "dev": 2.0, "snd": 3.0, "entropy": 0.1},  # C
]


def test_normalised_ranks_directions_ties_and_missing() -> None:
    assert normalised_ranks([3.0, 1.0, 2.0], "max") == [1.0, 0.0, 0.5]
    assert normalised_ranks([3.0, 1.0, 2.0], "min") == [0.0, 1.0, 0.5]
    assert normalised_ranks([1.0, 1.0, 0.0], "max") == [0.75, 0.75, 0.0]
    assert normalised_ranks([1.0, math.nan, None], "max") == [1.0, None, None]


def test_combined_scores_by_hand() -> None:
    # ranks (val, dev, snd, entropy): A .5 .5 .5 0; B 1 1 0 .5; C 0 0 1 1
    assert combined_scores(ROWS) == pytest.approx([0.375, 0.625, 0.5])


def test_rank_candidates_combined_with_and_without_the_source_gate() -> None:
    order, values = rank_candidates(ROWS, "combined", val_gate=1.0)
    assert order == [1, 2, 0]
    assert values == pytest.approx([0.375, 0.625, 0.5])
    order, _ = rank_candidates(ROWS, "combined", val_gate=0.1)  # C lost 25 points of source accuracy
    assert order == [1, 0, 2]


def test_rank_candidates_by_single_scores() -> None:
    assert rank_candidates(ROWS, "dev", val_gate=1.0)[0] == [1, 0, 2]
    assert rank_candidates(ROWS, "snd", val_gate=1.0)[0] == [2, 0, 1]
    assert rank_candidates(ROWS, "entropy", val_gate=1.0)[0] == [2, 1, 0]


def test_rank_candidates_leaves_out_a_diverged_candidate() -> None:
    rows = [*ROWS, {"val_acc": math.nan, "dev": math.nan, "snd": math.nan, "entropy": math.nan}]
    order, values = rank_candidates(rows)
    assert 3 not in order and values[3] is None


def test_plan_halving() -> None:
    assert plan_halving(8, 2, 8) == [Rung(2, 8), Rung(4, 4), Rung(8, 2)]
    assert plan_halving(5, 1, 16) == [Rung(1, 5), Rung(2, 3), Rung(4, 2), Rung(8, 1)]
    assert plan_halving(9, 1, 9, eta=3) == [Rung(1, 9), Rung(3, 3), Rung(9, 1)]
    assert plan_halving(1, 3, 12) == [Rung(3, 1)]


def test_plan_cost_uses_each_candidates_cost_in_rung_0() -> None:
    # rung 0: (1 + 2 + 1 + 2) x 2 epochs = 12; rung 1: 4 epochs x the 2 dearest (2 + 2) = 16
    assert plan_cost([Rung(2, 4), Rung(4, 2)], [1.0, 2.0, 1.0, 2.0]) == pytest.approx(28.0)
    # one dear candidate is priced once, not for every survivor: 2 x 12 = 24, then 4 x (9 + 2) = 44
    assert plan_cost([Rung(2, 3), Rung(4, 2)], [1.0, 9.0, 2.0]) == pytest.approx(68.0)


def test_fit_budget_drops_rungs_then_candidates() -> None:
    costs = [1.0] * 8  # full plan: 8x2 + 4x4 + 2x8 = 48 s
    assert fit_budget(costs, 2, 8, 48.0).rungs == (Rung(2, 8), Rung(4, 4), Rung(8, 2))
    assert fit_budget(costs, 2, 8, 40.0).rungs == (Rung(2, 8), Rung(4, 4))
    small = fit_budget(costs, 2, 8, 11.0)
    assert small.candidates == 5 and small.rungs == (Rung(2, 5),)
    assert small.estimated_s == pytest.approx(10.0)


def test_fit_budget_refuses_a_budget_below_one_candidate() -> None:
    with pytest.raises(UserError, match=r"budget_minutes.*too small for even one candidate"):
        fit_budget([120.0, 60.0], 2, 8, 100.0)


def test_the_next_rung_trains_the_most_of_the_best_that_the_budget_left_fits() -> None:
    costs = [10.0, 30.0, 5.0, 5.0]  # seconds per epoch of the survivors, best first
    assert affordable(4, costs, 3, 1000.0) == 3  # 4 x (10 + 30 + 5) = 180 s fit
    assert affordable(4, costs, 3, 179.0) == 2  # 4 x 40 = 160 s fit, the third does not
    assert affordable(4, costs, 3, 100.0) == 1  # the best alone, 40 s (the cheap ones rank below)
    assert affordable(4, costs, 3, 39.0) == 0
    assert affordable(4, costs[:1], 3, 1000.0) == 1  # no more than the ranked ones


def test_combined_scores_with_weights_by_hand() -> None:
    # val_acc and entropy only: A (.5 + 0)/2, B (1 + .5)/2, C (0 + 1)/2
    weights = {"val_acc": 1.0, "entropy": 1.0}
    assert combined_scores(ROWS, weights) == pytest.approx([0.25, 0.75, 0.5])
    assert rank_candidates(ROWS, "combined", val_gate=1.0, weights=weights)[0] == [1, 2, 0]


def test_true_target_accuracy_never_moves_the_ranking() -> None:
    with_truth = [{**r, "target_acc": t} for r, t in zip(ROWS, (0.1, 0.2, 0.9), strict=True)]
    assert rank_candidates(with_truth) == rank_candidates(ROWS)


def test_a_tie_in_one_score_is_broken_by_the_combined_one() -> None:
    rows = [{**ROWS[0], "val_acc": 0.95}, ROWS[1]]  # A and B tie on source accuracy; B is better elsewhere
    assert rank_candidates(rows, "val_acc")[0] == [1, 0]
    assert rank_candidates(rows[::-1], "val_acc")[0] == [0, 1]


def test_diagnostics_recorded_beside_the_scores_never_change_the_ranking() -> None:
    """`val_loss` and `class_tv` are shown as a check; a ranking reads only its own scores (unless
    accuracy ties are asked for: `tie_z`)."""
    noisy = [{**row, "val_loss": 9.0 - i, "class_tv": 0.1 * i} for i, row in enumerate(ROWS)]
    for by in ("combined", "val_acc", "dev", "snd", "entropy"):
        assert rank_candidates(noisy, by) == rank_candidates(ROWS, by)


def test_accuracy_tie_band_by_hand() -> None:
    # 118 of 120 right: p = 119/122, one standard error sqrt(p(1-p)/120) = 0.014138
    assert accuracy_tie_band(118 / 120, 120, 1.0) == pytest.approx(math.sqrt(119 / 122 * 3 / 122 / 120))
    assert accuracy_tie_band(118 / 120, 120, 1.0) == pytest.approx(0.014138, abs=1e-6)
    assert accuracy_tie_band(1.0, 120, 2.0) == pytest.approx(2 * math.sqrt(121 / 122 / 122 / 120))  # still a band
    assert accuracy_tie_band(0.9, 120, 0.0) == 0.0  # off
    assert accuracy_tie_band(0.9, 0, 1.0) == 0.0  # no validation images: no band


def test_source_accuracy_ties_are_broken_by_the_class_share_skew() -> None:
    """On 120 images, 0.983 and 0.975 (one image apart) tie at one standard error and the one whose
    target predictions keep the source's class shares comes first; 0.958 (three images) does not."""
    rows = [
        {"val_acc": 118 / 120, "dev": 0.2, "snd": 1.0, "entropy": 0.5, "class_tv": 0.20},
        {"val_acc": 117 / 120, "dev": 0.3, "snd": 1.0, "entropy": 0.5, "class_tv": 0.15},
        {"val_acc": 115 / 120, "dev": 0.1, "snd": 2.0, "entropy": 0.1, "class_tv": 0.01},
        {"val_acc": 118 / 120, "dev": 0.2, "snd": 1.0, "entropy": 0.5},  # no skew: last of the tie
    ]
    assert rank_candidates(rows, "val_acc")[0][:2] == [0, 3]  # off: accuracy, ties by the combined score
    order, values = rank_candidates(rows, "val_acc", n_val=120, tie_z=1.0)
    assert order == [1, 0, 3, 2]
    assert values == [r["val_acc"] for r in rows]  # still ranked by (and showing) source accuracy
    # a wider band (three standard errors: 4.2 points) takes in the third, the least skewed
    assert rank_candidates(rows, "val_acc", n_val=120, tie_z=3.0)[0] == [2, 1, 0, 3]
    # the band never reaches past the source-accuracy gate, and other rankings ignore it
    assert rank_candidates(rows, "val_acc", 0.01, n_val=120, tie_z=3.0)[0][:2] == [1, 0]
    assert rank_candidates(rows, "combined", n_val=120, tie_z=1.0) == rank_candidates(rows, "combined")


def test_rank_by_class_skew_keeps_the_source_accuracy_gate() -> None:
    """class_tv ranks lowest skew first, but a candidate that forgot the source task (more than
    `val_gate` below the best source accuracy) still comes last, however balanced its predictions."""
    rows = [
        {"val_acc": 0.95, "class_tv": 0.30},
        {"val_acc": 0.93, "class_tv": 0.10},
        {"val_acc": 0.50, "class_tv": 0.01},  # near chance on the source: gated
        {"val_acc": 0.94},  # no skew measured: left out
    ]
    order, values = rank_candidates(rows, "class_tv")
    assert order == [1, 0, 2]
    assert values[:3] == [0.30, 0.10, 0.01] and values[3] is None


def test_rank_by_agreement_with_the_low_skew_ensemble() -> None:
    """The ensemble votes with the candidates that pass the source gate and whose class skew is
    within `skew_band` of the lowest; voters rank by agreement with it, then the rest."""
    one = np.eye(3)
    a = one[[0, 1, 2, 0]]  # predicts 0 1 2 0
    b = one[[0, 1, 2, 1]]  # 0 1 2 1
    c = one[[0, 1, 1, 1]]  # 0 1 1 1
    d = one[[0, 1, 2, 2]]  # 0 1 2 2
    rows = [
        {"val_acc": 0.90, "class_tv": 0.10},
        {"val_acc": 0.91, "class_tv": 0.12},
        {"val_acc": 0.92, "class_tv": 0.15},
        {"val_acc": 0.95, "class_tv": 0.60},  # the best source accuracy, but too skewed to vote
    ]
    # voters a, b, c (skews 0.10-0.15): mean votes 0 1 2 1 (the last image: b and c say 1)
    order, values = rank_candidates(rows, "agreement", probs=[a, b, c, d], skew_band=0.1)
    assert values == pytest.approx([0.75, 1.0, 0.75, 0.75])
    # b first; a and c tie at 3/4 and the combined score (here source accuracy) orders them; d,
    # with as much agreement and the best source accuracy, comes after every voter
    assert order == [1, 2, 0, 3]
    # every gate-passing candidate votes (skew_band None): the votes stay 0 1 2 1, d ranks among them
    order, values = rank_candidates(rows, "agreement", probs=[a, b, c, d], skew_band=None)
    assert values == pytest.approx([0.75, 1.0, 0.75, 0.75]) and order == [1, 3, 2, 0]
    # without a softmax a candidate is left out
    order, values = rank_candidates(rows, "agreement", probs=[a, b, None, d], skew_band=0.1)
    assert 2 not in order and values[2] is None
    # a candidate that forgot the source task neither votes nor ranks before the others
    gated = [dict(r) for r in rows]
    gated[1]["val_acc"] = 0.5
    order, _ = rank_candidates(gated, "agreement", probs=[a, b, c, d], skew_band=0.1)
    assert order[-1] == 1
