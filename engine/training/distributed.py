"""Data-parallel training under torchrun: `torchrun --nproc_per_node N -m engine.cli train ...`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. `batch_size` is the GLOBAL batch: every step
each of the N processes takes its 1/N share of the same global batch (of source, and of target
images for adaptation), DistributedDataParallel averages the gradients, so a run under torchrun
takes the same steps, schedule and BatchNorm updates as the same command in one process, only
faster. Rank 0 writes the run directory and reports; the others stay silent.

Decisions must be identical on every rank or the processes deadlock (one stops, one waits):
the stop request and the non-finite-loss check are agreed every step (one small all-reduce),
buffers (BatchNorm statistics) are broadcast from rank 0 before evaluation, and rank 0's
epoch metrics, from which selection and early stopping are decided, are broadcast to all.
NCCL on CUDA, Gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.methods.base import Method


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device_choice: str) -> DistInfo | None:
    """Join the process group when launched by torchrun; None for a single process."""
    if world_size_from_env() <= 1:
        return None
    use_cuda = torch.cuda.is_available() and device_choice in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    return info


def device_for(info: DistInfo | None, device: torch.device) -> torch.device:
    if info is not None and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def broadcast_object(value: Any, info: DistInfo | None) -> Any:
    """Rank 0's value (a picklable object) on every rank."""
    if info is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_text(text: str, info: DistInfo | None) -> str:
    """Rank 0's string on every rank (the run directory it created)."""
    return str(broadcast_object(text, info))


def _comm_device(info: DistInfo, device: torch.device) -> torch.device:
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def all_mean(values: list[float], info: DistInfo | None, device: torch.device) -> list[float]:
    """The mean of each value over the ranks (itself without torchrun)."""
    if info is None or not values:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device(info, device))
    dist.all_reduce(t)
    return [float(v) / info.world for v in t.cpu()]


def agree_step(loss: float, stop: bool, info: DistInfo | None, device: torch.device) -> tuple[float, bool]:
    """(mean loss over the ranks, whether any rank asked to stop): one all-reduce, so every rank
    takes the same decision about a non-finite loss or a stop request at the same step."""
    if info is None:
        return loss, stop
    t = torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float64, device=_comm_device(info, device))
    dist.all_reduce(t)
    return float(t[0]) / info.world, bool(t[1] > 0)


@torch.no_grad()
def sync_buffers(module: nn.Module, info: DistInfo | None) -> None:
    """Rank 0's buffers (BatchNorm statistics) on every rank.

    DistributedDataParallel broadcasts them at the start of each forward pass, so after the last
    step of an epoch every rank but 0 holds statistics updated by its own last batch only.
    """
    if info is None:
        return
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


def teardown(info: DistInfo | None) -> None:
    if info is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sync_bn_note(sync_bn: bool, dist_info: DistInfo | None) -> str | None:
    """What to tell a user who asked for sync_bn outside torchrun (None when it applies)."""
    if sync_bn and dist_info is None:
        return "sync_bn has an effect under torchrun only; one process normalises its whole batch."
    return None


def wrap_for_ranks(method: Method[Any], device: torch.device, sync_bn: bool, dist_info: DistInfo | None) -> nn.Module:
    """The module the loops call: the method itself, or DistributedDataParallel around it (the
    discriminator and every other module a method adds are inside, so they are synchronised)."""
    if dist_info is None:
        return method
    if sync_bn:
        if device.type != "cuda":
            raise UserError(
                "sync_bn: PyTorch's SyncBatchNorm needs CUDA GPUs; on CPU set sync_bn = false "
                "(each process then normalises its own share of the batch)."
            )
        nn.SyncBatchNorm.convert_sync_batchnorm(method)
    ids = [device.index] if device.type == "cuda" else None
    # Every built-in method uses all its trainable parameters every step; a method that leaves
    # some out of a step says so (searching for them costs a graph traversal every step).
    find_unused = method.ddp_unused_parameters
    return nn.parallel.DistributedDataParallel(method, device_ids=ids, find_unused_parameters=find_unused)
