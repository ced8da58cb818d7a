"""VGG19 feature extractor for the perceptual loss, loadable from a torchvision-format file.

The layers keep torchvision's `features` indices (conv at 0, 2, 5, 7, 10, ...), so a state dict with
keys `features.N.weight` / `features.N.bias` loads as is. Only layers 0..29 (up to relu5_1) exist:
the loss never looks deeper. Nothing is downloaded: the file must be given.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sean_core.errors import SeanError, first_sentence

# torchvision's vgg19 configuration "E": conv widths, "M" = 2x2 max pool.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
# Slices ending at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (exclusive end indices into `features`).
SLICE_ENDS = (2, 7, 12, 21, 30)


class VGGWeightsError(SeanError, RuntimeError):
    """A VGG19 weights file that is missing or does not hold torchvision's VGG19 features."""


class VGG19Features(nn.Module):
    """image [B, 3, H, W] -> [relu1_1, relu2_1, relu3_1, relu4_1, relu5_1] feature maps."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
                channels = int(item)
        self.features = nn.Sequential(*layers[: SLICE_ENDS[-1]])

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        start = 0
        for end in SLICE_ENDS:
            for index in range(start, end):
                x = self.features[index](x)
            outputs.append(x)
            start = end
        return outputs


def read_state(path: Path) -> dict[str, Tensor]:
    """A .safetensors or torch .pth/.pt file -> state dict (pickles are read with weights_only)."""
    if not path.is_file():
        raise VGGWeightsError(f"VGG19 weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise VGGWeightsError(
            f"{path} is not a readable VGG19 weights file ({first_sentence(exc)}); give torchvision's ImageNet "
            f"VGG19 weights (vgg19-dcbb9e9d.pth) or a .safetensors copy"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise VGGWeightsError(f"{path} does not hold a state dict")
    return state


def load_vgg19(path: str | Path) -> VGG19Features:
    """Frozen VGG19Features (eval mode) from a torchvision-format file.

    Accepts the full classifier model's keys (`features.N.*`, `classifier.*` ignored) or bare
    `N.*` keys of a saved `features` Sequential.
    """
    path = Path(path)
    state = read_state(path)
    if not any(k.startswith("features.") for k in state):
        state = {f"features.{k}": v for k, v in state.items()}
    model = VGG19Features()
    wanted = model.state_dict()
    missing = sorted(k for k in wanted if k not in state)
    wrong = sorted(k for k in wanted if k in state and tuple(state[k].shape) != tuple(wanted[k].shape))
    if missing or wrong:
        raise VGGWeightsError(
            f"{path} is not torchvision's VGG19: missing {missing[:4]} mis-shaped {wrong[:4]} "
            f"(expected keys like features.0.weight [64, 3, 3, 3])"
        )
    model.load_state_dict({k: state[k].float() for k in wanted})
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model
