"""Adversarial attacks, one per module, registered by name.

`get_attack(name)` returns the class, `list_attacks(kind)` the names. Importing this package
imports every attack module so the registry is complete.
"""

from __future__ import annotations

from engine.attacks import cw, deepfool, fgsm, hopskipjump, pgd, square, transfer  # noqa: F401  (registration)
from engine.attacks.base import ATTACKS, AttackConfig, AttackResult, WhiteBoxAttack, get_attack, list_attacks, register
from engine.attacks.queries import QueryAttack, QueryCounter

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
