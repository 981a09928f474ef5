"""The advice, step by step: data, budget plan, candidates rung by rung, shift, ranking.

One candidate at a time is a normal training run (engine.training.trainer.run_train) in the
runs folder; after each one the state file is rewritten and an `advise-candidate` Finished event
tells the window to refresh its table. A Stop is honoured inside a run (the run stops and is
continued on resume) and between runs.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from engine.advisor.advice import AdviceState, Entry, load_probs, load_state, new_advice_dir, save_probs, save_state
from engine.advisor.candidates import SOURCE_ONLY, Candidate, candidate_grid, check_methods, score_run
from engine.advisor.halving import affordable, fit_budget
from engine.advisor.ranking import agreement_values, rank_candidates
from engine.advisor.recommend import build_report
from engine.core.config import TrainConfig
from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, Event, Finished, Log, Started
from engine.jobs.advise import AdviseConfig, AdviseReport

CANDIDATE_EVENT = "advise-candidate"  # Finished(job=CANDIDATE_EVENT): a candidate's row changed
ADAPTATION_COST = 2.2  # an adaptation step sees two batches (source and target) and more losses
# Methods whose step costs more than ADAPTATION_COST source-only steps. Self-ensembling's step
# learns the source twice (clean and augmented views), augments the target twice and runs the
# teacher on one view: 3.1 source-only steps measured (DANN 2.2, small_cnn, 32 px, batch 32, one thread).
METHOD_COST: dict[str, float] = {"self_ensembling": 3.1}
# Slow starters train this many times the epochs of every rung, so they are judged at the same
# maturity as the others. Self-ensembling's wide augmentation slows its source fit: after the
# first rung's 3 epochs its source accuracy was 0.62-0.68 against 0.81-0.86 for the others and the
# ranking put it last where it was best; trained 6 beside the others' 3, the shipped rule's
# rung-0 regret on the shift zoo went from 7.5 to 3.0 points (README, *The method advisor*).
SLOW_STARTERS: dict[str, int] = {"self_ensembling": 2}
FEW_TARGET = 100


def train_config(cfg: AdviseConfig, cand: Candidate | None, epochs: int, name: str, full: bool = False) -> TrainConfig:
    """A candidate's run; `full` is "Train the recommended": the app's own weight averaging."""
    assert cfg.source is not None
    return TrainConfig(
        source=cfg.source,
        target=cfg.target,
        target_test=cfg.target_test,
        method=cand.method if cand else SOURCE_ONLY,
        method_options=dict(cand.options) if cand else {},
        backbone=cfg.backbone,
        weights=cfg.weights,
        image_size=cfg.image_size,
        epochs=epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        device=cfg.device,
        runs_dir=cfg.runs_dir,
        name=name,
        ema_decay=None if full else cfg.ema_decay,
    )


def candidate_backbone(cfg: AdviseConfig, method: str) -> str:
    """A candidate's backbone: the one chosen for all, else its method's own default."""
    from engine.methods import default_backbone

    return cfg.backbone or default_backbone(method)


def cost_factor(method: str) -> float:
    """A candidate's epoch in source-only epochs, for the plan: METHOD_COST, else ADAPTATION_COST
    for a method that trains on the target, else 1."""
    from engine.methods import get_method

    if method in METHOD_COST:
        return METHOD_COST[method]
    return ADAPTATION_COST if get_method(method).uses_target else 1.0


def method_epochs(method: str, epochs: int) -> int:
    """A candidate's epochs in a rung of `epochs`: SLOW_STARTERS times them for a slow starter."""
    return epochs * SLOW_STARTERS.get(method, 1)


