"""The folder writer: links or copies, never moves or deletes the user's files; names and places checked."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from engine.analysis.cluster_folders import MARKER, check_folder_name, write_groups
from engine.core.errors import UserError


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for sub in ("a", "b"):
        (root / sub).mkdir(parents=True)
        for i in range(3):
            (root / sub / f"img{i}.png").write_bytes(f"{sub}{i}".encode() * 50)
    return root


def test_links_then_replace_leave_the_sources_untouched(photos: Path, tmp_path: Path) -> None:
    before = _tree(photos)
    files = sorted(str(p) for p in photos.rglob("*.png"))
    groups = {"cluster_01": files[:4], "cluster_02": files[4:]}
    out = tmp_path / "out"
    result = write_groups(groups, out, [photos])
    assert result["files"] == 6 and (out / MARKER).is_file()
    # same file name in two source folders: both kept, the second renamed
    assert sorted(p.name for p in (out / "cluster_01").iterdir()) == ["img0.png", "img0_2.png", "img1.png", "img2.png"]
    linked = out / "cluster_01" / "img0.png"
    assert linked.read_bytes() == Path(files[0]).read_bytes()
    write_groups({"x": files[:2]}, out, [photos], replace=True)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "x"]
    assert _tree(photos) == before  # nothing moved, deleted or changed


def test_copy_mode_makes_independent_files(photos: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in photos.rglob("*.png"))
    write_groups({"cats": files[:3], "dogs": files[3:]}, tmp_path / "labelled", [photos], mode="copy")
    copy = tmp_path / "labelled" / "cats" / "img0.png"
    assert copy.read_bytes() == Path(files[0]).read_bytes()
    assert os.stat(copy).st_ino != os.stat(files[0]).st_ino
    copy.write_bytes(b"edited")
    assert Path(files[0]).read_bytes() != b"edited"


def test_refusals_keep_everything(photos: Path, tmp_path: Path) -> None:
    before = _tree(photos)
    files = [str(p) for p in photos.rglob("*.png")]
    with pytest.raises(UserError, match="inside the image folder"):
        write_groups({"a": files}, photos / "a" / "out", [photos])
    with pytest.raises(UserError, match="contains the image folder"):
        write_groups({"a": files}, tmp_path, [photos], replace=True)
    out = tmp_path / "out"
    write_groups({"a": files}, out, [photos])
    (out / "a" / "my_notes.txt").write_text("added by the user")
    with pytest.raises(UserError, match=r"my_notes\.txt"):
        write_groups({"a": files}, out, [photos], replace=True)
    assert (out / "a" / "my_notes.txt").read_text() == "added by the user"
    with pytest.raises(UserError, match="named 'a'"):
        write_groups({"a": files[:1], "A": files[1:]}, tmp_path / "o2", [photos])
    with pytest.raises(UserError, match=r"missing\.png: not found"):
        write_groups({"a": [*files, str(tmp_path / "missing.png")]}, tmp_path / "o3", [photos])
    assert not (tmp_path / "o3").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".o3")]
    assert _tree(photos) == before


@pytest.mark.parametrize(
    "name", ["", " ", ".", "..", "a/b", "a\\b", "x:y", "what?", "CON", "lpt1.txt", "dot.", " pad", ".hidden"]
)
def test_invalid_folder_names(name: str) -> None:
    with pytest.raises(UserError, match="not a valid folder name"):
        check_folder_name(name)


@pytest.mark.parametrize("name", ["cats", "Cluster 01", "chiffre_7", "été", "a.b"])
def test_valid_folder_names(name: str) -> None:
    assert check_folder_name(name) == name
