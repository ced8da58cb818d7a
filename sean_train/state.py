"""Resumable training checkpoints: everything needed to continue a run exactly where it stopped.

A run folder holds `checkpoints/step_NNNNNNNN/`, each a complete model checkpoint (config.json +
model.safetensors with spectral norms folded, loadable by load_checkpoint / export) plus
`training.safetensors` (generator with its spectral-norm parametrization, discriminator, both Adam
states, torch RNG states) and `training.json` (step, optimiser hyper-parameters, the run config).
No pickles. A checkpoint is written into a hidden `.partial-*` folder and renamed into place, so a
kill at any moment (even SIGKILL) leaves only complete checkpoints visible.

NumPy's and Python's global RNGs are not saved: nothing in training draws from them (data order,
flips and noise are functions of seed and step), and they are seeded from the OS, so saving them
would make two identical runs differ. Every file is checked when it is read, before the first step.

The run folder's layout and the lookups that need no torch (list_checkpoints, latest_checkpoint, read_best)
are sean_core.checkpoint_files', which the runtime shares.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from sean_core.checkpoint_files import (
    BEST_FILE,
    CHECKPOINTS_DIR,
    TRAINING_JSON,
    list_checkpoints,
    read_best,
    step_dir_name,
)
from sean_core.errors import SeanError
from sean_core.files import atomic_write_bytes, atomic_write_json, fsync_dir, make_dirs, read_json, write_problem
from sean_train.checkpoint import (
    CheckpointError,
    check_finite,
    check_state_matches,
    load_state,
    read_config,
    save_checkpoint,
    verify_weights,
)
from sean_train.networks import SEANModel

TRAINING_TENSORS = "training.safetensors"
STATE_FORMAT = "sean-training-state"
STATE_VERSION = 1


@dataclass
class TrainingState:
    """A loaded training checkpoint: tensors by prefix ("G", "D", "opt_g", "opt_d", "rng") + JSON."""

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return self.meta["step"]

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


def capture_rng(tensors: dict[str, torch.Tensor]) -> None:
    """Torch's global RNG states (CPU and every CUDA device), for anything that draws from them."""
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state


def restore_rng(state: TrainingState) -> None:
    torch.set_rng_state(state.tensors["rng/torch"])
    if torch.cuda.is_available():
        cuda = [state.tensors[k] for k in sorted(state.tensors) if k.startswith("rng/cuda/")]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def _bad(state: TrainingState, problem: str) -> CheckpointError:
    return CheckpointError(
        f"{state.path}: {problem}; the checkpoint is damaged: delete that folder to resume from the one before"
    )


def _load_optimizer(state: TrainingState, prefix: str, optimizer: torch.optim.Optimizer) -> None:
    """Rebuild and load one optimizer's state, checking that every moment tensor has its parameter's shape."""
    entry = state.meta["optimizers"].get(prefix)
    if not isinstance(entry, dict) or not isinstance(entry.get("param_groups"), list) \
            or not isinstance(entry.get("scalars"), dict):
        raise _bad(state, f"{TRAINING_JSON} has no valid optimizer entry {prefix!r}")
    try:
        loaded = state.optimizer_state(prefix)
        optimizer.load_state_dict(loaded)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # torch's checks of a state dict
        raise _bad(state, f"the {prefix} optimizer state does not fit this model ({exc})") from exc
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, values in loaded["state"].items():
        if not 0 <= index < len(params):
            raise _bad(state, f"{prefix} has state for parameter {index}, but the model has {len(params)}")
        for name, value in values.items():
            if isinstance(value, torch.Tensor) and value.ndim and value.shape != params[index].shape:
                raise _bad(
                    state,
                    f"{prefix}/{index}/{name} has shape {tuple(value.shape)}, its parameter "
                    f"{tuple(params[index].shape)}",
                )
            if isinstance(value, torch.Tensor) and value.ndim and value.dtype != params[index].dtype:
                raise _bad(state, f"{prefix}/{index}/{name} is {value.dtype}, its parameter {params[index].dtype}")


