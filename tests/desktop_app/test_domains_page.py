"""Domains page, driven like a user: a DANN run against the source-only run, embedded side by side."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop_app.pages.domains import DomainsPage
from desktop_app.widgets.embedding_plot import EmbeddingPlot
from engine.core.runs import Run

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 120_000
N = 20  # images per domain: the tiny demo's target test folder holds 20


@pytest.fixture(scope="module")
def dann_run(pages_train, pages_demo) -> Path:
    """A finished 1-epoch DANN run on the same demo as `pages_run` (the source-only run)."""
    return pages_train("dann", method="dann", target=pages_demo.target_train)


@pytest.fixture
def runs(pages_state, pages_run, dann_run, pages_copy_run) -> dict[str, Path]:
    return {
        "before": pages_copy_run(pages_run, pages_state, "source-only"),
        "after": pages_copy_run(dann_run, pages_state, "dann"),
    }


@pytest.fixture
def page(pages_open, pages_state, runs):
    pages_state.set_run(str(runs["after"]))
    page = pages_open(DomainsPage, pages_state, (1300, 760))
    page.limit.setValue(N)
    return page


def wait_idle(qtbot, page) -> None:
    qtbot.waitUntil(lambda: not page.busy(), timeout=TIMEOUT_MS)


def test_embedding_plot_colours_by_domain_or_class(qtbot):
    plot = EmbeddingPlot("t")
    qtbot.addWidget(plot)
    pts = np.random.default_rng(0).normal(size=(10, 2))
    plot.set_data(pts, np.r_[np.zeros(6), np.ones(4)], np.array([0, 1, 0, 1, 0, 1, 0, -1, 1, 1]), ["cat", "dog"])
    assert plot.point_count() == 10 and plot.legend_names() == ["source (6)", "target (4)"]
    plot.set_colour_by("class")
    assert plot.point_count() == 10 and plot.legend_names() == ["no label", "cat", "dog"]
    with pytest.raises(ValueError):
        plot.set_data(pts, np.zeros(3))


def test_before_after_embeddings_with_proxy_a_distance(qtbot, page, runs, pages_errors, pages_screenshot):
    # the source-only run is picked as "before" by itself: same source, method finetune
    assert page.after_chooser.run_dir() == str(runs["after"])
    assert page.before_chooser.run_dir() == str(runs["before"])
    assert page.method_combo.currentData() == "pca"

    qtbot.mouseClick(page.embed_button, Qt.MouseButton.LeftButton)
    assert page.busy() and page.progress.isVisible()
    wait_idle(qtbot, page)
    assert pages_errors == []
    for side in ("before", "after"):
        result = page.results[side]
        assert result is not None and result.points.shape == (2 * N, 2)
        assert page.plots[side].point_count() == 2 * N
        assert page.plots[side].legend_names() == [f"source ({N})", f"target ({N})"]
        assert f"proxy A-distance {result.proxy_a_distance:.2f}" in page.plots[side].title.text()
    assert page.results["after"].info["method"] == "dann" and page.results["before"].info["method"] == "finetune"
    match = re.search(r"Proxy A-distance of the classifier's features (\d\.\d\d) -> (\d\.\d\d)", page.pad_label.text())
    assert match is not None
    assert float(match.group(1)) == pytest.approx(page.results["before"].proxy_a_distance, abs=0.005)
    assert float(match.group(2)) == pytest.approx(page.results["after"].proxy_a_distance, abs=0.005)
    accs = re.search(r"Target accuracy (\d+)% -> (\d+)%", page.pad_label.text())  # labelled target: shown too
    assert accs is not None
    assert int(accs.group(2)) == round(100 * page.results["after"].target_accuracy)

    page.colour_combo.setCurrentIndex(page.colour_combo.findData("class"))
    for side in ("before", "after"):
        assert page.plots[side].colour_by() == "class" and page.plots[side].point_count() == 2 * N
        assert set(page.plots[side].legend_names()) <= {str(d) for d in range(10)}
    qtbot.wait(200)  # let the layout settle before the (optional) screenshot
    pages_screenshot(page, "domains")

    page.set_method("tsne")
    assert page.embed(("after",)) == ["after"]
    wait_idle(qtbot, page)
    assert page.results["after"].method == "tsne" and page.plots["after"].point_count() == 2 * N
    assert pages_errors == []


def test_live_reembeds_when_the_checkpoint_changes_and_follows_a_running_run(
    qtbot, page, runs, pages_state, pages_copy_run, dann_run
):
    page.interval.setValue(600)  # the test ticks by hand
    with qtbot.waitSignal(page.embedded, timeout=TIMEOUT_MS) as blocker:
        page.live.setChecked(True)  # the first tick embeds the current run
    assert blocker.args[0] == "after" and page.timer.isActive()
    wait_idle(qtbot, page)
    assert page.live_tick() is False  # no new checkpoint: nothing to do

    best = Run(runs["after"]).checkpoint("best")
    stamp = best.stat().st_mtime + 5
    os.utime(best, (stamp, stamp))  # the trainer saved a new best checkpoint
    with qtbot.waitSignal(page.embedded, timeout=TIMEOUT_MS):
        assert page.live_tick() is True
    wait_idle(qtbot, page)

    running = pages_copy_run(dann_run, pages_state, "dann-running")
    Run(running).update_info(status="running", created=4_000_000_000)
    with qtbot.waitSignal(page.embedded, timeout=TIMEOUT_MS):
        assert page.live_tick() is True
    assert page.after_chooser.run_dir() == str(running)
    wait_idle(qtbot, page)
    page.live.setChecked(False)
    assert not page.timer.isActive() and page.live_tick() is False


def test_failure_shows_the_engine_message(qtbot, page, runs, pages_errors):
    for checkpoint in Run(runs["before"]).checkpoint_dir.glob("*.pt"):
        checkpoint.unlink()
    assert page.embed(("before",)) == ["before"]
    wait_idle(qtbot, page)
    assert len(pages_errors) == 1 and page.results["before"] is None
    assert "source-only" in pages_errors[0][0] or "checkpoint" in pages_errors[0][0].lower()
    assert page.status.text() == "Before failed."
