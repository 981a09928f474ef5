"""Cluster page, driven like a user: pretrain on a folder, cluster, rename / merge / move / drop
with undo, save as a labelled folder and use it as a domain; bad input shown, files untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

import desktop_app.pages.cluster as cluster_module
from desktop_app.pages.cluster import ClusterPage
from engine.analysis.clustering import ClusterReport

TIMEOUT_MS = 180_000
LEFT = Qt.MouseButton.LeftButton


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def page(pages_open, demo_state):
    return pages_open(ClusterPage, demo_state, (1000, 700))


def _cluster(qtbot, page: ClusterPage, folder: Path, k: int) -> ClusterReport:
    page.folder.choose(str(folder))
    page.k.setValue(k)
    with qtbot.waitSignal(page.clustered, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.run_button, LEFT)
    return blocker.args[0]


def test_cluster_edit_undo_save_and_use_as_domain(
    qtbot, page, demo_state, tiny_demo, error_calls, monkeypatch, tmp_path
):
    before = _tree(tiny_demo.target_test)
    report = _cluster(qtbot, page, tiny_demo.target_test, 3)
    assert error_calls == []
    assert report.k == 3 and page.board.groups.count() == 3
    sizes = [len(g.members) for g in page.edits.groups]
    assert sum(sizes) == report.n_images and "NMI" in page.status.text()
    first = page.edits.groups[0]
    assert page.board.images.count() == len(first.members)
    assert page.board.images.item(0).data(Qt.ItemDataRole.UserRole) == first.members[0]  # most typical first

    # rename the chosen cluster (typing + Enter), then undo, then rename again
    page.board.groups.setCurrentRow(0)
    page.name_edit.setText("sevens")
    qtbot.mouseClick(page.rename_button, LEFT)
    assert page.edits.groups[0].name == "sevens" and page.board.groups.item(0).text().startswith("sevens")
    qtbot.mouseClick(page.undo_button, LEFT)
    assert page.edits.groups[0].name == "cluster_01"
    page.name_edit.setText("bad/name")
    qtbot.mouseClick(page.rename_button, LEFT)
    assert error_calls and "not a valid folder name" in error_calls[-1][0]
    assert page.edits.groups[0].name == "cluster_01"

    # move two images of cluster 1 to cluster 3, undo
    page.board.groups.setCurrentRow(0)
    page.board.images.item(0).setSelected(True)
    page.board.images.item(1).setSelected(True)
    moved = page.board.selected_images()
    page.move_target.setCurrentIndex(2)
    qtbot.mouseClick(page.move_button, LEFT)
    assert all(m in page.edits.groups[2].members for m in moved)
    assert len(page.edits.groups[0].members) == sizes[0] - 2
    qtbot.mouseClick(page.undo_button, LEFT)
    assert [len(g.members) for g in page.edits.groups] == sizes

    # drop one outlier, merge clusters 2 and 3, undo the merge
    page.board.groups.setCurrentRow(0)
    page.board.images.item(0).setSelected(True)
    qtbot.mouseClick(page.drop_button, LEFT)
    assert len(page.edits.groups[0].members) == sizes[0] - 1
    page.board.groups.clearSelection()
    page.board.groups.item(1).setSelected(True)
    page.board.groups.item(2).setSelected(True)
    qtbot.mouseClick(page.merge_button, LEFT)
    assert page.board.groups.count() == 2 and len(page.edits.groups[1].members) == sizes[1] + sizes[2]
    qtbot.mouseClick(page.undo_button, LEFT)
    assert page.board.groups.count() == 3

    # name all three and save as a labelled folder; use it as the target test domain
    for row, name in enumerate(["alpha", "beta", "gamma"]):
        page.board.groups.setCurrentRow(row)
        page.name_edit.setText(name)
        qtbot.mouseClick(page.rename_button, LEFT)
    dest = tmp_path / "labelled"
    page.dest_edit.setText(str(dest))
    monkeypatch.setattr(cluster_module, "ask_domain_role", lambda parent, folder: "target_test")
    with qtbot.waitSignal(page.saved, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.save_button, LEFT)
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ["alpha", "beta", "gamma"]
    assert sum(1 for _ in dest.rglob("*.png")) == report.n_images - 1  # the dropped image is left out
    assert demo_state.target_test == str(dest)
    assert _tree(tiny_demo.target_test) == before  # the user's files: not moved, not changed

    # saving again to the same place is refused unless replace is ticked
    with qtbot.waitSignal(page.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.save_button, LEFT)
    assert "already exists" in error_calls[-1][0]
    page.replace.setChecked(True)
    with qtbot.waitSignal(page.saved, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.save_button, LEFT)
    # a destination inside the folder being sorted is refused
    page.dest_edit.setText(str(tiny_demo.target_test / "out"))
    with qtbot.waitSignal(page.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.save_button, LEFT)
    assert "inside the image folder" in error_calls[-1][0]


def test_pretrain_on_folder_then_cluster_with_it(qtbot, page, tiny_demo, error_calls):
    page.folder.choose(str(tiny_demo.target_train))
    page.pretrain_epochs.setValue(1)
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.pretrain_button, LEFT)
    assert error_calls == []
    chosen = page.features_value()
    assert Path(chosen).parent == page.state.runs_dir and "pretrain" in page.features.currentText()
    report = _cluster(qtbot, page, tiny_demo.target_test, 2)
    assert report.features.startswith("pretraining run") and page.board.groups.count() == 2


def test_k_larger_than_the_folder_is_shown(qtbot, page, tmp_path, error_calls):
    from PIL import Image

    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 80, 0, 0)).save(folder / f"{i}.png")
    page.folder.choose(str(folder))
    page.k.setValue(5)
    with qtbot.waitSignal(page.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.run_button, LEFT)
    assert "k = 5" in error_calls[-1][0] and "only 3 readable images" in error_calls[-1][0]


def test_train_page_weights_picker_takes_a_pretraining_run(qtbot, tiny_demo, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from desktop_app.widgets.backbone_picker import BackbonePicker
    from engine.ssl.config import PretrainConfig
    from engine.ssl.pretrain import run_pretrain

    run = run_pretrain(PretrainConfig(data=[tiny_demo.target_train], epochs=1, batch_size=16, runs_dir=tmp_path))
    picker = BackbonePicker()
    qtbot.addWidget(picker)
    picker.populate()
    picker.weights_combo.setCurrentIndex(picker.weights_combo.findData("file"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(run.run_dir))
    qtbot.mouseClick(picker.run_browse, LEFT)
    assert picker.weights() == str(run.run_dir)
    ok, message = picker.status()
    assert ok and "pretrained by the run" in message
    picker.file_edit.setText(str(tiny_demo.source))
    assert picker.status() == (
        False,
        f"{tiny_demo.source}: not a pretraining run. Pick a run made by 'transfer-studio pretrain'.",
    )
