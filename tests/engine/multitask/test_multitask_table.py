"""Task tables: labels CSV and task folders read right, and every bad input of issue 14 refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.cli.train import parse_tasks
from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.multitask.data import prepare_multitask, split_keys, task_health
from engine.multitask.demo import MultitaskDemoPaths, parity_of
from engine.multitask.table import MISSING, from_csv, from_folders, read_tasks


def _images(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 20 % 255, 0, 0)).save(folder / f"{i}.png")
        names.append(f"{i}.png")
    return names


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_table_has_plentiful_and_scarce_tasks(mt_demo: MultitaskDemoPaths) -> None:
    table = from_csv(mt_demo.labels)
    assert table.tasks == ["digit", "parity"]
    assert table.classes["parity"] == ["even", "odd"]
    assert table.count("digit") == 200 and table.count("parity") == 12
    assert table.class_counts("parity") == {"even": 6, "odd": 6}
    d, p = table.tasks.index("digit"), table.tasks.index("parity")
    for row in table.labels:  # parity is the digit's, where given
        if row[p] != MISSING:
            assert table.classes["parity"][row[p]] == parity_of(int(table.classes["digit"][row[d]]))
    lines = [m for _, m in task_health(table)]
    assert any("'parity': 12 labelled images in 2 classes" in m for m in lines)
    assert any("share 12 images" in m for m in lines)
    assert any(level == "warning" and "'parity'" in m for level, m in task_health(table))


def test_task_folders_merge_by_file(tmp_path: Path) -> None:
    _images(tmp_path / "a" / "x", 3)
    names = _images(tmp_path / "a" / "y", 3)
    _images(tmp_path / "b" / "p", 2)
    (tmp_path / "b" / "q").mkdir()
    for n in names[:2]:  # links to task a's files: the same images, now with two labels
        (tmp_path / "b" / "q" / n).symlink_to(tmp_path / "a" / "y" / n)
    table = from_folders({"a": tmp_path / "a", "b": tmp_path / "b"})
    assert len(table) == 6 + 2  # 6 of a, 2 only in b; b's q images are a's y images
    assert table.shared("a", "b") == 2


def test_prepared_split_keeps_scarce_classes_on_both_sides(mt_demo: MultitaskDemoPaths, tmp_path: Path) -> None:
    cfg = TrainConfig(labels=mt_demo.labels, method="multitask", runs_dir=tmp_path)
    assert cfg.source == mt_demo.labels.parent  # a multitask config needs no source folder
    data = prepare_multitask(cfg, 32, lambda e: None)
    assert data.y_train.shape[1] == 2 and data.tasks == ["digit", "parity"]
    for y in (data.y_train, data.y_val):
        labelled = y[:, 1][y[:, 1] != MISSING]
        assert set(labelled.tolist()) == {0, 1}
    assert int((data.y_train[:, 1] != MISSING).sum()) >= 8  # ~80% of the 12 in training
    keys = split_keys(torch.tensor([[0, -1], [1, 0], [2, -1]]))
    assert keys == [(0, 0), (1, 0), (0, 2)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("path,digit,parity\n0.png,1,\n1.png,2,\n2.png,,odd\n3.png,,even\n", "no image in common"),
        ("path,digit,parity\n0.png,1,odd\n1.png,2,odd\n2.png,1,odd\n", "task 'parity' has one class ('odd'"),
        ("path,digit\n0.png,1\n0.png,2\n", "listed twice (first on row 2)"),
        ("file_name,digit\n0.png,1\n", "no path column"),
        ("path,2nd task\n0.png,1\n1.png,2\n", "task name '2nd task' is not usable"),
        ("path,digit,digit\n0.png,1,1\n1.png,2,2\n", "appear twice"),
        ("path,digit\nnope.png,1\nnope2.png,2\n", "none of the listed images exists"),
        ("path,digit,parity\n0.png,1,odd\n1.png,1,even\n2.png,,\n", "task 'digit' has one class ('1', 2 images)"),
    ],
)
def test_bad_tables_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    _images(tmp_path, 4)
    with pytest.raises(UserError) as err:
        from_csv(_csv(tmp_path / "labels.csv", text))
    assert needle in str(err.value)
    assert "labels.csv" in str(err.value)


def test_bad_task_options_are_refused(tmp_path: Path) -> None:
    (tmp_path / "one" / "only").mkdir(parents=True)
    _images(tmp_path / "one" / "only", 2)
    with pytest.raises(UserError, match="task 'solo' has one class"):
        from_folders({"solo": tmp_path / "one"})
    with pytest.raises(UserError, match="not both"):
        read_tasks({"a": tmp_path}, tmp_path / "labels.csv")
    with pytest.raises(UserError, match="NAME=FOLDER"):
        parse_tasks(["digit"])
    with pytest.raises(UserError, match="given twice"):
        parse_tasks(["a=x", "a=y"])
    assert parse_tasks(["digit = d", "parity=p"]) == {"digit": "d", "parity": "p"}
    with pytest.raises(UserError, match="task 'nothing' folder"):
        from_folders({"nothing": tmp_path / "missing"})


def test_check_command_reports_every_task(
    mt_demo: MultitaskDemoPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    assert main(["check", "--labels", str(mt_demo.labels)]) == 0
    out = capsys.readouterr().out
    assert "Task 'parity': 12 labelled images in 2 classes (even: 6, odd: 6)" in out and "OK to train." in out
    assert (
        main(["check", "--task", f"digit={mt_demo.tasks['digit']}", "--task", f"parity={mt_demo.tasks['parity']}"]) == 0
    )
    out = capsys.readouterr().out
    assert "Domain 'digit' (labelled)" in out and "Domain 'parity' (labelled)" in out
    _images(tmp_path, 4)
    bad = _csv(tmp_path / "labels.csv", "path,digit,parity\n0.png,1,\n1.png,2,\n2.png,,odd\n3.png,,even\n")
    assert main(["check", "--labels", str(bad)]) == 1
    assert "ERROR" in capsys.readouterr().out
