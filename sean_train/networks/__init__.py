"""SEAN networks: style encoder, generator with SEAN ResBlks, multi-scale discriminator."""

from sean_train.networks.discriminator import MultiscaleDiscriminator
from sean_train.networks.encoder import StyleEncoder, StyleEncoders
from sean_train.networks.generator import Generator, noise_layout
from sean_train.networks.model import SEANModel

__all__ = ["Generator", "MultiscaleDiscriminator", "SEANModel", "StyleEncoder", "StyleEncoders", "noise_layout"]
