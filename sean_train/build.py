"""Training-time networks: built, initialised and spectral-normed as the official code does, and
folded back into the plain model that checkpoints, export and the runtime use."""

from __future__ import annotations

import torch

from sean_train.config import DiscriminatorConfig, ModelConfig
from sean_train.networks import MultiscaleDiscriminator, SEANModel
from sean_train.spectral import add_spectral_norm, fold_spectral_weight
from sean_train.weight_init import init_weights


def build_generator(config: ModelConfig, seed: int, gain: float = 0.02) -> SEANModel:
    """SEANModel (encoder + generator) with xavier init and spectral norm on the ResBlk convs.

    The same (config, seed, gain) always gives the same weights: the untrained start that
    `sean eval` compares against is rebuilt this way.
    """
    torch.manual_seed(seed)
    model = init_weights(SEANModel(config), gain)
    add_spectral_norm(model.generator.spectral_norm_convs())
    return model


def build_discriminator(mask_channels: int, config: DiscriminatorConfig, seed: int, gain: float = 0.02):
    # A different stream from the generator's, so that changing D's size leaves G's init unchanged.
    torch.manual_seed(seed + 1)
    return init_weights(MultiscaleDiscriminator(mask_channels, config), gain)


SN_SUFFIX = ".parametrizations.weight.original"


def folded_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Training state dict -> plain state dict: each spectral-normed `X.parametrizations.weight.{original,
    0._u, 0._v}` becomes `X.weight` = original / sigma, with sigma from the stored u, v (eval-mode SN)."""
    plain = {}
    for key, value in state.items():
        if key.endswith(SN_SUFFIX):
            prefix = key[: -len(SN_SUFFIX)]
            u = state[f"{prefix}.parametrizations.weight.0._u"]
            v = state[f"{prefix}.parametrizations.weight.0._v"]
            plain[f"{prefix}.weight"] = fold_spectral_weight(value, u, v)
        elif ".parametrizations.weight.0." not in key:
            plain[key] = value
    return plain


@torch.no_grad()
def folded_model(model: SEANModel) -> SEANModel:
    """A plain SEANModel (eval mode, CPU) with every spectral norm folded, built from the training
    model's state dict (train or eval mode, BatchNorm or SyncBatchNorm) without touching it.

    (A deepcopy + remove_parametrizations would not do: the copy shares its parametrized class with
    the original, and removing the parametrization from one removes the weight property from both.)
    The global RNG is left as it was.
    """
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    # The new modules' default init draws from the global RNG; fork it, so that folding (at every
    # checkpoint) leaves it untouched and a run checkpointed at other steps stays bit-identical.
    with torch.random.fork_rng(devices=[]):
        plain = SEANModel(model.config)
    plain.load_state_dict(folded_state(state))
    return plain.eval()
