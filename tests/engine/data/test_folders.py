"""scan_domain: layout detection, hidden files, symlinks, nesting, empty classes, bad roots."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.core.errors import UserError
from engine.data.folders import Domain, Sample, scan_domain


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_labelled_layout_sorted_with_nested_folders(tmp_path):
    touch(tmp_path / "dog" / "b.png")
    touch(tmp_path / "dog" / "a.JPG")
    touch(tmp_path / "cat" / "2021" / "summer" / "c.jpeg")
    touch(tmp_path / "cat" / "z.png")
    touch(tmp_path / "README.md")  # non-image files at the root do not make it unlabelled
    d = scan_domain(tmp_path)
    assert d.labelled and d.classes == ["cat", "dog"] and d.name == tmp_path.name
    assert [p.relative_to(tmp_path).as_posix() for p in d.paths] == [
        "cat/2021/summer/c.jpeg",
        "cat/z.png",
        "dog/a.JPG",
        "dog/b.png",
    ]
    assert d.labels == [0, 0, 1, 1] and len(d) == 4
    assert d.class_counts() == {"cat": 2, "dog": 2}
    assert any(p.endswith("README.md") for p, _ in d.skipped)


def test_unlabelled_when_images_sit_at_the_root(tmp_path):
    touch(tmp_path / "a.png")
    touch(tmp_path / "sub" / "b.png")
    d = scan_domain(tmp_path, name="target")
    assert not d.labelled and d.classes == [] and d.name == "target"
    assert [p.name for p in d.paths] == ["a.png", "b.png"]
    assert d.labels == [None, None] and d.class_counts() == {}


def test_forced_unlabelled_takes_every_image(tmp_path):
    touch(tmp_path / "2023-01" / "x.png")
    touch(tmp_path / "2023-02" / "deeper" / "y.png")
    assert scan_domain(tmp_path).labelled  # looks like classes...
    d = scan_domain(tmp_path, labelled=False)  # ...but the user says they are dates
    assert not d.labelled and len(d) == 2 and all(s.label is None for s in d.samples)


def test_forced_labelled_skips_root_images(tmp_path):
    touch(tmp_path / "stray.png")
    touch(tmp_path / "a" / "1.png")
    d = scan_domain(tmp_path, labelled=True)
    assert d.classes == ["a"] and len(d) == 1
    assert (str(tmp_path / "stray.png"), "image outside any class folder") in d.skipped
    with pytest.raises(UserError, match="no class sub-folders"):
        scan_domain(tmp_path / "a", labelled=True)


def test_hidden_files_and_folders_are_ignored(tmp_path):
    touch(tmp_path / "a" / "1.png")
    touch(tmp_path / "a" / ".hidden.png")
    touch(tmp_path / "a" / ".thumbs" / "2.png")
    touch(tmp_path / ".git" / "x.png")  # a hidden folder is not a class
    touch(tmp_path / "__MACOSX" / "a" / "._1.png")
    d = scan_domain(tmp_path)
    assert d.classes == ["a"] and [p.name for p in d.paths] == ["1.png"]


def test_empty_class_is_reported_not_used(tmp_path):
    touch(tmp_path / "a" / "1.png")
    (tmp_path / "b").mkdir()
    touch(tmp_path / "c" / "notes.txt")
    d = scan_domain(tmp_path)
    assert d.classes == ["a"] and d.empty_classes == ["b", "c"]


def test_symlink_loop_does_not_hang(tmp_path):
    touch(tmp_path / "a" / "1.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "loop")  # a/loop -> a
    os.symlink(tmp_path, tmp_path / "a" / "up")  # a/up -> root
    touch(tmp_path / "b" / "2.png")
    start = time.monotonic()
    d = scan_domain(tmp_path)
    assert time.monotonic() - start < 5
    assert d.classes == ["a", "b"] and [p.name for p in d.paths] == ["1.png", "2.png"]
    reasons = [why for _, why in d.skipped]
    assert sum("symbolic link loop" in r for r in reasons) == 2


def test_symlinked_class_folder_and_file_are_followed(tmp_path):
    touch(tmp_path / "store" / "x.png")
    data = tmp_path / "data"
    (data / "b").mkdir(parents=True)
    os.symlink(tmp_path / "store", data / "a")
    os.symlink(tmp_path / "store" / "x.png", data / "b" / "y.png")
    os.symlink(tmp_path / "missing.png", data / "b" / "broken.png")
    d = scan_domain(data)
    assert d.classes == ["a", "b"] and len(d) == 2
    assert any(why == "broken symbolic link" for _, why in d.skipped)


def test_unlabelled_nested_loop(tmp_path):
    touch(tmp_path / "x.png")
    os.symlink(tmp_path, tmp_path / "self")
    d = scan_domain(tmp_path)
    assert not d.labelled and len(d) == 1


def test_missing_root_and_file_root_and_no_images(tmp_path):
    with pytest.raises(UserError, match=r"Folder not found: .*nope"):
        scan_domain(tmp_path / "nope")
    f = touch(tmp_path / "file.png")
    with pytest.raises(UserError, match="is a file, not a folder"):
        scan_domain(f)
    empty = tmp_path / "empty"
    touch(empty / "a" / "readme.txt")
    with pytest.raises(UserError, match=r"No images found in .*empty"):
        scan_domain(empty)
    with pytest.raises(UserError, match="No images found"):
        scan_domain(empty, labelled=False)


def test_scan_does_not_open_files(tmp_path):
    touch(tmp_path / "a" / "bad.png", b"")  # broken files are found; health checks judge them
    assert len(scan_domain(tmp_path)) == 1


def test_scan_is_fast_for_many_files(tmp_path):
    for c in range(10):
        folder = tmp_path / f"c{c}"
        folder.mkdir()
        for i in range(300):
            (folder / f"{i}.jpg").write_bytes(b"")
    start = time.monotonic()
    d = scan_domain(tmp_path)
    assert len(d) == 3000 and time.monotonic() - start < 5


def test_relabel_maps_to_source_classes(tmp_path):
    touch(tmp_path / "dog" / "1.png")
    touch(tmp_path / "cat" / "1.png")
    d = scan_domain(tmp_path).relabel(["ant", "cat", "dog"])
    assert d.classes == ["ant", "cat", "dog"] and d.labels == [1, 2]
    with pytest.raises(UserError, match="dog"):
        scan_domain(tmp_path).relabel(["cat"])


def test_domain_helpers_on_a_hand_built_domain():
    d = Domain(
        Path("/r"),
        "r",
        ["a", "b"],
        [Sample(Path("/r/a/1.png"), 0), Sample(Path("/r/b/1.png"), 1), Sample(Path("/r/b/2.png"), 1)],
        True,
    )
    assert d.class_counts() == {"a": 1, "b": 2} and d.paths[0] == Path("/r/a/1.png")
