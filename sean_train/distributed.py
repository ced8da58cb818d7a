"""Multi-process training through torchrun: process-group setup, rank facts, consistency checks.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; without them training runs as one process. CPU runs
use the gloo backend, GPU runs nccl (one GPU per process, SyncBatchNorm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> DistInfo:
    """This process's place in a torchrun launch (WORLD_SIZE > 1), or a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def join(info: DistInfo, device: torch.device) -> None:
    """Join the process group: nccl for GPU processes, gloo on CPU."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def process_device(requested: str, info: DistInfo) -> torch.device:
    """"auto" -> this process's GPU if there is one, else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu")
        device = torch.device("cuda", info.local_rank if info.enabled else torch.cuda.current_device())
        torch.cuda.set_device(device)
        return device
    return torch.device(requested)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def mean_over_processes(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a small tensor over all processes (for logging)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def check_in_sync(modules: dict[str, nn.Module], info: DistInfo) -> None:
    """Raise if any process holds different weights than process 0 (DDP should keep them equal)."""
    if not info.enabled:
        return
    for name, module in modules.items():
        with torch.no_grad():
            checksum = torch.stack([p.detach().double().sum() for p in module.parameters()]).to(
                next(module.parameters()).device
            )
        reference = checksum.clone()
        dist.broadcast(reference, src=0)
        if not torch.equal(checksum, reference):
            raise RuntimeError(f"process {info.rank}: {name} weights differ from process 0; the run is corrupt")


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
