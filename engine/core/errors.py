"""Errors a user can cause. The CLI prints them without a traceback; the GUI shows a dialog."""

from __future__ import annotations


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
    """The disk filled up while writing a checkpoint; the previous one is intact, so the run can resume."""

    resumable = True
