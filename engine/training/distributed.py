"""Data-parallel training under torchrun: `torchrun --nproc_per_node N -m engine.cli train ...`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. Each process trains on its shard of every
epoch's permutation (source and target); DistributedDataParallel averages gradients of the whole
method (classifier, discriminator and every extra module). At each epoch's end every rank
recomputes the BatchNorm statistics on the whole training set (identical on every rank), then
evaluates the whole validation set; train loss and accuracy are averaged over the ranks, and the
selection score is rank 0's, so every rank takes the same selection and early-stopping
decisions. Only rank 0 writes the run directory and reports progress. NCCL on CUDA, Gloo on CPU.

The bug this fixed (chance accuracy under torchrun): each rank's BatchNorm running averages saw
only its shard, and half as many steps, and DDP broadcasts rank 0's buffers before each forward;
after two short epochs they still lay near their initial values, so the model in eval mode
predicted one class while train-mode accuracy was 84%.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def broadcast_text(text: str, info: DistInfo | None) -> str:
    """Rank 0's string on every rank (the run directory it created)."""
    if info is None:
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def average_metrics(metrics: dict[str, float], info: DistInfo | None) -> dict[str, float]:
    """The mean of each metric over the ranks (every rank calls this with the same keys)."""
    if info is None or not metrics:
        return metrics
    keys = sorted(metrics)
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return {k: float(v) / info.world for k, v in zip(keys, values.tolist(), strict=True)}


def broadcast_float(value: float, info: DistInfo | None) -> float:
    """Rank 0's value on every rank, so decisions taken from it are identical everywhere."""
    if info is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return float(box[0])


def teardown(info: DistInfo | None) -> None:
    if info is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
