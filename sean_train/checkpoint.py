"""Self-describing model checkpoints: a folder with `config.json` + `model.safetensors`.

No pickles: the config rebuilds the networks, safetensors holds the (spectral-norm-folded) weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from sean_runtime.errors import SeanError
from sean_runtime.files import atomic_write_bytes, atomic_write_json, sha256_file
from sean_train.config import ConfigError, ModelConfig
from sean_train.networks import SEANModel

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "sean-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(SeanError, RuntimeError):
    """A checkpoint that is missing, corrupt, or does not match its config."""


def save_checkpoint(model: SEANModel, directory: str | Path, extra: dict | None = None) -> Path:
    """Write config.json and model.safetensors atomically. Returns the folder."""
    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, save(state))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "weights_sha256": sha256_file(directory / WEIGHTS_FILE),
    }
    if extra:
        meta["extra"] = extra
    atomic_write_json(directory / CONFIG_FILE, meta)
    return directory


def read_config(directory: str | Path) -> tuple[ModelConfig, dict]:
    """Read and validate config.json of a checkpoint folder -> (ModelConfig, the whole JSON)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(
            f"checkpoint folder {directory} does not exist (expected a folder with {CONFIG_FILE} and "
            f"{WEIGHTS_FILE}, as written by `sean train` or `sean convert-official`)"
        )
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: {directory} is not a SEAN checkpoint folder")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the checkpoint is corrupt") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a SEAN checkpoint config (missing \"format\": \"{FORMAT}\")")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {meta['format_version']}, newer than this code "
            f"({FORMAT_VERSION}); upgrade sean-deploy"
        )
    try:
        config = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: invalid model config: {exc}") from exc
    return config, meta


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file with a clear error when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc}); it may be truncated") from exc


def check_state_matches(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError naming every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:10])}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:10])}")
    if wrong:
        problems.append(f"shape mismatches ({len(wrong)}): {'; '.join(wrong[:10])}")
    if problems:
        raise CheckpointError(f"{source} does not match its config: " + " | ".join(problems))


def load_checkpoint(directory: str | Path, verify_hash: bool = True) -> SEANModel:
    """Rebuild the model from a checkpoint folder, in eval mode."""
    directory = Path(directory)
    config, meta = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if verify_hash and meta.get("weights_sha256") and weights.is_file():
        actual = sha256_file(weights)
        if actual != meta["weights_sha256"]:
            raise CheckpointError(
                f"{weights} does not match the sha256 in {CONFIG_FILE} (file {actual[:12]}…, "
                f"expected {meta['weights_sha256'][:12]}…): the file is corrupt or was replaced"
            )
    state = load_state(weights)
    model = SEANModel(config)
    check_state_matches(model, state, str(weights))
    model.load_state_dict(state)
    return model.eval()
