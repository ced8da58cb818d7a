"""SEAN training losses (spec section 6): hinge GAN, discriminator feature matching, VGG19 perceptual."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sean_train.vgg import VGG19Features

# Weights of the relu1_1 ... relu5_1 terms of the perceptual loss.
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def split_fake_real(outputs: list[list[Tensor]], fake_batch: int) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
    """D outputs on cat([fake, real]) -> (fake outputs, real outputs), per scale and layer."""
    fake = [[t[:fake_batch] for t in scale] for scale in outputs]
    real = [[t[fake_batch:] for t in scale] for scale in outputs]
    return fake, real


def hinge_d_loss(fake: list[list[Tensor]], real: list[list[Tensor]]) -> tuple[Tensor, Tensor]:
    """(loss on fakes, loss on reals): mean(relu(1 + D(fake))), mean(relu(1 - D(real))), averaged over scales.

    Only each scale's last output (the patch logits) counts.
    """
    loss_fake = torch.stack([F.relu(1.0 + scale[-1]).mean() for scale in fake]).mean()
    loss_real = torch.stack([F.relu(1.0 - scale[-1]).mean() for scale in real]).mean()
    return loss_fake, loss_real


def hinge_g_loss(fake: list[list[Tensor]]) -> Tensor:
    """-mean(D(fake)), averaged over scales."""
    return torch.stack([-scale[-1].mean() for scale in fake]).mean()


def feature_matching_loss(fake: list[list[Tensor]], real: list[list[Tensor]], weight: float) -> Tensor:
    """Sum over scales and intermediate layers of L1(fake, real.detach()) * weight / num_scales."""
    per_term = weight / len(fake)
    total = fake[0][0].new_zeros(())
    for fake_scale, real_scale in zip(fake, real, strict=True):
        for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            total = total + F.l1_loss(f, r.detach()) * per_term
    return total


class VGGLoss(nn.Module):
    """sum_i w_i * L1(vgg_i(fake), vgg_i(real).detach()), images fed as they are in [-1, 1]."""

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = vgg.eval()
        for param in self.vgg.parameters():
            param.requires_grad_(False)

    def train(self, mode: bool = True) -> VGGLoss:
        # The feature extractor is frozen; keep it in eval mode whatever the trainer does.
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        fake_feats = self.vgg(fake)
        with torch.no_grad():
            real_feats = self.vgg(real)
        total = fake.new_zeros(())
        for w, f, r in zip(VGG_LAYER_WEIGHTS, fake_feats, real_feats, strict=True):
            total = total + w * F.l1_loss(f, r)
        return total
