"""One registry type for everything the app lists by name: methods, attacks, backbones.

A registry maps a lower-case name to an entry (a class or a spec). Lookups of an unknown name
raise a `UserError` that lists what is known, so the CLI and the window show the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from engine.core.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (`kind` is used in messages: "method", "attack", ...)."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._loader = loader  # imports the built-in entries on first lookup
        self._loaded = loader is None

    def add(self, name: str, entry: T) -> T:
        if not name:
            raise ValueError(f"a {self.kind} needs a name")
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} name {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def _load(self) -> None:
        if not self._loaded and self._loader is not None:
            self._loaded = True
            self._loader()

    def get(self, name: str, *default: T) -> T:
        """The entry; an unknown name raises a UserError listing the known ones (or returns
        `default` when one is given, as dict.get does)."""
        self._load()
        if name not in self._entries:
            if default:
                return default[0]
            raise UserError(f"{self.kind} '{name}' is unknown. Choose one of: {', '.join(sorted(self._entries))}.")
        return self._entries[name]

    def names(self) -> list[str]:
        self._load()
        return list(self._entries)

    def values(self) -> list[T]:
        self._load()
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def find(self, name: str) -> T | None:
        """The entry, or None when `name` is not registered."""
        self._load()
        return self._entries.get(name)

    def __setitem__(self, name: str, entry: T) -> None:  # tests register throw-away entries
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]
