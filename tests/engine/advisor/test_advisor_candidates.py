"""Self-ensembling as an advisor candidate: in the default grid, costed as the slower method it is
in the budget plan, given twice the epochs of every rung as the slow starter it is, and trained
and scored like any other candidate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.advisor.advice import AdviceState
from engine.advisor.candidates import DEFAULT_METHODS, Candidate, candidate_grid, check_methods
from engine.advisor.driver import ADAPTATION_COST, Advice, cost_factor, method_epochs
from engine.core.control import JobControl
from engine.core.events import Collector
from engine.core.runs import open_run
from engine.jobs.advise import JOB, AdviseConfig


def test_self_ensembling_is_a_default_candidate_with_a_transfer_weight_grid() -> None:
    assert "self_ensembling" in DEFAULT_METHODS and "self_ensembling" in AdviseConfig().methods
    check_methods(DEFAULT_METHODS)
    two = [c for c in candidate_grid(DEFAULT_METHODS, 2) if c.method == "self_ensembling"]
    assert two == [
        Candidate("self_ensembling", {"transfer_weight": 3.0}),  # the method's own default first
        Candidate("self_ensembling", {"transfer_weight": 1.0}),
    ]
    three = [c.options["transfer_weight"] for c in candidate_grid(["self_ensembling"], 3)[1:]]
    assert three == [3.0, 1.0, 10.0]
    assert two[0].label == "self_ensembling transfer_weight=3" and two[0].slug == "self_ensembling-weight3"


def test_cost_factor_counts_self_ensembling_above_the_other_adaptation_methods() -> None:
    assert cost_factor("finetune") == 1.0
    assert cost_factor("dann") == cost_factor("coral") == ADAPTATION_COST
    assert cost_factor("self_ensembling") > ADAPTATION_COST


def _planned(cfg: AdviseConfig, monkeypatch: pytest.MonkeyPatch, probe: dict[str, float] | None = None) -> AdviceState:
    """The plan of an advice whose source-only epoch is timed at `probe[backbone]` s (10 s on any)."""
    from engine.advisor import driver

    def timed(cfg: AdviseConfig, backbone: str, *args: object) -> float:
        return (probe or {}).get(backbone, 10.0)

    monkeypatch.setattr(driver, "probe_epoch_seconds", timed)
    state = AdviceState(config=cfg.model_dump(mode="json"))
    work = Advice(cfg, state, Path(), Collector(), JobControl())
    work.prepare()
    work.plan()
    return state


def test_the_plan_leaves_out_a_self_ensembling_candidate_the_budget_cannot_fit(
    advise_config: AdviseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 35 s: source-only (10 s) + DANN (22 s) fit one epoch each; source-only + self-ensembling (31 s) do not
    base = advise_config.model_copy(
        update={"grid_points": 1, "min_epochs": 1, "max_epochs": 1, "budget_minutes": 35 / 60}
    )
    with_dann = _planned(base.model_copy(update={"methods": ["finetune", "dann"]}), monkeypatch)
    assert with_dann.candidates == 2 and not any("not tried" in w for w in with_dann.warnings)
    with_se = _planned(base.model_copy(update={"methods": ["finetune", "self_ensembling"]}), monkeypatch)
    assert with_se.candidates == 1
    assert any("not tried: self_ensembling transfer_weight=3" in w for w in with_se.warnings)


def test_a_self_ensembling_candidate_trains_scores_and_is_recommended(advise_config: AdviseConfig) -> None:
    cfg = advise_config.model_copy(
        update={"methods": ["finetune", "self_ensembling"], "grid_points": 1, "min_epochs": 3, "max_epochs": 3}
    )  # self-ensembling, a slow starter, trains twice the rung's 3 epochs
    report = JOB.run(cfg)
    assert report.status == "finished"
    (se,) = [e for e in report.candidates if e.method == "self_ensembling"]
    assert se.status == "finished" and se.options == {"transfer_weight": 3.0}
    assert all(math.isfinite(se.scores[k]) for k in ("val_acc", "dev", "snd", "entropy"))
    # it trained: one metrics row per epoch, from chance (10 digits) to 4x chance on its training
    # batches in 18 steps on 96 images (its accuracy on a real shift is tested in test_self_ensembling)
    run = open_run(Path(se.run_dir))
    rows = run.metrics()
    assert len(rows) == 6 and rows[0]["train/acc"] < 0.2 and rows[-1]["train/acc"] >= 0.4
    assert rows[-1]["train/loss"] < rows[0]["train/loss"]
    # and its run is a normal run with its setting, on its method's own backbone (none was chosen)
    run_cfg = run.config()
    assert run_cfg.method == "self_ensembling" and run_cfg.method_options["transfer_weight"] == 3.0
    assert run_cfg.backbone == "small_cnn_gap" and report.candidates[0].method == "finetune"
    assert open_run(Path(report.candidates[0].run_dir)).config().backbone == "small_cnn"
    # the only adaptation candidate: source-only is the baseline row, so it is the recommendation
    assert report.recommended is not None and report.recommended.method == "self_ensembling"
    assert report.recommended_config is not None and report.recommended_config["method"] == "self_ensembling"


def test_a_slow_starter_trains_twice_the_epochs_of_every_rung() -> None:
    assert method_epochs("self_ensembling", 3) == 6 and method_epochs("self_ensembling", 6) == 12
    assert method_epochs("dann", 3) == method_epochs("finetune", 3) == 3


def test_the_plan_gives_self_ensembling_twice_the_epochs_and_counts_them(
    advise_config: AdviseConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = advise_config.model_copy(
        update={"methods": ["finetune", "dann", "self_ensembling"], "min_epochs": 2, "max_epochs": 4}
    )
    state = _planned(cfg, monkeypatch)
    assert {e.method: e.epochs for e in state.entries} == {"finetune": 2, "dann": 2, "self_ensembling": 4}
    # 10 s a source-only epoch, 22 s DANN's, 31 s x 2 self-ensembling's: rung 0 = 2 x (10 + 22 + 62)
    # = 188 s; rung 1 = 4 epochs x the 2 dearest (62 + 22 s) = 336 s
    assert _planned(cfg.model_copy(update={"budget_minutes": 520 / 60}), monkeypatch).rungs == [(2, 3)]
    full = _planned(cfg.model_copy(update={"budget_minutes": 530 / 60}), monkeypatch)
    assert full.rungs == [(2, 3), (4, 2)]
    # promoted, it trains twice the next rung's epochs too
    work = Advice(cfg, full, tmp_path, Collector(), JobControl())
    for rank, e in enumerate(full.entries):
        e.status, e.seconds, e.rank = "finished", 10.0 * e.epochs, rank or None  # source-only: the baseline
    work.promote(0)
    assert [(e.method, e.epochs) for e in full.rung_entries(1)] == [("dann", 4), ("self_ensembling", 8)]


def test_each_candidate_is_costed_and_trained_on_its_own_backbone(
    advise_config: AdviseConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = advise_config.model_copy(
        update={"methods": ["finetune", "dann", "self_ensembling"], "min_epochs": 2, "max_epochs": 4}
    )
    probe = {"small_cnn": 10.0, "small_cnn_gap": 25.0}  # self-ensembling's own backbone is dearer
    # rung 0 = 2 x (10 + 22 + 25 x 3.1 x 2 = 155) = 374 s; rung 1 = 4 epochs x (155 + 22) = 708 s
    assert _planned(cfg.model_copy(update={"budget_minutes": 1075 / 60}), monkeypatch, probe).rungs == [(2, 3)]
    full = _planned(cfg.model_copy(update={"budget_minutes": 1090 / 60}), monkeypatch, probe)
    assert full.rungs == [(2, 3), (4, 2)]
    # chosen for all, one backbone prices every candidate: 2 x (10 + 22 + 62) + 4 x (62 + 22) = 524 s
    same = cfg.model_copy(update={"backbone": "small_cnn", "budget_minutes": 530 / 60})
    assert _planned(same, monkeypatch, probe).rungs == [(2, 3), (4, 2)]
    # promotion prices the next rung by its survivors' measured epochs: DANN (4 x 20 s) and
    # self-ensembling (4 x 150 s x 2) = 1280 s do not fit 15 minutes, the best of them alone does
    # (the mean epoch of all, 85 s, would have said 680 s for the two)
    work = Advice(cfg, full, tmp_path, Collector(), JobControl())
    work.cfg = cfg.model_copy(update={"budget_minutes": 15.0})
    work.elapsed0 = 0.0
    for rank, e in enumerate(full.entries):
        e.status, e.rank = "finished", rank or None
        e.seconds = e.epochs * {"finetune": 10.0, "dann": 20.0, "self_ensembling": 150.0}[e.method]
    work.promote(0)
    assert [(e.method, e.epochs) for e in full.rung_entries(1)] == [("dann", 4)] and full.rungs == [(2, 3), (4, 1)]
