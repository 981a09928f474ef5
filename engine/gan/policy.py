"""DiffAugment policy names, torch-free so configs (and the window) can validate them."""

from __future__ import annotations

PARTS: tuple[str, ...] = ("color", "translation", "cutout")


def parse_policy(policy: str) -> list[str]:
    """'color,translation,cutout' -> its parts; '' or 'none' -> []. Raises ValueError naming a bad part."""
    text = policy.strip().lower()
    if text in ("", "none", "off"):
        return []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise ValueError(f"unknown DiffAugment part(s) {', '.join(bad)}; use a comma list of {', '.join(PARTS)}")
    return parts
