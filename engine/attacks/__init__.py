"""Adversarial attacks, one per module, registered by name.

`get_attack(name)` returns the class, `list_attacks(kind)` the names. Importing this package
imports every attack module so the registry is complete.
"""
from __future__ import annotations

from engine.attacks.base import ATTACKS, AttackConfig, AttackResult, WhiteBoxAttack, get_attack, list_attacks, register
from engine.attacks.queries import QueryAttack, QueryCounter

from engine.attacks import cw, deepfool, fgsm, hopskipjump, pgd, square, transfer  # noqa: E402,F401  (registration)

__all__ = [
    "ATTACKS",
    "AttackConfig",
    "AttackResult",
    "QueryAttack",
    "QueryCounter",
    "WhiteBoxAttack",
    "get_attack",
    "list_attacks",
    "register",
]
