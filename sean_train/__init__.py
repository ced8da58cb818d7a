"""SEAN in PyTorch: networks, losses, training, checkpoints, evaluation, official-checkpoint import.

    from sean_train import SEANModel, ModelConfig, load_checkpoint
    model = load_checkpoint("sean_core/pretrained/shapes")

Names are imported on first use, so the package can be named (e.g. by the CLI) without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sean_core.lazy import lazy_dir, lazy_getattr

if TYPE_CHECKING:
    from sean_train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from sean_train.config import ConfigError, ModelConfig
    from sean_train.networks import SEANModel

_EXPORTS = {
    "SEANModel": "sean_train.networks",
    "ModelConfig": "sean_train.config",
    "ConfigError": "sean_train.config",
    "load_checkpoint": "sean_train.checkpoint",
    "save_checkpoint": "sean_train.checkpoint",
    "CheckpointError": "sean_train.checkpoint",
}

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ModelConfig",
    "SEANModel",
    "load_checkpoint",
    "save_checkpoint",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)
__dir__ = lazy_dir(globals(), _EXPORTS)
