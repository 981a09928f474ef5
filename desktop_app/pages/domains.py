"""Domains page: the domain shift made visible. Source and target features of two runs ("before",
e.g. source-only, and "after", e.g. DANN) embedded in 2-D side by side, with each run's proxy
A-distance; "Live" re-embeds the run being trained whenever it saves a new checkpoint.

Each side is engine.analysis.embedding.embed_run in its own JobRunner (it imports torch, so only inside
the job); the UI thread only draws the returned numpy arrays.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.jobs import JobRunner
from desktop_app.pages.base import Page
from desktop_app.state import AppState
from desktop_app.widgets.embedding_plot import ColourBy, EmbeddingPlot
from desktop_app.widgets.form_utils import button, combo, form, hbox, headline, label, spin, splitter, tipped
from desktop_app.widgets.run_chooser import RunChooser, checkpoint_combo, checkpoint_mtime, running_run
from engine.core.runs import Run, list_runs
from engine.jobs import embed
from engine.jobs.embed import EmbedConfig, EmbedReport

SIDES = ("before", "after")
SOURCE_ONLY = "finetune"
# OpenMP pools (t-SNE's) are capped at half the cores: with training running in the same process
# (Live) or the other side's job, a full pool spins against busy cores (40 s instead of 1 s seen).
EMBED_THREADS = max(1, (os.cpu_count() or 2) // 2)


class DomainsPage(Page):
    """Two runs' embeddings side by side. Signal `embedded(side, EmbedReport)`.

    Not a JobPage: it runs the embed job for two runs at once, one JobRunner per side."""

    title = "Domains"
    icon = "SP_ArrowRight"
    embedded = Signal(str, object)  # "before" | "after", EmbedReport

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.results: dict[str, EmbedReport | None] = dict.fromkeys(SIDES)
        self._quiet: dict[str, bool] = dict.fromkeys(SIDES, False)
        self._embedded_mtime = 0.0
        self._before_chosen = False
        self._pending: set[str] = set()  # sides whose job has not reported yet (finished or failed)
        self.runners = {side: JobRunner(self) for side in SIDES}
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._choose_default_before()
        self._update_labels()

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
        self.after_chooser = tipped(
            RunChooser(self.state),
            "The run to inspect, e.g. a domain adaptation run (DANN, CDAN...). Live follows the run being trained.",
        )
        self.before_chooser = tipped(
            RunChooser(self.state), "The run to compare with, e.g. the source-only (finetune) run on the same folders."
        )
        self.method_combo = combo(
            [("PCA", "pca"), ("t-SNE", "tsne")],
            "PCA: fast and faithful to distances (default). t-SNE: shows clusters better, "
            "takes seconds and its axes mean nothing.",
        )
        self.colour_combo = combo(
            [("by domain", "domain"), ("by class", "class")],
            "Colour the dots by domain (source / target) or by class (source filled, target hollow).",
        )
        self.limit = spin(
            4, 5000, 300, "Images per domain to embed (a seeded random sample). More: truer picture, slower."
        )
        self.checkpoint = tipped(
            checkpoint_combo(), "Which checkpoint's features to embed. Live watches this checkpoint file."
        )
        self.embed_button = button("Embed", "Compute both embeddings again (in the background).")
        self.live = tipped(
            QCheckBox("Live"),
            "Re-embed the 'after' side whenever its run saves a new checkpoint; follows the run "
            "being trained on the Train page.",
        )
        self.interval = spin(2, 600, 10, "How often Live looks for a new checkpoint.", suffix=" s")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(160)
        self.progress.setVisible(False)
        self.status = label()
        self.pad_label = headline(
            tip="Proxy A-distance: 2 (1 - 2 err) where err is the held-out error of a linear classifier "
            "telling source from target features. 0: indistinguishable; 2: fully separable."
        )
        self.plots = {"before": EmbeddingPlot("Before"), "after": EmbeddingPlot("After")}
        self.plots["before"].setToolTip("Features of the 'before' run: source and target images through its network.")
        self.plots["after"].setToolTip("Features of the 'after' run: source and target images through its network.")
        self.timer = QTimer(self)

    def _build_layout(self) -> None:
        options = hbox(
            "Projection:",
            self.method_combo,
            "Colour:",
            self.colour_combo,
            "Images per domain:",
            self.limit,
            "Checkpoint:",
            self.checkpoint,
            None,
        )
        actions = hbox(self.embed_button, self.live, "every", self.interval, self.progress, (self.status, 1))
        layout = QVBoxLayout(self)
        layout.addLayout(form(("Before:", self.before_chooser), ("After:", self.after_chooser)))
        layout.addLayout(options)
        layout.addLayout(actions)
        layout.addWidget(self.pad_label)
        layout.addWidget(splitter(Qt.Orientation.Horizontal, self.plots["before"], self.plots["after"], stretch=()), 1)

    def _connect(self) -> None:
        for side, runner in self.runners.items():
            runner.finished.connect(lambda result, s=side: self._on_finished(s, result))
            runner.failed.connect(lambda message, details, s=side: self._on_failed(s, message, details))
            runner.running_changed.connect(lambda _: self._on_running_changed())
        self.embed_button.clicked.connect(lambda: self.embed())
        self.colour_combo.currentIndexChanged.connect(self._on_colour_changed)
        self.before_chooser.combo.activated.connect(lambda _: setattr(self, "_before_chosen", True))
        self.after_chooser.changed.connect(lambda _: self._choose_default_before())
        self.live.toggled.connect(self._on_live_toggled)
        self.interval.valueChanged.connect(lambda v: self.timer.setInterval(int(v) * 1000))
        self.timer.setInterval(self.interval.value() * 1000)
        self.timer.timeout.connect(self.live_tick)
        self.state.run_changed.connect(self._on_state_run_changed)
        self.state.runs_updated.connect(self._on_runs_updated)

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        if not self.busy():
            self.after_chooser.refresh()
            self.before_chooser.refresh()
            self._choose_default_before()

    def busy(self) -> bool:
        """True from Embed until every started side has shown its result or error."""
        return bool(self._pending) or any(r.running for r in self.runners.values())

    def shutdown(self) -> None:
        self.timer.stop()
        for runner in self.runners.values():
            runner.stop_and_wait()

    def stop(self) -> None:
        """Drop pending embeddings (one already computing finishes; it takes seconds)."""
        self.live.setChecked(False)
        for runner in self.runners.values():
            runner.stop()

    def set_runs(self, before: str, after: str) -> None:
        """Choose both runs (counts as the user's choice of 'before')."""
        self.after_chooser.set_run_dir(after)
        self.before_chooser.set_run_dir(before)
        self._before_chosen = True

    def set_method(self, method: str) -> None:
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(method)))

    def embed(self, sides: tuple[str, ...] = SIDES, quiet: bool = False) -> list[str]:
        """Start the embeddings of `sides` that have a run and are not computing; returns those started.

        `quiet`: failures go to the status line instead of an error dialog (Live refreshes)."""
        started: list[str] = []
        runs = {"before": self.before_chooser.run_dir(), "after": self.after_chooser.run_dir()}
        if not runs["after"] and not quiet:
            errors.show_error(self, "Choose a run to inspect (train one with a target folder on the Train page).")
            return started
        for side in sides:
            run_dir = runs[side]
            if not run_dir or side in self._pending:
                continue
            if side == "before" and run_dir == runs["after"]:
                self.results["before"] = None
                self.plots["before"].clear()
                continue
            which = str(self.checkpoint.currentData())
            if side == "after":
                self._embedded_mtime = checkpoint_mtime(run_dir, which)
            self._quiet[side] = quiet
            self._pending.add(side)
            self.plots[side].title.setText(f"{side.capitalize()}: {Path(run_dir).name} — computing…")
            config = EmbedConfig(
                run_dir=Path(run_dir),
                method=self.method_combo.currentData(),
                limit=self.limit.value(),
                checkpoint=which,
                threads=EMBED_THREADS,
            )
            self.runners[side].run_job(embed.JOB, config)
            started.append(side)
        if started:
            self.status.setText(f"Embedding {' and '.join(started)}…")
        self._update_labels()
        return started

    def live_tick(self) -> bool:
        """Live: follow the run being trained and re-embed it when its checkpoint changed. True when started."""
        if not self.live.isChecked():
            return False
        running = running_run(self.state.runs_dir)
        if running and running != self.after_chooser.run_dir() and "after" not in self._pending:
            self.after_chooser.refresh(running)
            self._embedded_mtime = 0.0
        run_dir = self.after_chooser.run_dir()
        if not run_dir or "after" in self._pending:
            return False
        mtime = checkpoint_mtime(run_dir, str(self.checkpoint.currentData()))
        if mtime == 0.0 or mtime == self._embedded_mtime:
            return False
        return bool(self.embed(("after",), quiet=True))

    # ------------------------------------------------------------------ internals
    def _choose_default_before(self) -> None:
        """Unless the user chose one: a source-only run on the same source as 'after', else another run."""
        if self._before_chosen:
            return
        after = self.after_chooser.run_dir()
        try:
            source = str(Run(Path(after)).config().source) if after else ""
        except Exception:
            source = ""
        ranked: list[tuple[int, str]] = []
        for run in list_runs(self.state.runs_dir):
            if str(run.path) == after:
                continue
            score = 2 if run.info().get("method") == SOURCE_ONLY else 0
            with contextlib.suppress(Exception):
                score += 1 if source and str(run.config().source) == source else 0
            ranked.append((score, str(run.path)))
        if ranked:
            best = max(ranked, key=lambda t: t[0])[1]  # max keeps the first (newest-listed) among equals
            self.before_chooser.set_run_dir(best)

    def _update_labels(self) -> None:
        for side in SIDES:
            result, run_dir = (
                self.results[side],
                (self.before_chooser if side == "before" else self.after_chooser).run_dir(),
            )
            if side in self._pending:
                continue
            if result is None:
                text = f"{side.capitalize()}: " + (
                    "same run as After: choose another run to compare"
                    if side == "before" and run_dir and run_dir == self.after_chooser.run_dir()
                    else "press Embed"
                )
            else:
                info = result.info
                text = (
                    f"{side.capitalize()}: {info.get('run', Path(run_dir).name)} ({info.get('method', '?')}), "
                    f"{result.n_source} source + {result.n_target} target images — proxy A-distance "
                    f"{result.proxy_a_distance:.2f}"
                )
            self.plots[side].title.setText(text)
        after = self.results["after"]
        if after is not None:
            from engine.analysis.embedding import describe_shift  # numpy only; the page's words live there

            self.pad_label.setText(describe_shift(after, self.results["before"]))
        else:
            self.pad_label.setText("Embed the runs to see how far apart source and target features are.")

    def _on_finished(self, side: str, result: EmbedReport) -> None:
        self._pending.discard(side)
        self.results[side] = result
        self.plots[side].set_result(result)
        self.plots[side].set_colour_by(self._colour_by())
        self._update_labels()
        self._on_running_changed()
        if not self.busy():
            self.status.setText(
                "Done."
                if not self.live.isChecked()
                else f"Live: watching {Path(self.after_chooser.run_dir()).name} for new checkpoints."
            )
        self.embedded.emit(side, result)

    def _on_failed(self, side: str, message: str, details: str) -> None:
        self._pending.discard(side)
        self._on_running_changed()
        self._update_labels()
        if self._quiet[side]:
            self.status.setText(f"{side.capitalize()}: {message}")
            self.status.setToolTip(details)
            return
        self.status.setText(f"{side.capitalize()} failed.")
        errors.show_error(self, message, details)

    def _on_running_changed(self) -> None:
        busy = self.busy()
        self.progress.setRange(0, 0 if busy else 1)
        self.progress.setVisible(busy)
        for widget in (self.method_combo, self.limit, self.checkpoint, self.before_chooser):
            widget.setEnabled(not busy)
        self.after_chooser.setEnabled(not busy)

    def _on_colour_changed(self, _index: int) -> None:
        for plot in self.plots.values():
            plot.set_colour_by(self._colour_by())

    def _colour_by(self) -> ColourBy:
        """The colour combo's choice; its items carry only 'domain' and 'class'."""
        return "class" if self.colour_combo.currentData() == "class" else "domain"

    def _on_live_toggled(self, on: bool) -> None:
        if on:
            self.timer.start()
            self.status.setText(
                f"Live: watching {Path(self.after_chooser.run_dir()).name or 'the current run'} for new checkpoints."
            )
            self.live_tick()
        else:
            self.timer.stop()

    def _on_state_run_changed(self, run_dir: str) -> None:
        if not run_dir or "after" in self._pending:
            return
        self.after_chooser.set_run_dir(run_dir)
        if self.live.isChecked():
            self.live_tick()

    def _on_runs_updated(self) -> None:
        if not self.busy():
            self.after_chooser.refresh()
            self.before_chooser.refresh()
            self._choose_default_before()
        if self.live.isChecked():
            self.live_tick()
