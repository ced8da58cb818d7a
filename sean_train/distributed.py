"""Multi-process training through torchrun: process-group setup, rank facts, consistency checks.

torchrun sets WORLD_SIZE, RANK, LOCAL_RANK and LOCAL_WORLD_SIZE; without them training runs as one process.
CPU runs use the gloo backend, GPU runs nccl (one GPU per process, SyncBatchNorm).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sean_core.checkpoint_files import latest_checkpoint, resume_command
from sean_core.errors import SeanError


class DeviceError(SeanError, RuntimeError):
    """A --device that this PyTorch cannot use (cuda on a CPU build, or with no GPU visible)."""


class WeightsDifferError(SeanError, RuntimeError):
    """Processes of a run hold different weights at a checkpoint (DDP keeps them equal)."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1  # the processes on this process's node: fewer than world_size over several nodes

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def name(self) -> str:
        """How this process is named in its errors: every process prints its own, so one that only process 1
        hits (a path missing on its node) is told apart from the same error printed by each."""
        return f"process {self.rank} of {self.world_size}"

    def resume_command(self, run_dir: str | Path) -> str:
        """The command that continues the run in `run_dir` with as many processes, over as many nodes."""
        return resume_command(run_dir, processes=self.world_size, per_node=self.local_world_size)


def from_environment() -> DistInfo:
    """This process's place in a torchrun launch (WORLD_SIZE > 1), or a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))  # unset: one node
    return DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")), local_world_size)


def continues(run_dir: Path, info: DistInfo) -> str:
    """How a run that stopped abruptly continues: from its latest checkpoint, or over from step 0."""
    command = info.resume_command(run_dir)
    latest = latest_checkpoint(run_dir)
    if latest is None:
        return f"no checkpoint was written: start it over with `{command}`"
    return f"it continues from {latest.name} with `{command}`"


def join(info: DistInfo, device: torch.device) -> None:
    """Join the process group: nccl for GPU processes, gloo on CPU."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def usable_device(requested: str, fix: str = "use --device cpu") -> str:
    """The device a --device value means here: "auto" -> "cuda" when PyTorch sees a GPU, else "cpu".

    Every command that takes --device calls this before any work or any file is written, so that a
    device this PyTorch cannot use is one line naming the fix (`fix`), not a traceback from deep inside
    torch minutes later. "cuda:N" is taken as well (library callers pass torch devices as text).
    """
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(requested).type == "cuda" and not torch.cuda.is_available():
        # A CPU build can never use a GPU (reinstalling is the fix), a CUDA build only sees none now;
        # ROCm builds answer through torch.cuda too but have no torch.version.cuda.
        cpu_build = torch.version.cuda is None and getattr(torch.version, "hip", None) is None
        build = " (this PyTorch is a CPU build)" if cpu_build else ""
        raise DeviceError(f"--device {requested}: PyTorch sees no CUDA GPU{build}; {fix}")
    return requested


def process_device(requested: str, info: DistInfo) -> torch.device:
    """This process's device: usable_device's answer, and under torchrun its own GPU (LOCAL_RANK)."""
    requested = usable_device(requested)
    if requested == "cuda":
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


def lost_peer(exc: BaseException) -> bool:
    """Whether `exc` is a collective failing because another process is gone (killed, or stopped by an error
    of its own): NCCL raises DistError subclasses, gloo a bare RuntimeError from its transport."""
    return isinstance(exc, dist.DistError) or (isinstance(exc, RuntimeError) and "gloo/transport" in str(exc))


def outlive_the_launchers_stop() -> None:
    """Called when a collective found another process gone: torchrun sends this one SIGTERM at once too, and
    Python's default for it would end the process before it says what happened (peers_watched); torchrun
    kills it 30 s later if it has not ended by then."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread, where a signal's handler cannot be set
        pass


def gather(value: Any, info: DistInfo) -> list[Any]:
    """`value` of every process, by rank (picklable objects; [value] for one process). Collective: every
    process calls it at the same point."""
    if not info.enabled:
        return [value]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def check_in_sync(modules: dict[str, nn.Module], info: DistInfo, step: int, run_dir: Path) -> None:
    """Stop the run if any process holds different weights than process 0 (DDP keeps them equal), before
    they are saved: process 0 names every process that differs, in one line with how the run continues
    (WeightsDifferError), the others end without a word. Collective: every process calls it."""
    if not info.enabled:
        return
    differ = []
    for name, module in modules.items():
        with torch.no_grad():
            checksum = torch.stack([p.detach().double().sum() for p in module.parameters()]).to(
                next(module.parameters()).device
            )
        reference = checksum.clone()
        dist.broadcast(reference, src=0)
        if not torch.equal(checksum, reference):
            differ.append(name)
    problems = [f"process {rank} ({', '.join(names)})" for rank, names in enumerate(gather(differ, info)) if names]
    if not problems:
        return
    # torchrun stops process 0 as soon as another ends: process 0 ignores that stop before the others may end
    if info.is_main:
        outlive_the_launchers_stop()
    dist.barrier()
    if not info.is_main:
        raise SystemExit(1)
    raise WeightsDifferError(
        f"the weights of {', '.join(problems)} differ from process 0's at step {step}, so its checkpoint is not "
        f"written (a process computed otherwise: faulty memory or GPU, or a change to one process's code or "
        f"libraries); {continues(run_dir, info)}"
    )


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
