"""The branching model: shared stages are one module and run once; each task owns the rest."""

from __future__ import annotations

import pytest
import torch

from engine.core.errors import UserError
from engine.multitask.model import AllTasks, TaskView, build_multitask


def test_branch_after_backbone_shares_everything_but_heads() -> None:
    torch.manual_seed(0)
    m = build_multitask("small_cnn", {"digit": 10, "parity": 2}).eval()
    assert m.branches is None and m.shared_stages == 4
    x = torch.rand(3, 3, 32, 32)
    out = m.forward_all(x)
    assert out["digit"].shape == (3, 10) and out["parity"].shape == (3, 2)
    assert torch.allclose(m(x), out["digit"])  # forward: the active (first) task
    assert torch.allclose(TaskView(m, "parity")(x), out["parity"])
    assert [t.shape[1] for t in AllTasks(m)(x)] == [10, 2]
    with pytest.raises(UserError, match="not one of the model's tasks"):
        TaskView(m, "colour")


def test_branch_after_stage_n_shares_the_first_n_and_runs_them_once() -> None:
    torch.manual_seed(0)
    m = build_multitask("small_cnn", {"a": 3, "b": 4}, shared_stages=2).eval()
    assert m.branches is not None
    a, b = m.branches["a"], m.branches["b"]
    assert a.block1 is b.block1 and a.block2 is b.block2  # shared stages: the same modules
    assert a.block3 is not b.block3 and a.fc is not b.fc  # later stages: one copy per task
    assert a.block3[0].weight.data_ptr() != b.block3[0].weight.data_ptr()
    ids = {id(p) for p in m.backbone_parameters()}
    assert len(ids) == len(m.backbone_parameters())
    calls = []
    hook = m.shared[0].stage.register_forward_hook(lambda *_: calls.append(1))
    x = torch.rand(2, 3, 32, 32)
    out = m.forward_all(x)
    assert len(calls) == 1  # computed once for both tasks
    hook.remove()
    assert torch.allclose(out["b"], m.task_logits(x, "b"), atol=1e-6)
    # a loss on task a trains the shared stages and a's own stages, never b's
    m.train()
    m.task_logits(torch.rand(4, 3, 32, 32), "a").sum().backward()
    assert a.block1.stage[0].weight.grad is not None and a.block3[0].weight.grad is not None
    assert b.block3[0].weight.grad is None
    # freezing the first 3 stages reaches every task's copy of stage 3
    assert {id(p) for p in m.stages[2].parameters()} >= {id(a.block3[0].weight), id(b.block3[0].weight)}


def test_branch_point_beyond_the_backbone_is_refused() -> None:
    with pytest.raises(UserError, match="shared_stages = 9, but backbone has 4 stages"):
        build_multitask("small_cnn", {"a": 2, "b": 2}, shared_stages=9)
