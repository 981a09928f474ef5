"""The decoded-image cache on disk: a folder decoded once is read back on every later run.

One bundle per (folder, image size) under `<user cache>/TransferStudio/decoded/`:

- `images.u8`: a raw uint8 array [rows, 3, size, size] (open it with
  `np.memmap(path, np.uint8, "r", shape=(rows, 3, size, size))`);
- `index.json`: the version, the shape and, per file (path relative to the folder), its byte
  size, modification time (ns) and row, or the reason it could not be decoded.

A file whose size or mtime changed, or a new file, is decoded again (a changed file reuses its
row); everything else is read back. A bundle written by another version of the cache or of the
decoder is deleted and rebuilt. The bundles together stay under a size limit (least recently
used go first). A bundle in use by another process (flock) is used read-only.

Rows are read with `os.pread`, not through a mapping: mapped pages count in the process's
resident memory while they stay mapped, read pages stay in the OS page cache and out of it, so
the peak RSS of a run on a disk-backed folder does not grow with the folder. Torch-free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.fsutil import atomic_write_text
from engine.data.decode import DECODER_VERSION

if sys.platform != "win32":
    import fcntl

CACHE_VERSION = f"3.{DECODER_VERSION}"
DEFAULT_LIMIT_MB = 20_000
cache_dir_override: Path | None = None  # tests point it at a temporary folder


def cache_root() -> Path:
    """`<user cache>/TransferStudio/decoded` (or `cache_dir_override`, or $TRANSFER_STUDIO_CACHE)."""
    if cache_dir_override is not None:
        return cache_dir_override
    env = os.environ.get("TRANSFER_STUDIO_CACHE")
    if env:
        return Path(env) / "decoded"
    import platformdirs

    return Path(platformdirs.user_cache_dir("TransferStudio", appauthor=False)) / "decoded"


def limit_bytes() -> int:
    """The size limit of all bundles together ($TRANSFER_STUDIO_CACHE_LIMIT_MB, default 20 GB)."""
    try:
        mb = int(os.environ.get("TRANSFER_STUDIO_CACHE_LIMIT_MB", DEFAULT_LIMIT_MB))
    except ValueError:
        mb = DEFAULT_LIMIT_MB
    return max(0, mb) << 20


def file_key(path: str) -> tuple[int, int] | None:
    """(byte size, mtime in ns) of a file, None when it cannot be read: what invalidates a row."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (int(st.st_size), int(st.st_mtime_ns))


def bundle_name(folder: str | os.PathLike[str], size: int) -> str:
    resolved = str(Path(os.path.abspath(os.fspath(folder))).resolve())
    return hashlib.sha256(f"{resolved}|{size}".encode()).hexdigest()[:24]


@dataclass
class Lookup:
    """Per file of a list: `row` (>= 0 cached, -1 to decode, -2 cached as unreadable)."""

    rows: np.ndarray
    reasons: list[str]
    keys: list[tuple[int, int] | None]
    misses: list[int] = field(default_factory=list)


