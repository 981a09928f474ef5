"""Work-arounds for bugs in the Qt binding that this app cannot avoid otherwise.

PySide6 6.12.0 (abi3 wheel) returns None from void C++ methods without taking a reference. On
Python 3.12+ None is immortal and nothing happens; on Python 3.10/3.11 every such call (setText,
setPen, drawLine...) lowers None's reference count by one until it reaches zero and the
interpreter aborts with "Fatal Python error: none_dealloc" after some thousands of calls.
The same holds for True and False (e.g. a signal's emit() returning a bool).
`guard_none_refcount()` gives these singletons a practically endless count, as Python 3.12 does.
constraints.txt pins PySide6 6.11.3, which does not have the bug; the guard acts only when the
6.12.0 binding is installed anyway (pyproject excludes it, but a user's environment may differ).
"""

from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 60


def guard_none_refcount() -> bool:
    """Make None, True and False effectively immortal on CPython < 3.12; True when counts were raised."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    import PySide6

    if not PySide6.__version__.startswith("6.12.0"):
        return False
    raised = False
    for obj in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of every object
        if count.value < _RESERVE // 2:
            count.value += _RESERVE
            raised = True
    return raised


def lower_thread_priority(step: int = 10) -> bool:
    """Raise the calling thread's nice value (Linux: per thread), so the UI thread wins the CPU.

    Called at the start of a worker job: threads it starts afterwards (torch's compute threads
    when they are first needed) inherit the lower priority. Returns False where unsupported.
    """
    if not sys.platform.startswith("linux"):
        return False
    import os
    import threading

    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except OSError:
        return False
    return True
