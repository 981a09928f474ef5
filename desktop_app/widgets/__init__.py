"""Reusable widgets of the desktop app (one widget per module)."""
