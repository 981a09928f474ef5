"""A shared backbone that branches into one head per task, at a chosen stage.

`shared_stages` = all (the default, -1): one backbone, every task a head on its features (hard
parameter sharing, Caruana 1997). `shared_stages` = N: the first N stages are shared and every
task owns a copy of the later ones, so tasks that need different high-level features get them
while the low-level filters learn from every label. The shared stages run once per batch even
though each task's branch calls them (`_SharedStage` remembers its output within one forward).

The model is an `ImageClassifier`, so the trainer, weight averaging, checkpoints and attacks take
it as is: `forward(x)` returns the logits of `active` (the first task unless set), `forward_all`
every task's. `TaskView` is one task as a plain classifier (attacks, evaluation); `AllTasks` is
the export form, a tuple of logits in task order (one named ONNX output per task).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from engine.core.errors import UserError
from engine.models.classifier import ImageClassifier, build_model


class _SharedStage(nn.Module):
    """A stage every task's branch calls: computed once per forward while `memo` is a dict."""

    def __init__(self, stage: nn.Module) -> None:
        super().__init__()
        self.stage = stage
        self.memo: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.memo is None:
            return self.stage(x)
        hit = self.memo.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1]
        out = self.stage(x)
        self.memo[id(x)] = (x, out)  # keeping x alive keeps its id from being reused
        return out


def _head(dim: int, classes: int, bottleneck_dim: int) -> nn.Sequential:
    if bottleneck_dim > 0:
        return nn.Sequential(
            nn.Linear(dim, bottleneck_dim), nn.BatchNorm1d(bottleneck_dim), nn.ReLU(inplace=True),
            nn.Linear(bottleneck_dim, classes),
        )  # fmt: skip
    return nn.Sequential(nn.Linear(dim, classes))


class MultitaskClassifier(ImageClassifier):
    def __init__(
        self, base: ImageClassifier, tasks: dict[str, int], shared_stages: int = -1, bottleneck_dim: int = 0
    ) -> None:
        names = list(tasks)
        first = names[0]
        mean = tuple(float(v) for v in base.mean.flatten())
        std = tuple(float(v) for v in base.std.flatten())
        super().__init__(base.backbone, base.backbone_dim, tasks[first], mean, std, base.stages, 0)
        self.pretrained = base.pretrained
        count = len(base.stages)
        if shared_stages > count:
            raise UserError(
                f"method_options (multitask): shared_stages = {shared_stages}, but backbone has {count} stages; "
                f"use 0..{count} (or -1: share the whole backbone)."
            )
        self.shared_stages = count if shared_stages < 0 else shared_stages
        self.tasks = names
        self.active = first
        self.sizes = dict(tasks)  # classes per task
        self.heads = nn.ModuleDict({t: _head(base.backbone_dim, k, bottleneck_dim) for t, k in tasks.items()})
        del self.head  # the single-task head: every task has its own in `heads`
        self.branches: nn.ModuleDict | None = None
        self.shared: nn.ModuleList = nn.ModuleList()
        self._task_stages: dict[str, list[nn.Module]] = {t: base.stages for t in names}
        if self.shared_stages < count:
            self._branch(base, names)

    def _branch(self, base: ImageClassifier, names: list[str]) -> None:
        """A copy of the backbone per task whose first `shared_stages` stages are the shared ones."""
        where = {id(m): name for name, m in base.backbone.named_modules()}
        stage_names = [where[id(s)] for s in base.stages]
        copies = {t: copy.deepcopy(base.backbone) for t in names}
        self.shared = nn.ModuleList(_SharedStage(s) for s in base.stages[: self.shared_stages])
        for t, net in copies.items():
            for wrapper, name in zip(self.shared, stage_names, strict=False):
                parent, _, leaf = name.rpartition(".")
                setattr(net.get_submodule(parent) if parent else net, leaf, wrapper)
            self._task_stages[t] = [net.get_submodule(n) for n in stage_names]
        self.branches = nn.ModuleDict(copies)
        self.backbone = self.branches[names[0]]

    @property
    def stages(self) -> list[nn.Module]:
        """Stage i of every task together (the same module while shared), for freezing the first N."""
        count = len(self._task_stages[self.tasks[0]])
        out: list[nn.Module] = []
        for i in range(count):
            mods = {id(self._task_stages[t][i]): self._task_stages[t][i] for t in self.tasks}
            out.append(next(iter(mods.values())) if len(mods) == 1 else nn.ModuleList(mods.values()))
        return out

    @contextmanager
    def _once(self) -> Iterator[None]:
        for s in self.shared:
            assert isinstance(s, _SharedStage)
            s.memo = {}
        try:
            yield
        finally:
            for s in self.shared:
                assert isinstance(s, _SharedStage)
                s.memo = None

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every task's logits, computing the shared layers once."""
        z = (x - self.mean) / self.std
        if self.branches is None:
            f = self.backbone(z)
            return {t: self.heads[t](f) for t in self.tasks}
        with self._once():
            return {t: self.heads[t](self.branches[t](z)) for t in self.tasks}

    def task_logits(self, x: torch.Tensor, task: str) -> torch.Tensor:
        z = (x - self.mean) / self.std
        net = self.backbone if self.branches is None else self.branches[task]
        return self.heads[task](net(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.task_logits(x, self.active)

    def new_parameters(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Shared and task-owned stages, each parameter once."""
        seen: dict[int, nn.Parameter] = {}
        nets = [self.backbone] if self.branches is None else list(self.branches.values())
        for net in nets:
            for p in net.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches (what PCGrad projects)."""
        if self.branches is None:
            return [p for p in self.backbone.parameters() if p.requires_grad]
        return [p for p in self.shared.parameters() if p.requires_grad]


class TaskView(nn.Module):
    """One task of a multitask model as a plain classifier `x01 -> logits`."""

    def __init__(self, model: MultitaskClassifier, task: str) -> None:
        super().__init__()
        if task not in model.tasks:
            raise UserError(f"task '{task}' is not one of the model's tasks ({', '.join(model.tasks)}).")
        self.model, self.task = model, task
        self.num_classes = model.sizes[task]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.task_logits(x, self.task)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


class AllTasks(nn.Module):
    """The export form: a tuple of logits, one per task, in task order."""

    def __init__(self, model: MultitaskClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.forward_all(x)
        return tuple(out[t] for t in self.model.tasks)


def build_multitask(
    backbone: str, tasks: dict[str, int], weights: str = "random", shared_stages: int = -1, bottleneck_dim: int = 0
) -> MultitaskClassifier:
    base = build_model(backbone, max(tasks.values()), weights=weights)
    return MultitaskClassifier(base, tasks, shared_stages, bottleneck_dim)


def load_multitask(state: dict[str, Any], backbone: str) -> MultitaskClassifier:
    """The model of a multitask checkpoint (its `tasks` maps task -> classes)."""
    tasks = {t: len(c) for t, c in state["tasks"].items()}
    model = build_multitask(backbone, tasks, "random", int(state["shared_stages"]), int(state.get("bottleneck_dim", 0)))
    model.load_state_dict(state["model"])
    return model.eval()