def probe_epoch_seconds(
    cfg: AdviseConfig, backbone: str, num_classes: int, size: int, n_train: int, device: Any
) -> float:
    """Seconds of one source-only epoch on `backbone`, from timing two optimiser steps (plus the
    epoch-end evaluation, about a third of an epoch's forward passes)."""
    import torch

    from engine.models.classifier import build_model

    model = build_model(backbone, num_classes, weights="random").to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    batch = min(cfg.batch_size, max(n_train, 2))
    x = torch.rand(batch, 3, size, size, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    steps = max(1, n_train // batch)
    return min(times[1:]) * steps * 1.35 + 0.5


class Advice:
    """One advice run: its config, data, state and the work between."""

    def __init__(self, cfg: AdviseConfig, state: AdviceState, advice_dir: Path, emit: Emit, control: JobControl):
        from engine.data.prepare import DecodeCache
        from engine.training.devices import pick_device

        self.cfg, self.state, self.dir, self.emit, self.control = cfg, state, advice_dir, emit, control
        self.cache = DecodeCache()
        self.device = pick_device(cfg.device)
        self.t0 = time.perf_counter()
        self.elapsed0 = state.elapsed_s
        self.cands = candidate_grid(cfg.methods, cfg.grid_points, cfg.grid)

    # ------------------------------------------------------------------ time
    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def save(self) -> None:
        self.state.elapsed_s = self.elapsed()
        save_state(self.dir, self.state)

    def warn(self, message: str) -> None:
        if message not in self.state.warnings:
            self.state.warnings.append(message)
        self.emit(Log(message, "warning"))

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        from engine.data.prepare import prepare_data
        from engine.models.backbones import get_backbone_spec

        size = self.cfg.image_size or get_backbone_spec(candidate_backbone(self.cfg, SOURCE_ONLY)).input_size
        probe_cfg = train_config(self.cfg, None, 1, "probe")
        self.data = prepare_data(probe_cfg, size, self.emit, self.control, self.cache)
        self.size = size
        n_target = len(self.data.x_target) if self.data.x_target is not None else 0
        if n_target < FEW_TARGET:
            self.warn(
                f"The target has only {n_target} images: the label-free scores are noisy under ~{FEW_TARGET}; "
                "treat the ranking as a hint and add target images if you can."
            )

    def plan(self) -> None:
        """The successive-halving plan that fits the budget (made once; a resumed advice keeps it)."""
        if self.state.rungs:
            return
        backbones = [candidate_backbone(self.cfg, c.method) for c in self.cands]
        n_classes, n_train = len(self.data.classes), len(self.data.x_train)
        base = {b: probe_epoch_seconds(self.cfg, b, n_classes, self.size, n_train, self.device) for b in set(backbones)}
        costs = [
            base[b] * cost_factor(c.method) * method_epochs(c.method, 1)
            for c, b in zip(self.cands, backbones, strict=True)
        ]
        plan = fit_budget(costs, self.cfg.min_epochs, self.cfg.max_epochs, self.cfg.budget_minutes * 60, self.cfg.eta)
        self.state.candidates = plan.candidates
        self.state.rungs = [(r.epochs, r.keep) for r in plan.rungs]
        if plan.candidates < len(self.cands):
            left = ", ".join(c.label for c in self.cands[plan.candidates :])
            self.warn(f"The budget fits {plan.candidates} of {len(self.cands)} candidates; not tried: {left}.")
        for i in range(plan.candidates):
            self.state.entries.append(self.entry(i, 0))
        slow = sorted(
            {f"{c.method} {method_epochs(c.method, 1)}" for c in self.cands if method_epochs(c.method, 1) > 1}
        )
        self.emit(
            Log(
                f"Plan: {plan.candidates} candidates, rungs "
                + ", ".join(f"{r.keep}×{r.epochs} epochs" for r in plan.rungs)
                + (f" (slow starters train longer: {', '.join(slow)}× the epochs)" if slow else "")
                + f"; about {plan.estimated_s / 60:.1f} of {self.cfg.budget_minutes:g} minutes."
            )
        )

    def entry(self, i: int, rung: int) -> Entry:
        cand = self.cands[i]
        epochs = method_epochs(cand.method, self.state.rungs[rung][0])
        return Entry(candidate=i, rung=rung, epochs=epochs, method=cand.method, options=cand.options, label=cand.label)

    # ------------------------------------------------------------------ one candidate
    def forward(self, event: Event) -> None:
        """A candidate run's events: its progress and log lines; its Started/Finished stay inside."""
        if not isinstance(event, (Started, Finished)):
            self.emit(event)

    def train(self, e: Entry) -> None:
        from engine.training.step import NonFiniteLoss
        from engine.training.trainer import run_train

        cand = self.cands[e.candidate]
        t0 = time.perf_counter()
        e.status = "running"
        self.save()
        self.emit(Log(f"Training {e.label} for {e.epochs} epochs (rung {e.rung + 1})."))
        try:
            if e.run_dir and (Path(e.run_dir) / "checkpoints" / "last.pt").is_file():
                result = run_train(emit=self.forward, control=self.control, resume=e.run_dir, cache=self.cache)
            else:
                name = f"{self.dir.name}-c{e.candidate:02d}-{cand.slug}-e{e.epochs}"
                tc = train_config(self.cfg, cand, e.epochs, name)
                result = run_train(tc, self.forward, self.control, cache=self.cache)
        except NonFiniteLoss as err:
            e.status, e.reason = "dropped", f"diverged: {err}"
            self.warn(f"{e.label}: dropped, it diverged ({err}).")
            return
        finally:
            e.seconds += time.perf_counter() - t0
        e.run_dir = str(result.run_dir)
        if result.status == "stopped":
            e.status = "stopped"
            self.save()
            raise Stopped()
        t1 = time.perf_counter()
        scores = score_run(result.run_dir, self.data, self.device, seed=self.cfg.seed)
        e.seconds += time.perf_counter() - t1
        e.scores = {k: v for k, v in scores.as_dict().items() if math.isfinite(v)}
        if scores.target_probs is not None and scores.finite():
            save_probs(self.dir, e, scores.target_probs)
        if not scores.finite():
            e.status, e.reason = "dropped", "diverged: its predictions are not finite (NaN)"
            self.warn(f"{e.label}: dropped, {e.reason}.")
        else:
            e.status = "finished"

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        rung = 0
        while rung < len(self.state.rungs):
            for e in self.state.rung_entries(rung):
                if e.done:
                    continue
                self.control.check()
                if not self.fits(e):
                    e.status, e.reason = "skipped", "the time budget ran out"
                    continue
                self.train(e)
                self.rank(rung)
                self.save()
                self.emit(Finished(CANDIDATE_EVENT, str(self.dir), e.scores))
                if e.rung == 0 and e.method == SOURCE_ONLY and e.status == "finished" and self.state.shift is None:
                    self.measure_shift(e)
            self.rank(rung)
            self.promote(rung)
            self.save()
            rung += 1

    def fits(self, e: Entry) -> bool:
        per_epoch = self.epoch_cost(e.method)
        cost = e.epochs * (per_epoch if per_epoch else 0.0)
        if e.rung == 0 and e.candidate == 0:
            return True  # the source-only run always trains: the plan said one fits
        return self.elapsed() + cost <= self.cfg.budget_minutes * 60 * 1.1

    def epoch_cost(self, method: str | None = None) -> float:
        """Measured seconds per epoch of `method`'s finished candidates (methods differ up to 7×:
        self-ensembling on its own backbone), else of all adaptation candidates; 0 before any."""
        done = [e for e in self.state.entries if e.status == "finished" and e.method != SOURCE_ONLY]
        own = [e for e in done if e.method == method] or done
        return sum(e.seconds / e.epochs for e in own) / len(own) if own else 0.0

    def measure_shift(self, e: Entry) -> None:
        from engine.advisor.shift import measure_shift

        shift = measure_shift(e.run_dir, self.data, self.device, self.cfg.seed, self.cfg.small_shift)
        self.state.shift = shift
        self.emit(Log(f"Shift: {shift.message}"))
        if shift.size == "small" and self.cfg.small_shift > 0:
            for other in self.state.entries:
                if not other.done:
                    other.status, other.reason = "skipped", "the shift is small: source-only is enough"
            self.state.rungs = self.state.rungs[:1]
        self.save()

    def rank(self, rung: int) -> None:
        """Rank this rung's finished candidates. Unless the shift is small (or `compare_source_only`),
        source-only is the baseline, not a contender: source accuracy and DEV favour it by design
        (adaptation trades some source accuracy for the target), and on the shift zoo it ranked
        first where every adaptation candidate beat it on the target (docs/advisor.md)."""
        shift = self.state.shift
        baseline = not self.cfg.compare_source_only and shift is not None and shift.size != "small"
        entries = [
            e
            for e in self.state.rung_entries(rung)
            if e.status == "finished" and not (baseline and e.method == SOURCE_ONLY)
        ]
        rows: list[dict[str, float | None]] = [dict(e.scores) for e in entries]
        for row in rows:
            row.pop("agreement", None)
            row.pop("target_acc", None)  # never used to choose
        n_val = len(self.data.x_val)
        for e in self.state.rung_entries(rung):
            e.scores.pop("agreement", None)  # recomputed below for the candidates ranked now
        probs = [load_probs(self.dir, e) for e in entries]
        agree, _ = agreement_values(rows, probs, self.cfg.val_gate, self.cfg.skew_band)
        for e, a in zip(entries, agree, strict=True):  # shown whatever the ranking (it depends on the rung)
            if a is not None:
                e.scores["agreement"] = a
        order, values = rank_candidates(
            rows,
            self.cfg.rank_by,
            self.cfg.val_gate,
            self.cfg.score_weights,
            n_val,
            self.cfg.tie_z,
            probs,
            self.cfg.skew_band,
        )
        for e in self.state.rung_entries(rung):
            e.rank, e.combined = None, None
            if baseline and e.method == SOURCE_ONLY and e.status == "finished":
                e.reason = f"the baseline: the shift is {shift.size if shift else ''}, adaptation candidates are ranked"
        for pos, i in enumerate(order):
            entries[i].rank, entries[i].combined = pos + 1, values[i]

    def promote(self, rung: int) -> None:
        """The next rung's entries: the best `keep` of this rung if the budget left fits them, else
        the most of the best that it fits, at their measured costs; none when not even one fits."""
        if rung + 1 >= len(self.state.rungs) or self.state.rung_entries(rung + 1):
            return
        left = self.cfg.budget_minutes * 60 - self.elapsed()
        epochs, keep = self.state.rungs[rung + 1]
        ranked = sorted((e for e in self.state.rung_entries(rung) if e.rank), key=lambda e: e.rank or 0)
        # a rung's epoch costs a slow starter `method_epochs` of its own epochs
        costs = [self.epoch_cost(e.method) * method_epochs(e.method, 1) for e in ranked]
        n = affordable(epochs, costs, keep, left)
        if n == 0:
            if ranked:
                self.emit(Log(f"The budget left ({left / 60:.1f} min) fits no longer run: the advice ends here."))
            self.state.rungs = self.state.rungs[: rung + 1]
            return
        if n < min(keep, len(ranked)):
            self.emit(Log(f"The budget left ({left / 60:.1f} min) fits the best {n} of {keep} for {epochs} epochs."))
        self.state.rungs[rung + 1] = (epochs, n)
        for e in ranked[:n]:
            self.state.entries.append(self.entry(e.candidate, rung + 1))


def advise(config: AdviseConfig, emit: Emit, control: JobControl) -> AdviseReport:
    """Run (or resume) an advice; a Stop returns the report so far with status 'stopped'."""
    if config.resume is not None:
        state = load_state(config.resume)
        cfg = AdviseConfig.model_validate(state.config)
        advice_dir = Path(config.resume).expanduser()
    else:
        if config.source is None or config.target is None:
            raise UserError("advise needs a labelled source folder (--source) and a target folder (--target).")
        cfg = config
        check_methods(cfg.methods)
        candidate_grid(cfg.methods, cfg.grid_points, cfg.grid)  # refuses a bad grid before any folder is made
        if cfg.min_epochs > cfg.max_epochs:
            raise UserError(f"min_epochs = {cfg.min_epochs} is above max_epochs = {cfg.max_epochs}; lower it.")
        advice_dir = None  # made once the data is known to be usable
        state = AdviceState(config=cfg.model_dump(mode="json"))
    emit(Started("advise", str(advice_dir or ""), 0))
    work = Advice(cfg, state, advice_dir or Path(), emit, control)
    work.prepare()
    work.plan()  # refuses a budget too small for one candidate before any folder is made
    if advice_dir is None:
        advice_dir = new_advice_dir(Path(cfg.runs_dir))
        work.dir = advice_dir
        emit(Log(f"Advice folder: {advice_dir}"))
    state.status = "running"
    work.save()
    try:
        work.run()
        state.status = "finished"
    except Stopped:
        state.status = "stopped"
        emit(Log(f"Stopped; resume with: transfer-studio advise --resume {advice_dir}"))
    work.save()
    report = build_report(cfg, state, advice_dir)
    emit(Finished("advise", str(advice_dir), {}, stopped=state.status == "stopped"))
    return report
