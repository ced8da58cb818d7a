"""Self-describing model checkpoints: a folder with `config.json` + `model.safetensors`.

No pickles: the config rebuilds the networks, safetensors holds the (spectral-norm-folded) weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from sean_core.checkpoint_files import CONFIG_FILE, WEIGHTS_FILE, refuse_package
from sean_core.errors import CheckpointError
from sean_core.files import atomic_write_bytes, atomic_write_json, read_json, sha256_file
from sean_train.config import ConfigError, ModelConfig
from sean_train.networks import SEANModel

FORMAT = "sean-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(
    model: SEANModel, directory: str | Path, extra: dict | None = None, weights_dtype: torch.dtype | None = None
) -> Path:
    """Write config.json and model.safetensors atomically. Returns the folder.

    weights_dtype: store the floating-point weights in this dtype (torch.float16 halves the file; loading
    casts them back to the model's float32), None as they are.
    """
    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if weights_dtype is not None:
        state = {k: v.to(weights_dtype) if v.is_floating_point() else v for k, v in state.items()}
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
        refuse_package(directory)
        raise CheckpointError(f"{path} is missing: {directory} is not a SEAN checkpoint folder")
    meta = read_json(path, CheckpointError, "the checkpoint is corrupt")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a SEAN checkpoint config (missing \"format\": \"{FORMAT}\")")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: format_version is {version!r:.40}, not a positive integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {version}, newer than this code ({FORMAT_VERSION}); upgrade sean-deploy"
        )
    if not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"{path} has no \"model\" section (the model config)")
    try:
        config = ModelConfig.from_dict(meta["model"], f"{path}: model")
    except ConfigError as exc:
        raise CheckpointError(f"invalid model config: {exc}") from exc
    digest = meta.get("weights_sha256")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
        raise CheckpointError(f"{path}: weights_sha256 is {digest!r:.80}, not a sha256 hex digest")
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


def verify_weights(directory: Path, meta: dict) -> None:
    """The weights file has the sha256 its config.json records; a config without one is refused too."""
    weights = directory / WEIGHTS_FILE
    expected = meta.get("weights_sha256")
    if expected is None:
        raise CheckpointError(
            f"{directory / CONFIG_FILE} records no weights_sha256, so {WEIGHTS_FILE} cannot be verified; "
            f"load it unverified only if you trust the file (--no-verify, or verify_hash=False)"
        )
    mend = f"copy the whole folder again ({CONFIG_FILE} and {WEIGHTS_FILE} together), or use another checkpoint"
    if not weights.is_file():
        raise CheckpointError(f"weights file {weights} is missing; {mend}")
    actual = sha256_file(weights)
    if actual != expected:
        raise CheckpointError(
            f"{weights} does not match the sha256 in {CONFIG_FILE} (file {actual[:12]}…, "
            f"expected {expected[:12]}…): the file is corrupt or was replaced; {mend}"
        )


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Every floating-point tensor finite: a NaN or Inf weight turns every output into NaN."""
    bad = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if bad:
        raise CheckpointError(
            f"{source}: {len(bad)} tensor(s) hold NaN or infinite values ({', '.join(bad[:5])}); "
            f"the model diverged or the file is damaged: use an earlier checkpoint"
        )


def load_checkpoint(directory: str | Path, verify_hash: bool = True) -> SEANModel:
    """Rebuild the model from a checkpoint folder, in eval mode.

    verify_hash: check the weights against the sha256 in config.json (a config without one is refused);
    False loads unverified weights. Weights with NaN or Inf values are always refused.
    """
    directory = Path(directory)
    config, meta = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if verify_hash:
        verify_weights(directory, meta)
    state = load_state(weights)
    model = SEANModel(config)
    check_state_matches(model, state, str(weights))
    check_finite(state, str(weights))
    model.load_state_dict(state)
    return model.eval()
