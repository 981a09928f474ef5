"""One writer per run directory: a lock file holding the owner's pid.

Two processes training or resuming the same run (two CLIs, or the window and a CLI) would
interleave checkpoints and metrics. The writer holds `RUN/.lock`:

- where the OS has `fcntl.flock` (Linux, macOS) the kernel lock is the truth: it disappears
  with its process, so a lock left by a killed writer (kill -9, power cut) is free at once and
  taken over; the file's content (pid, host, command, start time) only names the owner;
- elsewhere the file is created exclusively and a lock whose pid no longer runs on this host is
  taken over.

The second writer gets `RunLocked` naming the owner. Torch-free.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from engine.core.errors import RunLocked

if sys.platform != "win32":
    import fcntl

LOCK_NAME = ".lock"


def pid_alive(pid: int) -> bool:
    """True when a process with this pid runs on this machine (signal 0 probes without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return False
    return True


def _owner_text(owner: dict[str, Any]) -> str:
    since = owner.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    cmd = str(owner.get("command", "")).strip()
    host = owner.get("host", "?")
    return f"pid {owner.get('pid', '?')} on {host}" + (f" ('{cmd[:120]}')" if cmd else "") + f", since {when}"


class RunLock:
    """The lock of one run directory. Use through `Run.lock()` (a context manager)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None  # the dead owner whose lock was taken over

    def owner(self) -> dict[str, Any] | None:
        """What the lock file says (None when there is none or it is unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _refusal(self, owner: dict[str, Any] | None, doing: str) -> RunLocked:
        who = _owner_text(owner) if owner else "another process"
        return RunLocked(
            f"{self.path.parent}: this run is being written by {who}. Two writers would mix up its "
            f"checkpoints and metrics, so this process will not {doing}. Wait for that one to finish or stop it "
            "(a lock left by a process that was killed is taken over automatically)."
        )

    def held_by_other(self) -> dict[str, Any] | None:
        """The owner when another live process holds the lock, else None. Takes nothing."""
        if not self.path.exists():
            return None
        owner = self.owner()
        if sys.platform != "win32":
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
            except BlockingIOError:
                return owner or {}
            finally:
                os.close(fd)
        if owner and owner.get("host") == socket.gethostname() and pid_alive(int(owner.get("pid", -1))):
            return owner
        return None

    def refuse_if_held(self, doing: str) -> None:
        owner = self.held_by_other()
        if owner is not None:
            raise self._refusal(owner, doing)

    def acquire(self, doing: str = "write it") -> RunLock:
        """Take the lock or raise RunLocked naming the owner; a dead owner's lock is taken over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if sys.platform != "win32":
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refusal(self.owner(), doing) from None
        else:  # pragma: no cover - Windows: exclusive create, stale pid taken over
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self.held_by_other() is not None:
                    raise self._refusal(self.owner(), doing) from None
                with suppress(OSError):
                    self.path.unlink()
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        previous = self.owner()
        if previous and previous.get("pid") not in (None, os.getpid()):
            self.took_over = previous
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv)[:300],
            "started": time.time(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode("utf-8"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the file and unlock it. The file stays: removing it would let a waiting process
        lock a name that another creates anew."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with suppress(OSError):
                os.ftruncate(fd, 0)
            if sys.platform != "win32":
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            if sys.platform == "win32":  # pragma: no cover - Windows: the file itself is the lock
                with suppress(OSError):
                    self.path.unlink()

    def __enter__(self) -> RunLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()
