"""Losses, VGG19 loading, weight init and the spectral-norm fold used for saved models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from sean_train.build import build_discriminator, build_generator, folded_model
from sean_train.config import DiscriminatorConfig, ModelConfig
from sean_train.losses import (
    VGGLoss,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    split_fake_real,
)
from sean_train.networks.ops import one_hot
from sean_train.vgg import VGG19Features, VGGWeightsError, load_vgg19
from tests.helpers import TINY


def _outputs(seed: int, batch: int = 2, scales: int = 2) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(batch, c, 5 - s, 5 - s, generator=g) for c in (4, 8, 1)] for s in range(scales)]


def test_hinge_losses_match_their_definition():
    fake, real = _outputs(0), _outputs(1)
    d_fake, d_real = hinge_d_loss(fake, real)
    expected_fake = sum(F.relu(1 + scale[-1]).mean() for scale in fake) / 2
    expected_real = sum(F.relu(1 - scale[-1]).mean() for scale in real) / 2
    torch.testing.assert_close(d_fake, expected_fake)
    torch.testing.assert_close(d_real, expected_real)
    torch.testing.assert_close(hinge_g_loss(fake), -sum(scale[-1].mean() for scale in fake) / 2)


def test_hinge_d_loss_is_zero_beyond_the_margin():
    fake = [[torch.full((2, 1, 3, 3), -1.5)], [torch.full((2, 1, 2, 2), -1.0)]]
    real = [[torch.full((2, 1, 3, 3), 2.0)], [torch.full((2, 1, 2, 2), 1.0)]]
    d_fake, d_real = hinge_d_loss(fake, real)
    assert d_fake.item() == 0.0 and d_real.item() == 0.0


def test_feature_matching_uses_intermediate_layers_only_and_detaches_real():
    fake, real = _outputs(2), _outputs(3)
    for t in [t for scale in fake + real for t in scale]:
        t.requires_grad_(True)
    loss = feature_matching_loss(fake, real, weight=10.0)
    expected = sum(F.l1_loss(f, r) for fs, rs in zip(fake, real, strict=True)
                   for f, r in zip(fs[:-1], rs[:-1], strict=True)) * 10.0 / 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(t.grad is None for scale in real for t in scale)
    assert fake[0][0].grad is not None and fake[0][-1].grad is None  # logits are not matched
    same = feature_matching_loss(fake, [[t.clone() for t in scale] for scale in fake], weight=10.0)
    assert same.item() == 0.0


def test_split_fake_real_cuts_the_batch():
    outputs = [[torch.arange(6.0).view(6, 1)]]
    fake, real = split_fake_real(outputs, 2)
    assert fake[0][0].flatten().tolist() == [0, 1] and real[0][0].flatten().tolist() == [2, 3, 4, 5]


def test_vgg19_has_torchvision_indices():
    state = VGG19Features().state_dict()
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)  # conv5_1, the last one used
    convs = sorted(int(k.split(".")[1]) for k in state if k.endswith("weight"))
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28]


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_vgg19_loads_torchvision_format_and_extra_keys_are_ignored(tmp_path, suffix):
    torch.manual_seed(0)
    reference = VGG19Features()
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["features.34.weight"] = torch.zeros(512, 512, 3, 3)  # deeper layers of the full model
    state["classifier.0.weight"] = torch.zeros(8, 8)
    path = tmp_path / f"vgg19{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    loaded = load_vgg19(path)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        for a, b in zip(loaded(x), reference(x), strict=True):
            torch.testing.assert_close(a, b)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_vgg19_bad_files_are_clear(tmp_path):
    with pytest.raises(VGGWeightsError, match="does not exist"):
        load_vgg19(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(VGGWeightsError, match="not torchvision's VGG19"):
        load_vgg19(wrong)


def test_vgg_loss_is_zero_for_identical_images_and_grads_reach_only_the_fake():
    torch.manual_seed(1)
    loss_fn = VGGLoss(VGG19Features().eval())
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss_fn(real, real).item() == 0.0
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = loss_fn(fake, real)
    loss.backward()
    assert loss.item() > 0 and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss_fn.parameters())
    loss_fn.train()
    assert not loss_fn.vgg.training


@pytest.mark.slow
def test_init_is_xavier_with_small_gain_and_zero_biases():
    config = ModelConfig(**{**TINY, "ngf": 16, "style_dim": 64})
    model = build_generator(config, seed=0, gain=0.02)
    conv = model.generator.blocks["head_0"].conv_0.parametrizations.weight.original  # [256, 256, 3, 3]
    expected_std = 0.02 * (2.0 / (256 * 9 + 256 * 9)) ** 0.5
    assert conv.std().item() == pytest.approx(expected_std, rel=0.05)
    assert torch.all(model.generator.blocks["head_0"].conv_0.bias == 0)
    norm = model.generator.blocks["head_0"].norm_0
    assert norm.style_fc_weight[0].std().item() == pytest.approx(0.02 * (2.0 / 128) ** 0.5, rel=0.1)
    assert torch.all(norm.noise_var == 0) and torch.all(norm.blending_gamma == 0)
    again = build_generator(config, seed=0, gain=0.02)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    disc = build_discriminator(config.mask_channels, DiscriminatorConfig(ndf=8), seed=0)
    sn_conv = disc.scales[0].layers[1][0].parametrizations.weight.original
    assert sn_conv.abs().max().item() < 0.01


@pytest.mark.slow
def test_folded_model_matches_the_eval_mode_training_model_and_leaves_it_intact():
    config = ModelConfig(**TINY)
    model = build_generator(config, seed=4, gain=1.0)
    labels = torch.randint(0, 8, (2, 64, 64))
    mask = one_hot(labels, 8)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    noise = torch.randn(2, model.generator.noise_layout.numel)
    model.train()
    with torch.no_grad():
        model(image, mask, noise)  # a power iteration, so u, v are not the registration ones
    plain = folded_model(model)
    assert not any("parametrizations" in k for k in plain.state_dict())
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(image, mask, noise), model(image, mask, noise), rtol=1e-5, atol=1e-5)
    model.train()
    with torch.no_grad():
        model(image, mask, noise)  # the training model still works after folding
