"""From the ranked candidates to the advice's answer: the recommended candidate (the best of the
last rung reached, i.e. of those trained longest), its runner-ups, whether source-only is enough,
and the full training run to start ("Train the recommended").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.advisor.advice import AdviceState, Entry
from engine.advisor.candidates import SOURCE_ONLY, Candidate

if TYPE_CHECKING:
    from engine.jobs.advise import AdviseConfig, AdviseReport


def pick(state: AdviceState) -> tuple[Entry | None, list[Entry]]:
    """The rank-1 entry of the highest rung with a ranked entry, and up to three runner-ups:
    the rest of that rung by rank, then the earlier rungs' best of other candidates."""
    ranked = [e for e in state.entries if e.rank is not None]
    if not ranked:  # every adaptation candidate dropped or skipped: the baseline is what is left
        baseline = [e for e in state.entries if e.method == SOURCE_ONLY and e.status == "finished"]
        return (max(baseline, key=lambda e: e.rung) if baseline else None), []
    top_rung = max(e.rung for e in ranked)
    best = min((e for e in ranked if e.rung == top_rung), key=lambda e: e.rank or 0)
    seen = {best.candidate}
    runner_ups: list[Entry] = []
    for rung in range(top_rung, -1, -1):
        for e in sorted((e for e in ranked if e.rung == rung), key=lambda e: e.rank or 0):
            if e.candidate not in seen and len(runner_ups) < 3:
                seen.add(e.candidate)
                runner_ups.append(e)
    return best, runner_ups


def build_report(cfg: AdviseConfig, state: AdviceState, advice_dir: Path) -> AdviseReport:
    from engine.advisor.driver import train_config
    from engine.jobs.advise import AdviseReport

    best, runner_ups = pick(state)
    shift = state.shift
    small = shift is not None and shift.size == "small" and cfg.small_shift > 0
    source_only_enough = best is not None and (small or (best.method == SOURCE_ONLY and best.rank is not None))
    if small:  # adaptation was not tried: the source-only entry is the answer
        best = next((e for e in state.entries if e.method == SOURCE_ONLY and e.status == "finished"), best)
    if best is None:
        message = "No candidate finished yet" + (
            ": resume the advice to continue." if state.status == "stopped" else "."
        )
    elif small:
        message = (
            f"Source-only is enough: the shift is small ({shift.message if shift else ''}) "
            "Fine-tune on the source; adaptation has little to fix."
        )
    elif best.method == SOURCE_ONLY and best.rank is None:
        message = (
            "Source-only: no adaptation candidate finished (see why in the table), so fine-tuning is what is left."
        )
    elif best.method == SOURCE_ONLY:
        message = (
            "Source-only is enough: fine-tuning ranks first; no adaptation method scored better without target labels."
        )
    else:
        message = f"Recommended: {best.label} (rank 1 of the candidates trained for {best.epochs} epochs)."
        if runner_ups:
            message += " Runner-ups: " + ", ".join(e.label for e in runner_ups) + "."
    if state.status == "stopped":
        message += " (Stopped: the ranking is of what finished so far.)"
    recommended_config = None
    if best is not None:
        cand = Candidate(best.method, dict(best.options))
        tc = train_config(cfg, cand, cfg.full_epochs, f"{advice_dir.name}-recommended-{cand.slug}", full=True)
        recommended_config = tc.model_dump(mode="json", exclude_none=True)
    return AdviseReport(
        advice_dir=str(advice_dir),
        status=state.status,
        shift=shift,
        candidates=list(state.entries),
        recommended=best,
        runner_ups=runner_ups,
        source_only_enough=source_only_enough,
        message=message,
        warnings=list(state.warnings),
        rank_by=cfg.rank_by,
        budget_s=cfg.budget_minutes * 60,
        elapsed_s=state.elapsed_s,
        recommended_config=recommended_config,
    )