class ImageStore:
    """One bundle: the rows of one folder at one image size. Open with `ImageStore.open`."""

    def __init__(self, folder: Path, size: int, path: Path, writable: bool) -> None:
        self.folder, self.size, self.path, self.writable = folder, size, path, writable
        self.row_bytes = 3 * size * size
        self.entries: dict[str, list[Any]] = {}
        self.rows = 0
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self.rebuilt = ""  # why an old bundle was dropped ("" when none was)

    # ---- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | os.PathLike[str], size: int, root: Path | None = None) -> ImageStore:
        """The bundle of `folder` at `size`, created when missing. Raises OSError when the cache
        folder cannot be created or written (read-only or full disk): the caller falls back."""
        folder_p = Path(os.path.abspath(os.fspath(folder)))
        path = (root or cache_root()) / bundle_name(folder_p, size)
        path.mkdir(parents=True, exist_ok=True)
        store = cls(folder_p, size, path, writable=True)
        store._take_lock()
        store._load_index()
        if store.writable:
            store._fd = os.open(path / "images.u8", os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        else:
            store._fd = os.open(path / "images.u8", os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return store

    def _take_lock(self) -> None:
        if sys.platform == "win32":
            return
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self.writable = False  # another process writes this bundle: read what it has
            return
        self._lock_fd = fd

    def _load_index(self) -> None:
        index = self.path / "index.json"
        data: dict[str, Any] = {}
        if index.is_file():
            try:
                data = json.loads(index.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {"version": "unreadable"}
        if data and (data.get("version") != CACHE_VERSION or data.get("size") != self.size):
            self.rebuilt = f"cache written by version {data.get('version')!r}, this is {CACHE_VERSION!r}: rebuilt"
            if not self.writable:
                raise OSError(f"{self.path}: an old cache in use by another process")
            index.unlink(missing_ok=True)
            (self.path / "images.u8").unlink(missing_ok=True)
            data = {}
        self.entries = dict(data.get("entries", {}))
        self.rows = int(data.get("rows", 0))
        with contextlib.suppress(OSError):
            actual = (self.path / "images.u8").stat().st_size // self.row_bytes
            self.rows = min(self.rows, actual)  # rows written but never indexed are reused

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._lock_fd = None

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- keys -----------------------------------------------------------------------------
    def _rel(self, path: str) -> str:
        try:
            return os.path.relpath(path, self.folder)
        except ValueError:  # another drive on Windows
            return os.path.abspath(path)

    def lookup(self, paths: list[str]) -> Lookup:
        """Which files are cached and still the same (size and mtime), which to decode."""
        rows = np.full(len(paths), -1, dtype=np.int64)
        reasons = [""] * len(paths)
        keys = [file_key(p) for p in paths]
        out = Lookup(rows, reasons, keys)
        for i, (p, key) in enumerate(zip(paths, keys, strict=True)):
            e = self.entries.get(self._rel(p))
            if key is not None and e is not None and e[0] == key[0] and e[1] == key[1]:
                if e[2] >= 0 and e[2] < self.rows:
                    rows[i] = e[2]
                    continue
                if e[2] == -2:
                    rows[i], reasons[i] = -2, str(e[3])
                    continue
            out.misses.append(i)
        return out

    # ---- writing --------------------------------------------------------------------------
    def put(self, path: str, key: tuple[int, int] | None, image_chw: np.ndarray | None, reason: str = "") -> int:
        """Store one decoded image (or its failure); returns its row (-2 for a failure)."""
        if not self.writable or self._fd is None:
            raise OSError("the cache is read-only")
        rel = self._rel(path)
        if key is None:  # vanished while decoding: nothing to key it by
            return -1
        if image_chw is None:
            self.entries[rel] = [key[0], key[1], -2, reason]
            return -2
        old = self.entries.get(rel)
        row = int(old[2]) if old is not None and 0 <= int(old[2]) < self.rows else self.rows
        data = np.ascontiguousarray(image_chw, dtype=np.uint8).tobytes()
        if len(data) != self.row_bytes:
            raise ValueError(f"image of {len(data)} bytes, rows hold {self.row_bytes}")
        written = os.pwrite(self._fd, data, row * self.row_bytes)
        if written != len(data):
            raise OSError(28, "No space left on device (short write)")
        if row == self.rows:
            self.rows += 1
        self.entries[rel] = [key[0], key[1], row, ""]
        return row

    def save(self) -> None:
        """Write the index atomically (after the rows it names, so it never names missing rows)."""
        if not self.writable:
            return
        doc = {"version": CACHE_VERSION, "size": self.size, "folder": str(self.folder), "rows": self.rows}
        doc["entries"] = self.entries
        atomic_write_text(self.path / "index.json", json.dumps(doc, separators=(",", ":")))

    # ---- reading --------------------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return self.path / "images.u8"

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        return read_rows(self.data_path, rows, self.size)


MAX_RUN_BYTES = 32 << 20  # one pread reads at most this much (a run of consecutive rows)


def read_rows(path: Path | str, rows: np.ndarray, size: int, fd: int | None = None) -> np.ndarray:
    """uint8 [len(rows), 3, size, size] in the order asked, read with pread.

    The rows are read in file order, each run of consecutive rows (up to 32 MB) in one call,
    and scattered to their places: a shuffled training split of a whole folder reads the file
    front to back in large pieces instead of 150 KB at random offsets.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    row_bytes = 3 * size * size
    out = np.empty((len(rows), 3, size, size), dtype=np.uint8)
    if len(rows) == 0:
        return out
    own = fd is None
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)) if fd is None else fd
    try:
        flat = out.reshape(len(rows), row_bytes)
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        breaks = np.flatnonzero(np.diff(srt) > 1) + 1  # a repeated row stays in its run
        max_rows = max(1, MAX_RUN_BYTES // row_bytes)
        for lo_run, hi_run in zip(np.r_[0, breaks], np.r_[breaks, len(srt)], strict=True):
            for lo in range(int(lo_run), int(hi_run), max_rows):
                hi = min(lo + max_rows, int(hi_run))
                first, last = int(srt[lo]), int(srt[hi - 1])
                count = last - first + 1
                buf = os.pread(handle, row_bytes * count, first * row_bytes)
                if len(buf) != row_bytes * count:
                    raise OSError(f"{path}: the cache file is shorter than its index (row {last}); clear the cache")
                block = np.frombuffer(buf, dtype=np.uint8).reshape(count, row_bytes)
                flat[order[lo:hi]] = block[srt[lo:hi] - first]
    finally:
        if own:
            os.close(handle)
    return out


# ---- the cache as a whole -----------------------------------------------------------------
def bundles(root: Path | None = None) -> list[Path]:
    base = root or cache_root()
    if not base.is_dir():
        return []
    return [p for p in base.iterdir() if p.is_dir()]


def _bundle_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.iterdir() if f.is_file())


def total_bytes(root: Path | None = None) -> int:
    """Bytes the decoded cache takes on disk."""
    total = 0
    for b in bundles(root):
        with contextlib.suppress(OSError):
            total += _bundle_bytes(b)
    return total


def prune(keep: Path | None = None, limit: int | None = None, root: Path | None = None) -> list[Path]:
    """Delete least recently used bundles (index mtime) until the cache fits `limit`; never `keep`."""
    limit = limit_bytes() if limit is None else limit
    items = []
    for b in bundles(root):
        with contextlib.suppress(OSError):
            index = b / "index.json"
            used = index.stat().st_mtime if index.exists() else 0.0
            items.append((used, b, _bundle_bytes(b)))
    total = sum(n for _, _, n in items)
    removed = []
    for _, b, n in sorted(items, key=lambda t: t[0]):
        if total <= limit:
            break
        if (keep is not None and b.resolve() == keep.resolve()) or _in_use(b):
            continue
        shutil.rmtree(b, ignore_errors=True)
        total -= n
        removed.append(b)
    return removed


def _in_use(bundle: Path) -> bool:
    """True when another run holds the bundle's lock (it is reading or writing it)."""
    if sys.platform == "win32" or not (bundle / ".lock").exists():
        return False
    try:
        fd = os.open(bundle / ".lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def clear(root: Path | None = None) -> int:
    """Delete every bundle not in use; returns the bytes freed."""
    freed = 0
    for b in bundles(root):
        if _in_use(b):
            continue  # a run is reading it
        with contextlib.suppress(OSError):
            freed += _bundle_bytes(b)
        shutil.rmtree(b, ignore_errors=True)
    return freed
