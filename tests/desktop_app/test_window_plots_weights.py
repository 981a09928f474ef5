"""Issue 10, points 10 and 12: plots that read right, and pretrained weights downloaded from the picker."""

from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor

from desktop_app.widgets.live_plot import HISTORY_FILE, LivePlots
from desktop_app.widgets.plot_style import IntegerAxis, metric_colour, style_plot


# ----------------------------------------------------------------------------- 10: plots
def test_accuracy_in_percent_whole_number_ticks_no_si_prefix(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.add("val/acc", 100, 0.85, epoch=True)
    plots.add("val/acc", 200, 0.93, epoch=True)
    plots.refresh()
    ys = plots.curve("val/acc", epoch=True).yData
    assert list(np.round(ys, 6)) == [85.0, 93.0]
    item = plots.plot("Accuracy").getPlotItem()
    assert item.getAxis("left").labelText == "%"
    for side in ("left", "bottom"):
        assert item.getAxis(side).autoSIPrefix is False
    axis = item.getAxis("bottom")
    assert isinstance(axis, IntegerAxis)
    assert all(major >= 1 and float(major).is_integer() for major, _ in axis.tickSpacing(0, 3, 400))
    assert axis.tickStrings([1.0, 2.0], 1.0, 1.0) == ["1", "2"]


def test_compare_plot_style_shows_percent_without_the_x0001_prefix(qtbot):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    legend = style_plot(plot, "epoch", QColor("black"))
    plot.plot([1, 2, 3], [80.0, 90.0, 95.0], name="run-a")
    plot.resize(500, 300)
    plot.show()
    qtbot.waitExposed(plot)
    left = plot.getPlotItem().getAxis("left")
    assert left.autoSIPrefix is False and left.autoSIPrefixScale == 1.0  # never "(x0.001)"
    assert [item[1].text for item in legend.items] == ["run-a"]
    vb = plot.getPlotItem().getViewBox().sceneBoundingRect()
    assert not legend.sceneBoundingRect().intersects(vb)  # the legend is outside the data


def test_one_colour_per_metric_across_runs_and_resumes(qtbot):
    first, second = LivePlots(), LivePlots()
    for plots in (first, second):
        qtbot.addWidget(plots)
    first.extend("loss", [1, 2], [1.0, 0.9])
    first.extend("lambda", [1, 2], [0.1, 0.2])
    first.refresh()
    second.extend("lambda", [1, 2], [0.1, 0.2])  # another order, another run: same colours
    second.extend("loss", [1, 2], [1.0, 0.9])
    second.refresh()
    second.refresh()
    for key in ("loss", "lambda"):
        a = first.curve(key).opts["pen"].color().name()
        b = second.curve(key).opts["pen"].color().name()
        assert a == b == QColor(metric_colour(key)).name()
    assert metric_colour("train/acc") != metric_colour("val/acc") != metric_colour("target/acc")


def test_per_step_history_survives_a_resume(qtbot, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 3000, "val/acc": 0.9}) + "\n")
    plots = LivePlots()
    qtbot.addWidget(plots)
    steps = np.arange(1, 3001)
    plots.extend("loss", steps, 1.0 / steps)
    plots.extend("train/acc", steps, np.linspace(0.1, 0.9, len(steps)))
    assert plots.save_history(run) == run / HISTORY_FILE
    resumed = LivePlots()  # the window after a restart
    qtbot.addWidget(resumed)
    resumed.load_history(run)
    for _ in range(3):
        resumed.refresh()
    loss = resumed.curve("loss")
    assert loss is not None and 1000 <= len(loss.xData) <= 2001  # thinned, not dropped
    assert loss.xData[0] == 1 and loss.xData[-1] == 3000
    acc = resumed.curve("train/acc").yData
    assert acc[-1] == pytest.approx(90.0)  # stored in engine units, shown in percent again
    assert resumed.curve("val/acc", epoch=True).yData[0] == pytest.approx(90.0)


# ----------------------------------------------------------------------------- 12: weights
@pytest.fixture
def online(monkeypatch, tmp_path):
    monkeypatch.delenv("TRANSFER_STUDIO_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _pretrained_backbone() -> str:
    from engine.models.backbones import BACKBONES

    return next(s.name for s in BACKBONES.values() if s.has_pretrained)


def test_download_weights_reports_progress_into_the_hub_cache(online, engine_info, tmp_path):
    """The download path end to end on a local file:// URL (tests never reach the network)."""
    import dataclasses

    from engine.core.control import JobControl, Stopped
    from engine.models.backbones import BACKBONES
    from engine.models.weights import download_weights

    source = tmp_path / "served.pth"
    source.write_bytes(bytes(range(256)) * 40)  # 10,240 bytes
    spec = dataclasses.replace(BACKBONES.get(_pretrained_backbone()), weights_url=source.as_uri())
    seen: list[tuple[int, int]] = []
    path = download_weights(spec, lambda d, t: seen.append((d, t)), chunk=4096)
    assert path == online / spec.weights_file and path.read_bytes() == source.read_bytes()
    assert seen == [(4096, 10240), (8192, 10240), (10240, 10240)]

    path.unlink()  # stopped half-way: nothing half-written is left in the cache
    control = JobControl()
    with pytest.raises(Stopped):
        download_weights(spec, lambda d, t: control.stop(), control, chunk=4096)
    assert not path.exists() and not list(online.glob("*.tmp"))


def test_picker_offers_download_when_online_and_missing(qtbot, online, engine_info, monkeypatch):
    from desktop_app.widgets.backbone_picker import BackbonePicker

    picker = BackbonePicker()
    qtbot.addWidget(picker)
    picker.populate()
    picker.set_choice(_pretrained_backbone(), "pretrained")
    assert picker.download_button.isVisibleTo(picker) and picker.is_valid()
    text = picker.message.text()
    assert "Download weights" in text and "put it there" not in text  # one instruction, not two
    monkeypatch.setenv("TRANSFER_STUDIO_OFFLINE", "1")
    picker.set_choice(_pretrained_backbone(), "pretrained")
    assert not picker.download_button.isVisibleTo(picker) and not picker.is_valid()
    monkeypatch.delenv("TRANSFER_STUDIO_OFFLINE")

    def fake_download(spec, progress=None, control=None, fetch=None):
        progress(5, 10)
        dest = online / spec.weights_file
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"tiny")
        return dest

    monkeypatch.setattr("engine.models.weights.download_weights", fake_download)
    picker.set_choice(_pretrained_backbone(), "pretrained")
    assert picker.download()
    qtbot.waitUntil(lambda: not picker.runner.running, timeout=10_000)
    assert not picker.download_button.isVisibleTo(picker)
    assert picker.message.text().startswith("Pretrained weights found")
