"""Point 6: an image or a sub-folder the user cannot read is named in the health report and skipped,
and the scan goes on; file names that are not valid UTF-8 are listed with U+FFFD, not a crash.

As root, permissions do not stop reads, so the tests also make the OS calls fail for those paths
(a non-root run exercises the real chmod)."""

from __future__ import annotations

import builtins
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import write_images

from engine.data import folders, health
from engine.data.folders import scan_domain
from engine.data.health import check_folders


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """deny(path): chmod 000, and for root also make opening/listing it raise PermissionError."""
    denied: list[Path] = []
    real_open, real_scandir = builtins.open, os.scandir

    def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, Path)) and Path(file) in denied:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def fake_scandir(path: Any = ".") -> Any:
        if Path(path) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    if os.geteuid() == 0:
        monkeypatch.setattr(health, "open", fake_open, raising=False)
        monkeypatch.setattr(folders.os, "scandir", fake_scandir)

    def apply(path: Path) -> None:
        denied.append(path)
        path.chmod(0)

    yield apply
    for p in denied:
        p.chmod(0o755)


def test_unreadable_image_and_folder_are_named_and_skipped(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    data = write_images(tmp_path / "data", per_class=6)
    locked_dir = data / "a" / "private"
    write_images(locked_dir, classes=["x"], per_class=2)
    locked_img = data / "b" / "0.png"
    deny(locked_dir)
    deny(locked_img)

    report = check_folders(data).source
    assert {"path": str(locked_img), "reason": "permission denied (the file cannot be read)"} in report.unreadable
    folder_issues = [i for i in report.issues if i.code == "unreadable_folder"]
    assert [i.path for i in folder_issues] == [str(locked_dir)] and folder_issues[0].level == "warning"
    assert "permission denied" in folder_issues[0].message
    assert report.class_counts == {"a": 6, "b": 5, "c": 6}  # the scan went on
    text = report.to_text()
    assert str(locked_img) in text and str(locked_dir) in text


def test_unreadable_class_folder_is_not_called_empty(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    data = write_images(tmp_path / "data", per_class=5)
    deny(data / "c")
    domain = scan_domain(data)
    assert domain.classes == ["a", "b"] and domain.empty_classes == []
    report = check_folders(data).source
    assert any(i.code == "unreadable_folder" and i.path == str(data / "c") for i in report.issues)


def test_non_utf8_file_names_are_listed_with_a_replacement_character(tmp_path: Path) -> None:
    data = write_images(tmp_path / "data", per_class=5)
    raw = os.fsencode(data / "a") + b"/caf\xe9-\xff.png"  # Latin-1 bytes: not UTF-8
    shutil.copyfile(os.fsencode(data / "a" / "0.png"), raw)
    with open(os.fsencode(data / "b") + b"/broken-\xfe.png", "wb") as fh:
        fh.write(b"not an image")

    domain = scan_domain(data)
    assert len(domain) == 17  # found, and still openable by its real name
    report = check_folders(data)
    as_json = json.loads(report.to_json())  # no UnicodeEncodeError
    src = as_json["source"]
    assert [u["path"] for u in src["unreadable"]] == [str(data / "b" / "broken-\ufffd.png")]
    assert any(str(data / "a" / "caf\ufffd-\ufffd.png") in group for group in src["duplicates"])
    text = report.to_text()
    text.encode("utf-8")  # printable anywhere
    assert "broken-\ufffd.png" in text and src["class_counts"]["a"] == 6