def restore_training_state(
    state: TrainingState,
    model: torch.nn.Module,
    discriminator: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
) -> None:
    """Load weights, optimizer states and RNG states, each checked first (CheckpointError names the file)."""
    for prefix, module in (("G", model), ("D", discriminator)):
        tensors = state.module_state(prefix)
        check_state_matches(module, tensors, f"{state.path / TRAINING_TENSORS} ({prefix})")
        check_finite(tensors, f"{state.path / TRAINING_TENSORS} ({prefix})")
        own = module.state_dict()
        cast = sorted(name for name, value in tensors.items() if value.dtype != own[name].dtype)
        if cast:  # load_state_dict would cast them silently, and the resume would not be exact
            name = cast[0]
            raise _bad(state, f"{prefix}/{name} is {tensors[name].dtype}, the model's {own[name].dtype} "
                              f"({len(cast)} tensor(s) so); it was rewritten")
        module.load_state_dict(tensors)
    _load_optimizer(state, "opt_g", opt_g)
    _load_optimizer(state, "opt_d", opt_d)
    rng = state.tensors.get("rng/torch")
    expected = torch.get_rng_state()
    if rng is None or rng.dtype != expected.dtype or rng.shape != expected.shape:
        found = "missing" if rng is None else f"{rng.dtype} {tuple(rng.shape)}"
        raise _bad(state, f"the torch RNG state rng/torch is {found}, not {expected.dtype} {tuple(expected.shape)}")
    restore_rng(state)


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
    make_dirs(partial)

    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"format": STATE_FORMAT, "format_version": STATE_VERSION, "step": step, **extra}
    for prefix, module in (("G", model), ("D", discriminator)):
        for key, value in module.state_dict().items():
            tensors[f"{prefix}/{key}"] = _cpu(value)
    _flatten_optimizer("opt_g", opt_g, tensors, meta)
    _flatten_optimizer("opt_d", opt_d, tensors, meta)
    capture_rng(tensors)

    try:
        save_checkpoint(folded, partial, extra=model_extra or {"step": step})
        atomic_write_bytes(partial / TRAINING_TENSORS, save(tensors))
        atomic_write_json(partial / TRAINING_JSON, meta)
        if final.exists():
            _discard(final)
        os.replace(partial, final)
    except OSError as exc:  # a full disk: nothing half-written stays behind
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, SeanError):
            raise
        raise write_problem(final, exc) from exc
    fsync_dir(root)
    return final


def load_training_checkpoint(path: str | Path) -> TrainingState:
    """Read training.json and training.safetensors of a checkpoint, checking the JSON's fields."""
    path = Path(path)
    meta_path = path / TRAINING_JSON
    fix = "not a resumable checkpoint: delete that folder to resume from the one before"
    meta = read_json(meta_path, CheckpointError, fix)
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f'{meta_path} is not a training state (no "format": "{STATE_FORMAT}"); {fix}')
    version, step = meta.get("format_version"), meta.get("step")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= STATE_VERSION:
        raise CheckpointError(f"{meta_path}: format_version {version!r:.40}; this code reads 1..{STATE_VERSION}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise CheckpointError(f"{meta_path}: step is {step!r:.40}, not a positive integer; {fix}")
    if not isinstance(meta.get("optimizers"), dict) or not isinstance(meta.get("run_config"), dict):
        raise CheckpointError(f"{meta_path} lacks its optimizers or run_config section; {fix}")
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


def check_kept_models(run_dir: str | Path, latest: Path) -> None:
    """Before a resume: the model files (config.json + model.safetensors, by their sha256) of the latest
    checkpoint and of the best one, which pruning keeps for good and `--which best` reads, are sound."""
    folders = {latest: ("the latest", "delete that folder to resume from the one before")}
    best = read_best(run_dir)
    if best is not None:
        path = Path(run_dir) / CHECKPOINTS_DIR / step_dir_name(best["step"])
        if path.is_dir():
            folders.setdefault(path, (f"the best ({BEST_FILE})", f"delete it and {BEST_FILE} to resume"))
    for folder, (which, fix) in folders.items():
        try:
            verify_weights(folder, read_config(folder)[1])
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}; {folder.name} is {which} checkpoint of the run: {fix}") from exc


def write_best(run_dir: str | Path, step: int, metric: str, value: float) -> None:
    atomic_write_json(Path(run_dir) / BEST_FILE, {"step": step, "metric": metric, "value": value})


def prune(run_dir: str | Path, keep_last: int) -> None:
    """Keep the newest `keep_last` checkpoints and the best one; delete the rest."""
    found = list_checkpoints(run_dir)
    best = read_best(run_dir)
    keep = {step for step, _ in found[-keep_last:]}
    if best is not None:
        keep.add(best["step"])
    for step, path in found:
        if step not in keep:
            _discard(path)
