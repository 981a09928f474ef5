"""Write groups of image files as sub-folders (cluster_NN/ or named classes), safely.

The user's files are only ever read: each one is hard-linked, else symbolically linked, else
copied into the destination ("link"), or always copied ("copy", for a labelled folder that must
outlive the original). Nothing is moved or deleted, except a destination folder this module
wrote before (it holds MARKER), and only when `replace` is asked. Torch-free.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from engine.core.errors import UserError

MARKER = ".transfer-studio-folders.json"
Mode = Literal["link", "copy"]
_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def check_folder_name(name: str) -> str:
    """`name` if it is a valid folder name on Windows, macOS and Linux; else UserError saying why."""
    why = ""
    if not name or not name.strip():
        why = "it is empty"
    elif name in (".", ".."):
        why = "'.' and '..' are not folder names"
    elif m := _BAD_CHARS.search(name):
        why = f'it contains {m.group()!r} (not allowed: < > : " / \\ | ? * and control characters)'
    elif name != name.strip() or name.endswith("."):
        why = "it starts or ends with a space, or ends with a dot"
    elif name.split(".")[0].upper() in _RESERVED:
        why = "it is a reserved device name on Windows"
    elif name.startswith("."):
        why = "it starts with a dot (hidden folders are skipped when a folder is read)"
    elif len(name.encode("utf-8")) > 255:
        why = "it is longer than 255 bytes"
    if why:
        raise UserError(f"cluster name {name!r} is not a valid folder name: {why}. Choose another name.")
    return name


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_destination(dest: str | Path, sources: list[str | Path], replace: bool = False) -> Path:
    """The resolved destination, refused when inside a source folder, holding one, or already there."""
    out = Path(os.path.abspath(Path(dest).expanduser()))
    real_out = out.resolve()
    for src in sources:
        s = Path(os.path.abspath(Path(src).expanduser())).resolve()
        if _inside(real_out, s):
            raise UserError(
                f"destination {out} is inside the image folder {s}; the new folders would be read as images "
                "of that folder next time. Choose a folder outside it."
            )
        if _inside(s, real_out):
            raise UserError(f"destination {out} contains the image folder {s}. Choose a folder outside it.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not replace:
            raise UserError(
                f"destination {out} already exists and is not empty. Choose a new folder, or ask to replace it."
            )
        _check_replaceable(out)
    return out


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder not written here, or one holding files added since."""
    try:
        written = set(json.loads((out / MARKER).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(
            f"destination {out} exists and was not written by Transfer Studio; it is never replaced. Choose a new folder."
        ) from None
    for path in out.rglob("*"):
        rel = path.relative_to(out).as_posix()
        if (path.is_dir() and not path.is_symlink()) or rel == MARKER:
            continue
        if rel not in written:
            raise UserError(
                f"destination {out} holds {rel}, which Transfer Studio did not write; it is never replaced. "
                "Move that file out or choose a new folder."
            )


def _place(src: Path, dest: Path, mode: Mode) -> str:
    if mode == "link":
        try:
            os.link(src, dest)
            return "hardlink"
        except OSError:
            pass
        try:
            os.symlink(os.path.abspath(src), dest)
            return "symlink"
        except OSError:
            pass
    shutil.copy2(src, dest)
    return "copy"


def write_groups(
    groups: dict[str, list[str]],
    dest: str | Path,
    sources: list[str | Path],
    *,
    mode: Mode = "link",
    replace: bool = False,
) -> dict[str, object]:
    """Write each group as dest/<name>/ holding its files; returns {"path", "how": {kind: count}, "files"}.

    Built in a temporary sibling folder and renamed into place, so an error leaves no half-written
    destination. File names that repeat within a group get a numeric suffix.
    """
    for name in groups:
        check_folder_name(name)
    lowered = [n.lower() for n in groups]
    if len(set(lowered)) != len(lowered):
        dup = next(n for n in groups if lowered.count(n.lower()) > 1)
        raise UserError(f"two groups are named {dup!r} (names must differ, ignoring case). Rename one.")
    for files in groups.values():
        for f in files:
            if not Path(f).is_file():
                raise UserError(f"{f}: not found (moved or deleted since it was listed). Run the clustering again.")
    out = check_destination(dest, sources, replace)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    how: dict[str, int] = {}
    written: list[str] = []
    try:
        for name, files in groups.items():
            folder = tmp / name
            folder.mkdir()
            used: set[str] = set()
            for f in files:
                src = Path(f)
                stem, suffix, n = src.stem, src.suffix, 1
                fname = src.name
                while fname.lower() in used:
                    n += 1
                    fname = f"{stem}_{n}{suffix}"
                used.add(fname.lower())
                kind = _place(src, folder / fname, mode)
                written.append(f"{name}/{fname}")
                how[kind] = how.get(kind, 0) + 1
        manifest = {"groups": {k: len(v) for k, v in groups.items()}, "mode": mode, "how": how, "files": written}
        (tmp / MARKER).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)  # only a folder written here, holding nothing else (_check_replaceable)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(out), "how": how, "files": sum(how.values())}
