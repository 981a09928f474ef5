"""The user's edits of a clustering: rename, merge, move images, drop outliers; undo for each.

Plain Python (no Qt, no torch), so the Cluster page stays a thin view and the rules are tested
on their own. Every edit first records a snapshot; `undo()` restores the last one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine.analysis.cluster_folders import check_folder_name
from engine.core.errors import UserError


@dataclass
class Group:
    name: str
    members: list[str] = field(default_factory=list)  # most typical first


class ClusterEdits:
    """Groups of image paths under editable names, plus the images dropped as outliers."""

    def __init__(self, groups: list[tuple[str, list[str]]], dropped: list[str] | None = None) -> None:
        self.groups = [Group(name, list(members)) for name, members in groups]
        self.dropped: list[str] = list(dropped or [])
        self._history: list[tuple[list[Group], list[str], str]] = []

    # ------------------------------------------------------------------ history
    def _save(self, what: str) -> None:
        self._history.append((copy.deepcopy(self.groups), list(self.dropped), what))

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    def undo_text(self) -> str:
        return self._history[-1][2] if self._history else ""

    def undo(self) -> str:
        """Restore the state before the last edit; returns what was undone ('' if nothing)."""
        if not self._history:
            return ""
        self.groups, self.dropped, what = self._history.pop()
        return what

    # ------------------------------------------------------------------ edits
    def rename(self, index: int, name: str) -> None:
        name = name.strip()
        check_folder_name(name)
        if any(g.name.lower() == name.lower() for i, g in enumerate(self.groups) if i != index):
            raise UserError(f"a cluster is already named {name!r}; choose another name or merge the two.")
        if self.groups[index].name == name:
            return
        self._save(f"rename {self.groups[index].name} to {name}")
        self.groups[index].name = name

    def merge(self, indices: list[int]) -> int:
        """Merge the clusters at `indices` into the first of them; returns its new index."""
        indices = sorted(set(indices))
        if len(indices) < 2:
            raise UserError("select two or more clusters to merge.")
        keep = self.groups[indices[0]]
        self._save(f"merge {', '.join(self.groups[i].name for i in indices)}")
        for i in indices[1:]:
            keep.members.extend(self.groups[i].members)
        self.groups = [g for i, g in enumerate(self.groups) if i not in indices[1:]]
        return self.groups.index(keep)

    def move(self, paths: list[str], to_index: int) -> None:
        if not paths:
            raise UserError("select the images to move first.")
        target = self.groups[to_index]
        self._save(f"move {len(paths)} image(s) to {target.name}")
        chosen = set(paths)
        for g in self.groups:
            if g is not target:
                g.members = [m for m in g.members if m not in chosen]
        target.members.extend(p for p in paths if p not in target.members)

    def drop(self, paths: list[str]) -> None:
        """Leave images out of every cluster (outliers); they are not written when saving."""
        if not paths:
            raise UserError("select the images to drop first.")
        self._save(f"drop {len(paths)} image(s)")
        chosen = set(paths)
        for g in self.groups:
            g.members = [m for m in g.members if m not in chosen]
        self.dropped.extend(p for p in paths if p not in self.dropped)

    # ------------------------------------------------------------------ result
    def labelled_groups(self) -> dict[str, list[str]]:
        """Non-empty clusters by name: what "Save as labelled folder" writes."""
        return {g.name: list(g.members) for g in self.groups if g.members}
