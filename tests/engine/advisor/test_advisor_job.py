"""The advise job end to end on the tiny demo: plan, candidates as runs, scores, recommendation,
stop and resume, and the bad inputs of the issue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.advisor.advice import load_probs, load_state
from engine.advisor.ranking import rank_candidates
from engine.cli import main
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Collector, Event, Finished, Progress
from engine.core.runs import list_runs
from engine.data.demo import DemoPaths
from engine.jobs.advise import JOB, AdviseConfig


def test_advice_trains_ranks_and_recommends(advise_config: AdviseConfig) -> None:
    events = Collector()
    report = JOB.run(advise_config, events)
    assert report.status == "finished"
    rung0 = [e for e in report.candidates if e.rung == 0]
    rung1 = [e for e in report.candidates if e.rung == 1]
    assert [e.method for e in rung0] == ["finetune", "coral", "importance_weighting"]
    assert len(rung1) == 2 and all(e.epochs == 2 for e in rung1)
    # the two promoted are rung 0's best two by the label-free ranking
    best_two = {e.candidate for e in sorted(rung0, key=lambda e: e.rank or 99)[:2]}
    assert {e.candidate for e in rung1} == best_two
    for e in report.candidates:
        assert e.status == "finished"
        assert {"val_acc", "dev", "snd", "entropy", "target_acc", "val_loss", "class_tv"} <= set(e.scores)
        assert 0.0 <= e.scores["class_tv"] <= 1.0 and e.scores["val_loss"] > 0.0
        assert Path(e.run_dir, "config.toml").is_file()
        # its target softmax is kept beside the advice: one row per target image, rows sum to 1
        probs = load_probs(report.advice_dir, e)
        n_target = sum(1 for f in Path(advise_config.target).rglob("*") if f.is_file())
        assert probs is not None and probs.shape == (n_target, 10)  # the demo's ten classes
        assert np.allclose(probs.sum(1), 1.0, atol=1e-4)
    for e in rung0[1:] + rung1:  # the adaptation candidates (source-only is the baseline)
        assert 0.0 <= e.scores["agreement"] <= 1.0
    # every candidate is a normal run in the runs folder, and nothing else is
    runs = {r.path for r in list_runs(advise_config.runs_dir)}
    assert runs == {Path(e.run_dir) for e in report.candidates}
    assert report.recommended is not None and report.recommended.rung == 1 and report.recommended.rank == 1
    assert report.shift is not None and 0.0 <= report.shift.proxy_a_distance <= 2.0
    assert report.recommended_config is not None
    assert report.recommended_config["method"] == report.recommended.method
    assert report.recommended_config["epochs"] == advise_config.full_epochs
    assert any("noisy" in w for w in report.warnings)  # 48 target images
    assert len(events.of(Finished)) == 5 + 1  # a row event per candidate, then the advice's own
    assert report.elapsed_s < report.budget_s


def test_stop_inside_a_candidate_then_resume(advise_config: AdviseConfig) -> None:
    control = JobControl()
    seen = {"rows": 0}

    def emit(event: Event) -> None:
        if isinstance(event, Finished) and event.job == "advise-candidate":
            seen["rows"] += 1
        if isinstance(event, Progress) and seen["rows"] == 2:
            control.stop()  # inside the third candidate's run

    stopped = JOB.run(advise_config, emit, control)
    assert stopped.stopped
    state = load_state(stopped.advice_dir)
    assert [e.status for e in state.entries] == ["finished", "finished", "stopped"]
    first_runs = [e.run_dir for e in state.entries]
    assert "Stopped" in stopped.message or stopped.recommended is not None

    resumed = JOB.run(AdviseConfig(resume=Path(stopped.advice_dir)))
    assert resumed.status == "finished"
    assert [e.run_dir for e in resumed.candidates[:3]] == first_runs  # continued, not retrained
    assert all(e.status == "finished" for e in resumed.candidates)
    assert len(list_runs(advise_config.runs_dir)) == len(resumed.candidates) == 5
    third = json.loads(Path(first_runs[2], "run.json").read_text())
    assert third["status"] == "finished" and third["epoch"] == 1


def test_a_diverging_candidate_is_dropped_with_its_reason(
    advise_config: AdviseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.training.trainer as trainer
    from engine.training.step import NonFiniteLoss

    real = trainer.run_train

    def diverging(config=None, emit=None, control=None, **kw):  # type: ignore[no-untyped-def]
        if config is not None and config.method == "coral":
            raise NonFiniteLoss("the loss became nan at step 2")
        return real(config, emit, control, **kw)

    monkeypatch.setattr(trainer, "run_train", diverging)
    report = JOB.run(advise_config.model_copy(update={"max_epochs": 1}))
    coral = next(e for e in report.candidates if e.method == "coral")
    assert coral.status == "dropped" and "diverged" in coral.reason and coral.rank is None
    assert report.recommended is not None and report.recommended.method != "coral"
    assert any("coral" in w and "diverged" in w for w in report.warnings)


def test_budget_too_small_for_one_candidate(advise_config: AdviseConfig) -> None:
    with pytest.raises(UserError, match="too small for even one candidate"):
        JOB.run(advise_config.model_copy(update={"budget_minutes": 0.0005}))
    assert not Path(advise_config.runs_dir).exists() or not any(Path(advise_config.runs_dir).iterdir())


def test_target_with_classes_the_source_lacks(
    advise_config: AdviseConfig, tiny_demo: DemoPaths, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    shutil.copytree(tiny_demo.target_test, target)
    extra = target / "letter_a"
    extra.mkdir()
    for i, png in enumerate(sorted((target / "3").iterdir())[:2]):
        shutil.copy(png, extra / f"a{i}.png")
    with pytest.raises(UserError, match="letter_a"):
        JOB.run(advise_config.model_copy(update={"target": target, "target_test": None}))


def test_unknown_method_and_bad_grid_are_refused(advise_config: AdviseConfig) -> None:
    with pytest.raises(UserError, match="unknown method 'danm'"):
        JOB.run(advise_config.model_copy(update={"methods": ["danm"]}))
    with pytest.raises(UserError, match="robustness"):
        JOB.run(advise_config.model_copy(update={"methods": ["pgd_at"]}))
    with pytest.raises(UserError, match="grid"):
        JOB.run(advise_config.model_copy(update={"grid": {"dann": [0.1]}}))


def test_cli_advise_writes_json(
    advise_config: AdviseConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.advisor import driver

    ranked: list[tuple[int, float, float]] = []  # (validation images, tie_z, skew_band) of every ranking made

    def spy(*args: Any) -> Any:
        ranked.append((args[4], args[5], args[7]))
        return rank_candidates(*args)

    monkeypatch.setattr(driver, "rank_candidates", spy)
    out = tmp_path / "advice.json"
    argv = ["advise", "--source", str(advise_config.source), "--target", str(advise_config.target)]
    argv += ["--methods", "finetune,coral", "--grid-points", "1", "--min-epochs", "1", "--max-epochs", "1"]
    argv += ["--runs-dir", str(advise_config.runs_dir), "--batch-size", "32", "--device", "cpu", "--json", str(out)]
    assert main([*argv, "--tie-z", "1.5", "--skew-band", "0.3"]) == 0
    data = json.loads(out.read_text())
    assert data["status"] == "finished" and data["recommended"]["method"] in ("finetune", "coral")
    assert json.loads((Path(data["advice_dir"]) / "advice.json").read_text())["config"]["tie_z"] == 1.5
    # the flags reach the ranking, with the source validation split's size for the standard error
    n_source = sum(1 for f in Path(advise_config.source).rglob("*") if f.is_file())
    assert ranked and all(z == 1.5 and band == 0.3 and 0 < n < n_source for n, z, band in ranked)
    text = capsys.readouterr().out
    assert "shift: proxy A-distance" in text and "candidate" in text and "agree%" in text
    assert (
        main(
            [
                "advise",
                "--source",
                str(advise_config.source),
                "--target",
                str(advise_config.target),
                "--budget-minutes",
                "0.0001",
                "--runs-dir",
                str(tmp_path / "r2"),
            ]
        )
        == 2
    )
    assert "too small for even one candidate" in capsys.readouterr().err


def test_no_shift_means_source_only_is_enough(advise_config: AdviseConfig, tiny_demo: DemoPaths) -> None:
    """The source's own images as the target: the shift is small, adaptation is not even tried."""
    cfg = advise_config.model_copy(update={"target": tiny_demo.source, "target_test": None, "small_shift": 0.5})
    report = JOB.run(cfg)
    assert report.shift is not None and report.shift.size == "small"
    assert report.source_only_enough and report.recommended is not None
    assert report.recommended.method == "finetune" and "Source-only is enough" in report.message
    others = [e for e in report.candidates if e.method != "finetune"]
    assert others and all(e.status == "skipped" and "small" in e.reason for e in others)
    assert len(list_runs(cfg.runs_dir)) == 1
