"""Find the images of a domain folder (labelled: one sub-folder per class; unlabelled: flat or any).

Scanning only looks at names (no decoding) so it stays fast on large folders; symlinks are
followed without ever looping. No torch here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.core.errors import UserError
from engine.data.images import IMAGE_EXTENSIONS, is_image_path

_JUNK_DIRS = {"__MACOSX"}  # created by macOS zip tools; holds only resource forks
UNREADABLE_FOLDER = "folder cannot be read"  # prefix of the skip reason of a folder we may not list


@dataclass(frozen=True)
class Sample:
    """One image file; `label` indexes the domain's `classes` (None when unlabelled)."""

    path: Path
    label: int | None


@dataclass
class Domain:
    """The images found under one folder, in deterministic sorted order.

    `empty_classes` are class folders without images (left out of `classes`); `skipped` lists
    (path, reason) for things passed over while scanning (non-image files, loops, unreadable folders).
    """

    root: Path
    name: str
    classes: list[str]
    samples: list[Sample]
    labelled: bool
    empty_classes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int | None]:
        return [s.label for s in self.samples]

    @property
    def paths(self) -> list[Path]:
        return [s.path for s in self.samples]

    def class_counts(self) -> dict[str, int]:
        """Images per class, in class order (empty for an unlabelled domain)."""
        counts = dict.fromkeys(self.classes, 0)
        for s in self.samples:
            if s.label is not None:
                counts[self.classes[s.label]] += 1
        return counts

    def relabel(self, classes: list[str]) -> Domain:
        """A copy whose labels index `classes` (e.g. the source's), so label 3 means the same class.

        Raises UserError naming any class of this domain that `classes` lacks.
        """
        if not self.labelled:
            return replace(self, classes=list(classes))
        missing = [c for c in self.classes if c not in classes]
        if missing:
            raise UserError(
                f"{self.root}: class folder(s) {', '.join(missing)} do not exist in the training "
                f"classes ({', '.join(classes)}). Rename or remove them."
            )
        index = {c: i for i, c in enumerate(classes)}
        samples = [Sample(s.path, index[self.classes[s.label]]) for s in self.samples if s.label is not None]
        return replace(self, classes=list(classes), samples=samples)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in _JUNK_DIRS


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _list_dir(path: str, skipped: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Sorted (files, dirs) of non-hidden entries; symlinks are followed, broken ones skipped."""
    files: list[str] = []
    dirs: list[str] = []
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        skipped.append((path, f"{UNREADABLE_FOLDER} (permission denied); its images are skipped"))
        return files, dirs
    except OSError as exc:
        skipped.append((path, f"{UNREADABLE_FOLDER} ({exc.strerror or exc}); its images are skipped"))
        return files, dirs
    for e in entries:
        if _is_hidden(e.name):
            continue
        try:
            if e.is_dir():
                dirs.append(e.path)
            elif e.is_file():
                files.append(e.path)
            elif e.is_symlink():
                skipped.append((e.path, "broken symbolic link"))
        except OSError as exc:
            skipped.append((e.path, f"could not read ({exc.strerror or exc})"))
    return files, dirs


Found = Callable[[int], None]  # progress of a scan: images found so far (in this call)


def _walk_images(
    top: str, seen: set[tuple[int, int]], skipped: list[tuple[str, str]], found_cb: Found | None = None, base: int = 0
) -> list[str]:
    """All image files under `top` (depth-first, sorted); `seen` holds folder ids already walked.
    `found_cb(base + n)` is called after each folder listed (a scan of 100k files shows counts)."""
    found: list[str] = []
    stack = [top]
    while stack:
        current = stack.pop()
        files, dirs = _list_dir(current, skipped)
        for f in files:
            if is_image_path(f):
                found.append(f)
            else:
                skipped.append((f, "not an image file (extension)"))
        if found_cb is not None:
            found_cb(base + len(found))
        todo = []
        for d in dirs:
            key = _dir_key(d)
            if key is None:
                skipped.append((d, "could not read folder"))
            elif key in seen:
                skipped.append((d, "folder already scanned (symbolic link loop or repeat)"))
            else:
                seen.add(key)
                todo.append(d)
        stack.extend(reversed(todo))  # pop() then visits them in sorted order
    found.sort()
    return found


def _check_root(root: Path) -> None:
    if not root.exists():
        raise UserError(f"Folder not found: {root}. Check the path, or choose an existing folder of images.")
    if not root.is_dir():
        raise UserError(
            f"{root} is a file, not a folder. Choose the folder that holds the images "
            "(one sub-folder per class, or the images themselves)."
        )


def _no_images(root: Path, labelled: bool) -> UserError:
    exts = ", ".join(sorted(IMAGE_EXTENSIONS))
    layout = "one sub-folder per class with images inside" if labelled else "image files (any depth)"
    return UserError(f"No images found in {root} (looked for {exts}). Put {layout} there, or choose another folder.")


def scan_domain(
    root: str | os.PathLike[str], name: str | None = None, labelled: bool | None = None, progress: Found | None = None
) -> Domain:
    """Scan `root` for images without opening them; `progress(n)` reports the images found so far.

    labelled=None decides by layout: no images directly in `root` and at least one non-hidden
    sub-folder means labelled (each sub-folder a class, images at any depth inside it).
    labelled=False takes every image under `root` unlabelled (e.g. photos sorted by date);
    labelled=True insists on class folders (images directly in `root` are then skipped).
    """
    root = Path(os.path.abspath(os.fspath(root)))
    _check_root(root)
    skipped: list[tuple[str, str]] = []
    top_files, top_dirs = _list_dir(str(root), skipped)
    top_images = [f for f in top_files if is_image_path(f)]
    if labelled is None:
        labelled = not top_images and bool(top_dirs)
    root_key = _dir_key(str(root))
    base_seen = {root_key} if root_key else set()
    dname = name or root.name

    if not labelled:
        paths = _walk_images(str(root), set(base_seen), skipped, progress)
        if not paths:
            raise _no_images(root, labelled=False)
        samples = [Sample(Path(p), None) for p in paths]
        return Domain(root, dname, [], samples, False, [], skipped)

    if not top_dirs:
        raise UserError(
            f"{root} has no class sub-folders. A labelled folder needs one sub-folder per class "
            "(e.g. cats/, dogs/) with the images inside."
        )
    for f in top_files:
        skipped.append((f, "image outside any class folder" if is_image_path(f) else "not an image file (extension)"))
    classes: list[str] = []
    empty: list[str] = []
    per_class: list[list[str]] = []
    for d in top_dirs:
        cname = os.path.basename(d)
        key = _dir_key(d)
        seen = set(base_seen)
        if key is not None:
            if key in seen:
                skipped.append((d, "folder already scanned (symbolic link loop or repeat)"))
                continue
            seen.add(key)
        paths = _walk_images(d, seen, skipped, progress, sum(len(c) for c in per_class))
        if paths:
            classes.append(cname)
            per_class.append(paths)
        elif not any(p == d and why.startswith(UNREADABLE_FOLDER) for p, why in skipped):
            empty.append(cname)  # an unreadable class folder is reported as such, not as empty
    if not classes:
        raise _no_images(root, labelled=True)
    samples = [Sample(Path(p), label) for label, paths in enumerate(per_class) for p in paths]
    return Domain(root, dname, classes, samples, True, empty, skipped)
