"""The SEAN model: style encoder + generator, built from one ModelConfig."""

from __future__ import annotations

from torch import Tensor, nn

from sean_train.config import ModelConfig
from sean_train.networks.encoder import StyleEncoder, StyleEncoders
from sean_train.networks.generator import Generator, code_length


class SEANModel(nn.Module):
    """encode(image, mask) -> codes [B, K, L]; generate(mask, codes, noise) -> image [B, 3, H, W].

    L = code_length(config): S for the unified encoder, groups * S for the ResBlk- and SEAN-level ones.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder: StyleEncoder | StyleEncoders
        if config.style_encoder == "unified":
            self.encoder = StyleEncoder(config.num_classes, config.style_dim, config.encoder_ngf)
        else:
            groups = code_length(config) // config.style_dim
            self.encoder = StyleEncoders(groups, config.num_classes, config.style_dim, config.encoder_ngf)
        self.generator = Generator(config)

    def encode(self, image: Tensor, mask: Tensor) -> Tensor:
        return self.encoder(image, mask)

    def generate(self, mask: Tensor, codes: Tensor, noise: Tensor) -> Tensor:
        return self.generator(mask, codes, noise)

    def forward(self, image: Tensor, mask: Tensor, noise: Tensor) -> Tensor:
        """Reconstruction: the style codes of `image` rendered on `mask`."""
        return self.generator(mask, self.encoder(image, mask), noise)
