"""Multi-process training through torchrun: process-group setup, rank facts, consistency checks.

torchrun sets WORLD_SIZE, RANK, LOCAL_RANK and LOCAL_WORLD_SIZE; without them training runs as one process.
CPU runs use the gloo backend, GPU runs nccl (one GPU per process, SyncBatchNorm). A collective that waits
longer than $SEAN_DIST_TIMEOUT_S (default 600 s) for another process fails (timed_out).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sean_core.checkpoint_files import latest_checkpoint, resume_command
from sean_core.errors import SeanError

TIMEOUT_ENV = "SEAN_DIST_TIMEOUT_S"
# torch's gloo default is 30 min, nccl's 10: a stuck process (a hung read on one node, a paused process) is
# found after 10 min on either, which still leaves process 0 time for a slow validation and checkpoint write
# while the others wait at the next collective.
DEFAULT_TIMEOUT_S = 600


class DeviceError(SeanError, RuntimeError):
    """A --device that this PyTorch cannot use (cuda on a CPU build, or with no GPU visible)."""


class TimeoutSettingError(SeanError, ValueError):
    """A $SEAN_DIST_TIMEOUT_S that is not a positive number of seconds."""


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

    def resume_command(self, run_dir: str | Path, data: str | Path | None = None) -> str:
        """The command that continues the run in `run_dir` (reading `data` where given) with as many processes,
        over as many nodes."""
        return resume_command(run_dir, data, processes=self.world_size, per_node=self.local_world_size)


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


def collective_timeout() -> float:
    """Seconds a collective waits for the other processes: $SEAN_DIST_TIMEOUT_S, else DEFAULT_TIMEOUT_S."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise TimeoutSettingError(
            f"{TIMEOUT_ENV} is {text!r:.40}, not a number of seconds above 0; set it to e.g. 1800 or unset it "
            f"(default {DEFAULT_TIMEOUT_S})"
        )
    return seconds


def join(info: DistInfo, device: torch.device) -> None:
    """Join the process group: nccl for GPU processes, gloo on CPU, with collective_timeout (gloo's collectives
    fail with a timed_out error after it; nccl's watchdog ends the process)."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                timeout=timedelta(seconds=collective_timeout()))


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
    of its own) or silent past the timeout (timed_out): NCCL raises DistError subclasses, gloo a bare
    RuntimeError from its transport."""
    return isinstance(exc, dist.DistError) or timed_out(exc) or (
        isinstance(exc, RuntimeError) and "gloo/transport" in str(exc)
    )


def timed_out(exc: BaseException) -> bool:
    """Whether `exc` is a collective that waited collective_timeout for another process: gloo's transport
    ("Timed out waiting 600000ms for recv operation", or "Application timeout caused pair closure" where
    the wait ends in a DDP broadcast), the store of the process group ("Timed out after 600 seconds waiting
    for clients")."""
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("timed out" in text or "timeout caused pair closure" in text)


def peer_problem(exc: BaseException, info: DistInfo, then: Callable[[], str]) -> str | None:
    """What happened, in one line with what to do next (`then`, asked only here), when `exc` is a collective
    failing because of another process: gone (killed, or stopped by an error of its own) or silent past the
    timeout (stuck); None for any other error."""
    if not info.enabled:
        return None
    if timed_out(exc):
        seconds = collective_timeout()
        return (
            f"another process of this run did not answer for {seconds:g} s (stuck: a hung data read or file "
            f"system, a paused process, a node cut off from the network), so this one stops; {then()}; if it "
            f"was only slow (a long validation or checkpoint write), set {TIMEOUT_ENV} to more seconds for the "
            f"launch (default {DEFAULT_TIMEOUT_S})"
        )
    if lost_peer(exc):
        return (f"another process of this run stopped (killed, or its error is above), so this one stops too; "
                f"{then()}")
    return None


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
