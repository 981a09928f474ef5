"""Errors a user can cause. The CLI prints them without a traceback; the GUI shows a dialog."""

from __future__ import annotations

from typing import ClassVar


class UserError(Exception):
    """Bad input from the user: the message names the file, field or value and what to do."""


class WeightsMissing(UserError):
    """Pretrained weights are not on disk and cannot be downloaded."""


class UnreadableImage(UserError):
    """An image file could not be decoded; `reason` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DiskFull(UserError):
    """A write found no space left on the device. Nothing already on disk was damaged.

    `resumable` tells the trainer to mark the run stopped (not failed): once space is freed,
    `train --resume` continues from the last good checkpoint.
    """

    resumable: ClassVar[bool] = True

    def __init__(self, message: str, folder: str = "", needed: int | None = None) -> None:
        super().__init__(message)
        self.folder = folder
        self.needed = needed


class RunLocked(UserError):
    """Another live process is writing the same run directory."""


class UnsafeFile(UserError):
    """A file holds something that would run code or escape its folder; it was not loaded."""
