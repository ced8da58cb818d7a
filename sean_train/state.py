"""Resumable training checkpoints: everything needed to continue a run exactly where it stopped.

A run folder holds `checkpoints/step_NNNNNNNN/`, each a complete model checkpoint (config.json +
model.safetensors with spectral norms folded, loadable by load_checkpoint / export) plus
`training.safetensors` (generator with its spectral-norm parametrization, discriminator, both Adam
states, RNG states) and `training.json` (step, optimiser hyper-parameters, Python / NumPy RNG states).
No pickles. A checkpoint is written into a hidden `.partial-*` folder and renamed into place, so a
kill at any moment (even SIGKILL) leaves only complete checkpoints visible.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save

from sean_runtime.files import atomic_write_bytes, atomic_write_json, fsync_dir
from sean_train.checkpoint import CheckpointError, load_state, save_checkpoint
from sean_train.networks import SEANModel

CHECKPOINTS_DIR = "checkpoints"
TRAINING_TENSORS = "training.safetensors"
TRAINING_JSON = "training.json"
BEST_FILE = "best.json"
STATE_FORMAT = "sean-training-state"
STATE_VERSION = 1
_STEP_DIR = re.compile(r"^step_(\d{8})$")


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


@dataclass
class TrainingState:
    """A loaded training checkpoint: tensors by prefix ("G", "D", "opt_g", "opt_d", "rng") + JSON."""

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    def module_state(self, prefix: str) -> dict[str, torch.Tensor]:
        head = prefix + "/"
        return {k[len(head) :]: v for k, v in self.tensors.items() if k.startswith(head)}

    def optimizer_state(self, prefix: str) -> dict[str, Any]:
        """Rebuild an optimizer.state_dict() from its flattened tensors and JSON parts."""
        state: dict[int, dict[str, Any]] = {}
        for key, value in self.module_state(prefix).items():
            index, name = key.split("/", 1)
            state.setdefault(int(index), {})[name] = value
        for index, values in self.meta["optimizers"][prefix]["scalars"].items():
            state.setdefault(int(index), {}).update(values)
        return {"state": state, "param_groups": self.meta["optimizers"][prefix]["param_groups"]}


def _cpu(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().cpu().clone().contiguous()


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state_dict = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{index}/{name}"] = _cpu(value)
            else:
                scalars.setdefault(str(index), {})[name] = value
    meta.setdefault("optimizers", {})[prefix] = {"param_groups": state_dict["param_groups"], "scalars": scalars}


def capture_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Torch (CPU and every CUDA device), NumPy and Python global RNG states."""
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    meta["rng"] = {
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "python": _to_json(random.getstate()),
    }


def restore_rng(state: TrainingState) -> None:
    torch.set_rng_state(state.tensors["rng/torch"])
    if torch.cuda.is_available():
        cuda = [state.tensors[k] for k in sorted(state.tensors) if k.startswith("rng/cuda/")]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    kind, keys, pos, has_gauss, gauss = state.meta["rng"]["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(_to_tuple(state.meta["rng"]["python"]))


def _to_json(value: Any) -> Any:
    return [_to_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def save_training_checkpoint(
    run_dir: str | Path,
    step: int,
    model: SEANModel,
    folded: SEANModel,
    discriminator: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    extra: dict[str, Any],
    model_extra: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoints/step_NNNNNNNN atomically (folder rename). Returns its path.

    model: the training generator (with spectral-norm parametrization); folded: its plain copy.
    extra goes into training.json, model_extra into the model's config.json.
    """
    root = Path(run_dir) / CHECKPOINTS_DIR
    final = root / step_dir_name(step)
    partial = root / f".partial-{step_dir_name(step)}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)

    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"format": STATE_FORMAT, "format_version": STATE_VERSION, "step": step, **extra}
    for prefix, module in (("G", model), ("D", discriminator)):
        for key, value in module.state_dict().items():
            tensors[f"{prefix}/{key}"] = _cpu(value)
    _flatten_optimizer("opt_g", opt_g, tensors, meta)
    _flatten_optimizer("opt_d", opt_d, tensors, meta)
    capture_rng(tensors, meta)

    save_checkpoint(folded, partial, extra=model_extra or {"step": step})
    atomic_write_bytes(partial / TRAINING_TENSORS, save(tensors))
    atomic_write_json(partial / TRAINING_JSON, meta)
    if final.exists():
        _discard(final)
    os.replace(partial, final)
    fsync_dir(root)
    return final


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first. Partial folders of a killed write are not listed."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / TRAINING_JSON).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def load_training_checkpoint(path: str | Path) -> TrainingState:
    path = Path(path)
    meta_path = path / TRAINING_JSON
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is missing or unreadable ({exc}): not a resumable checkpoint") from exc
    if meta.get("format") != STATE_FORMAT or meta.get("format_version", 0) > STATE_VERSION:
        raise CheckpointError(f"{meta_path} is not a training state this code can read")
    return TrainingState(path, load_state(path / TRAINING_TENSORS), meta)


def _discard(path: Path) -> None:
    """Remove a checkpoint folder: renamed out of sight first, so a kill mid-delete leaves no half folder."""
    trash = path.with_name(f".trash-{path.name}")
    if trash.exists():
        shutil.rmtree(trash)
    os.replace(path, trash)
    shutil.rmtree(trash)


def clean_partial(run_dir: str | Path) -> None:
    """Delete leftovers of writes or deletions that a kill interrupted."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith((".partial-", ".trash-")):
                shutil.rmtree(path, ignore_errors=True)


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / BEST_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_best(run_dir: str | Path, step: int, metric: str, value: float) -> None:
    atomic_write_json(Path(run_dir) / BEST_FILE, {"step": step, "metric": metric, "value": value})


def prune(run_dir: str | Path, keep_last: int) -> None:
    """Keep the newest `keep_last` checkpoints and the best one; delete the rest."""
    found = list_checkpoints(run_dir)
    best = read_best(run_dir)
    keep = {step for step, _ in found[-keep_last:]}
    if best is not None:
        keep.add(int(best["step"]))
    for step, path in found:
        if step not in keep:
            _discard(path)
