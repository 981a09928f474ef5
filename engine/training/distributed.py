"""Data-parallel training under torchrun: `torchrun --nproc_per_node N -m engine.cli train ...`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. Each process trains on its shard of every
epoch's permutation; DistributedDataParallel averages gradients; every rank evaluates (so all
take the same early-stopping and selection decisions) but only rank 0 writes the run directory
and reports progress. NCCL on CUDA, Gloo on CPU.
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


def teardown(info: DistInfo | None) -> None:
    if info is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
