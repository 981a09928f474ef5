"""Atomic file writes: write a temporary file beside the target, fsync, then rename over it.

Every file the app writes (checkpoints, run.json, metrics, configs, ONNX models, reports, CSVs)
goes through here, so three guarantees hold everywhere at once:

- a kill or a full disk mid-write never leaves a torn file: the old file stays until the new
  one is complete on disk;
- a full disk (ENOSPC, or a quota: EDQUOT) becomes one `DiskFull` error naming the folder, the
  bytes the write needed and the space left, instead of `OSError: [Errno 28]`;
- new files get the permissions the user's umask asks for (0644 under the usual 022), like any
  file opened with open(); `tempfile.mkstemp` alone would leave them 0600.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from engine.core.errors import DiskFull

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable way is to set it and put it back
    os.umask(mask)
    return mask


def human_bytes(n: int | None) -> str:
    """1536 -> '1.5 KB'; None -> 'an unknown amount'."""
    if n is None:
        return "an unknown amount"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover


def free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


def disk_full_error(path: Path, needed: int | None, what: str | None = None) -> DiskFull:
    """The one message for a full disk: folder, space needed, space free, nothing overwritten."""
    folder = path.parent
    what = what or path.name
    free = free_bytes(folder)
    keep = f"the previous {path.name} is intact" if path.exists() else "no file was left half-written"
    return DiskFull(
        f"{folder}: the disk is full: writing {what} needs {human_bytes(needed)} and "
        f"{human_bytes(free)} is free. Nothing was overwritten ({keep}). Free some space and try again.",
        folder=str(folder),
        needed=needed,
    )


@contextmanager
def disk_full_guard(path: Path, needed: int | None = None, what: str | None = None) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside the block into DiskFull (for writes done by libraries)."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(Path(path), needed, what) from None
        raise


def _write_fd(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`. Tests replace this to simulate a full disk at the write."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def atomic_path(path: Path, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `path` atomically.

    Whatever the block writes there becomes `path` only once complete and fsynced; on any error
    (a full disk included, raised as DiskFull) the temporary file is removed and `path` is
    untouched. `needed`, when known, is the size named in a DiskFull message.
    """
    path = Path(path)
    with disk_full_guard(path, needed):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        with disk_full_guard(path, needed):
            os.chmod(tmp_path, 0o666 & ~current_umask())
            yield tmp_path
            if needed is None and tmp_path.exists():
                needed = tmp_path.stat().st_size
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    with atomic_path(path, needed=len(data)) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            _write_fd(fd, data)
        finally:
            os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(Path(path), json.dumps(obj, indent=2, sort_keys=False) + "\n")


def display_name(path: str | os.PathLike[str]) -> str:
    """A file name as text that can be printed, saved as JSON or shown: bytes that are not valid
    UTF-8 (kept by Python as lone surrogates) become U+FFFD. The real path is unchanged for opening."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
