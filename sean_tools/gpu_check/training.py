"""Training on the check's device: steps with AMP on and off, and kill -9 / --resume against an
uninterrupted run (sean_train.trainer.Trainer and `sean train`, unchanged)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from sean_tools.gpu_check.child import DETERMINISTIC_ENV, KILL_ENV
from sean_tools.gpu_check.plan import CheckPlan


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak GPU memory allocated by tensors since the last reset (None on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def train_steps(config_data: dict[str, Any], steps: int, device: str, amp: bool, run_dir: Path) -> dict[str, Any]:
    """`steps` training steps of a fresh Trainer, timed one by one, on batches drawn before the clock starts
    (the synthetic domain draws its images on the CPU, which is not what is measured)."""
    from torch.utils.data import DataLoader

    from sean_train.data import ResumableBatchSampler
    from sean_train.train_config import RunConfig, bind_domain
    from sean_train.trainer import Trainer

    config_data = {**config_data, "train": {**config_data.get("train", {}), "amp": "bf16" if amp else "off"}}
    config, domain = bind_domain(RunConfig.from_dict(config_data))
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(run_dir, config, domain, device=device, progress=False)
    batches = list(DataLoader(trainer.dataset, batch_sampler=ResumableBatchSampler(trainer.order, 0, steps)))
    trainer.model.train()
    trainer.disc.train()
    reset_peak_memory(trainer.device)
    seconds, losses = [], {}
    for batch in batches:
        started = time.perf_counter()
        losses = trainer.train_step(batch, trainer.model, trainer.disc)  # under the config's train.amp
        synchronize(trainer.device)
        seconds.append(time.perf_counter() - started)
        trainer.step += 1
    values = {name: float(value) for name, value in losses.items()}
    weights_finite = all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())
    steady = seconds[1:] or seconds  # the first step includes loading kernels and the first allocations
    return {
        "steps": steps,
        "batch": config.train.batch_size,
        "amp": "bf16 autocast" if amp else "off",
        "first_step_s": seconds[0],
        "step_s_median": statistics.median(steady),
        "images_per_s": config.train.batch_size / statistics.median(steady),
        "peak_memory_mb": peak_memory_mb(trainer.device),
        "final_losses": values,
        "finite": weights_finite and all(map(lambda v: v == v and abs(v) != float("inf"), values.values())),
    }


# --- kill -9 and --resume ------------------------------------------------------------------------------
def _child(args: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sean_tools.gpu_check.child", "--quiet", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)


def training_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    """Weights, discriminator and both Adam states of a run's latest checkpoint (RNG bytes left out)."""
    from sean_core.checkpoint_files import latest_checkpoint
    from sean_train.state import load_training_checkpoint

    state = load_training_checkpoint(latest_checkpoint(run_dir))
    return {k: v for k, v in state.tensors.items() if not k.startswith("rng/")}


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    if a.keys() != b.keys():
        return float("inf")
    return max(((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].numel()), default=0.0)


def kill_and_resume(config_data: dict[str, Any], plan: CheckPlan, workdir: Path, timeout_s: float = 600) -> dict:
    """An uninterrupted run, a run killed with SIGKILL during step plan.kill_at and resumed with --resume,
    compared tensor by tensor; where they differ, a second uninterrupted run gives this device's own
    run-to-run difference (nondeterministic kernels), for scale."""
    from sean_core.checkpoint_files import list_checkpoints

    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "run.yaml"
    config.write_text(yaml.safe_dump(config_data), encoding="utf-8")
    env = {**os.environ, **DETERMINISTIC_ENV}
    env.pop(KILL_ENV, None)
    common = ["--device", plan.device, *(["--threads", "1"] if plan.device == "cpu" else [])]
    started = time.perf_counter()

    def run(*args: str, kill: bool = False) -> subprocess.CompletedProcess:
        return _child([*args, *common], {**env, KILL_ENV: str(plan.kill_at)} if kill else env, timeout_s)

    reference = workdir / "uninterrupted"
    done = run("--config", str(config), "--out", str(reference))
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {done.stderr.strip()[-2000:]}")
    killed = workdir / "killed"
    died = run("--config", str(config), "--out", str(killed), kill=True)
    if died.returncode != -9:
        raise RuntimeError(f"the run to be killed ended with {died.returncode}, not SIGKILL: {died.stderr[-2000:]}")
    killed_after = list_checkpoints(killed)[-1][0] if list_checkpoints(killed) else None
    resumed = run("--resume", str(killed))
    if resumed.returncode != 0:
        raise RuntimeError(f"--resume failed: {resumed.stderr.strip()[-2000:]}")
    difference = largest_difference(training_tensors(reference), training_tensors(killed))
    warned = {line.strip() for proc in (done, died, resumed) for line in proc.stderr.splitlines()
              if "does not have a deterministic implementation" in line}
    result: dict[str, Any] = {
        "steps": plan.shapes_steps,
        "nondeterministic_ops": sorted(warned),  # PyTorch's warnings under use_deterministic_algorithms
        "killed_during_step": plan.kill_at,
        "resumed_from_checkpoint": killed_after,
        "resumed_message": next((line for line in resumed.stderr.splitlines() if "resuming at step" in line), ""),
        "max_abs_difference": difference,
        "identical": difference == 0.0,
    }
    if difference != 0.0:
        again = workdir / "uninterrupted-2"
        second = run("--config", str(config), "--out", str(again))
        if second.returncode == 0:
            result["run_to_run_difference"] = largest_difference(training_tensors(reference), training_tensors(again))
    result["seconds"] = time.perf_counter() - started
    return result
