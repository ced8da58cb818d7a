"""Import the official SEAN generator checkpoint (`latest_net_G.pth`) into our checkpoint format.

Recipe (spec section 8): fold every spectral-norm triple with its stored u, v; drop the dead
`Spade.param_free_norm` statistics; stack the per-class `fc_mu<j>` layers into [K, S, S]; rename the rest.
Every key of the file must be consumed and every shape must match, or the import fails naming the key.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from sean_core.errors import first_sentence
from sean_train.checkpoint import CheckpointError, check_state_matches
from sean_train.config import ModelConfig
from sean_train.networks import SEANModel
from sean_train.spectral import fold_spectral_weight

# Official block name -> ours.
BLOCK_NAMES = {
    "head_0": "head_0",
    "G_middle_0": "middle_0",
    "G_middle_1": "middle_1",
    "up_0": "up_0",
    "up_1": "up_1",
    "up_2": "up_2",
    "up_3": "up_3",
}
NORM_NAMES = {"ace_0": "norm_0", "ace_1": "norm_1", "ace_s": "norm_s"}
# Official prefix inside an ACE -> ours (the rest of each ACE's keys keep their names).
ACE_RENAMES = {
    "Spade.mlp_shared.0.": "mask_branch.shared.",
    "Spade.mlp_gamma.": "mask_branch.gamma.",
    "Spade.mlp_beta.": "mask_branch.beta.",
    "param_free_norm.": "bn.",
}
ENCODER_CONVS = (1, 4, 7, 10, 14)  # indices of the convs in the official Zencoder.model Sequential

_FC_MU = re.compile(r"^fc_mu(\d+)\.(weight|bias)$")


class OfficialCheckpointError(CheckpointError):
    """The file is not an official SEAN generator state dict, or does not match the expected layout."""


def read_official_state(path: str | Path) -> dict[str, Tensor]:
    """Load latest_net_G.pth (legacy or zip pickle of tensors) without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: no such file (expected the official latest_net_G.pth)")
    with path.open("rb") as handle:
        head = handle.read(4)
    # torch.save writes a zip archive (PK), or a pickle (protocol byte 0x80) in the legacy format; another file
    # (a saved web page, a text file) was reported as a pickle holding "other Python objects"
    if head and not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        raise OfficialCheckpointError(
            f"{path} is not a PyTorch .pth file (neither a zip archive nor a pickle: it starts with {head!r}); "
            f"pass the official latest_net_G.pth"
        )
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before it refuses a file
            warnings.simplefilter("ignore")
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # The safe loader met something other than tensors and containers. torch's message suggests
        # unsafe loading; that is never the fix here, so it is not passed on.
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        refers = f" (it refers to {found.group(1)})" if found else ""
        raise OfficialCheckpointError(
            f"{path} is not a plain state dict of tensors{refers}: it holds other Python objects, which are "
            f"never loaded; pass the official latest_net_G.pth"
        ) from exc
    except Exception as exc:  # torch raises many types for truncated / foreign files
        reason = first_sentence(exc)
        raise OfficialCheckpointError(
            f"{path} could not be read as a PyTorch state dict ({type(exc).__name__}: {reason}); "
            f"the download may be truncated — check its size (about 1.07 GB for CelebA-HQ)"
        ) from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise OfficialCheckpointError(f"{path} does not hold a flat state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def infer_config(state: Mapping[str, Tensor], **overrides) -> ModelConfig:
    """Read the model sizes off the tensor shapes; resolution, layout and domain come from `overrides`."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise OfficialCheckpointError(f"key {key!r} is missing: not an official SEAN generator checkpoint")
        return tuple(state[key].shape)

    sizes = dict(
        num_classes=shape("fc.weight")[1],
        style_dim=shape("Zencoder.model.14.weight")[0],
        ngf=shape("conv_img.weight")[1],
        encoder_ngf=shape("Zencoder.model.1.weight")[0],
        spade_hidden=shape("head_0.ace_0.Spade.mlp_shared.0.weight")[0],
    )
    fc_count = len({m.group(1) for k in state if (m := _FC_MU.match(k.split(".", 2)[-1]))})
    if fc_count and fc_count != sizes["num_classes"]:
        raise OfficialCheckpointError(
            f"the file has {fc_count} per-class fc_mu layers per ACE but fc.weight has "
            f"{sizes['num_classes']} input classes"
        )
    names = overrides.get("class_names")
    if names is not None and len(names) != sizes["num_classes"]:
        raise OfficialCheckpointError(
            f"the file has {sizes['num_classes']} classes but domain {overrides.get('domain', '?')!r} has "
            f"{len(names)}; pass the domain the model was trained for"
        )
    sizes.update(overrides)
    return ModelConfig(**sizes)


# The statistics of the official norm layers' unused BatchNorm, dropped; any other key there is unexpected.
PARAM_FREE_NORM_KEYS = tuple(
    f"Spade.param_free_norm.{name}" for name in ("running_mean", "running_var", "num_batches_tracked")
)


def _target_key(key: str) -> str | None:
    """Official key -> our key; None for keys that are dropped; fc_mu / SN keys handled by the caller."""
    if key.startswith("Zencoder.model."):
        return "encoder.features." + key.removeprefix("Zencoder.model.")
    if key.startswith(("fc.", "conv_img.")):
        return "generator." + key
    block, _, rest = key.partition(".")
    if block not in BLOCK_NAMES or not rest:
        raise OfficialCheckpointError(f"unexpected key {key!r}: unknown block {block!r}")
    prefix = f"generator.blocks.{BLOCK_NAMES[block]}."
    if rest.startswith(("conv_0.", "conv_1.", "conv_s.")):
        return prefix + rest
    norm, _, leaf = rest.partition(".")
    if norm not in NORM_NAMES or not leaf:
        raise OfficialCheckpointError(f"unexpected key {key!r}: unknown layer {norm!r}")
    prefix += NORM_NAMES[norm] + "."
    if leaf in PARAM_FREE_NORM_KEYS:
        return None  # never used in the official forward pass
    for old, new in ACE_RENAMES.items():
        if leaf.startswith(old):
            return prefix + new + leaf.removeprefix(old)
    return prefix + leaf  # blending_gamma, blending_beta, noise_var, conv_gamma.*, conv_beta.*


def convert_state(state: Mapping[str, Tensor], config: ModelConfig) -> dict[str, Tensor]:
    """Official generator state dict -> our SEANModel state dict (float32, spectral norm folded)."""
    out: dict[str, Tensor] = {}
    fc_mu: dict[str, dict[int, dict[str, Tensor]]] = {}
    spectral: dict[str, dict[str, Tensor]] = {}
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise OfficialCheckpointError(
                f"{key} holds NaN or infinite values: the file is damaged or not a trained generator"
            )
        value = value.detach().to(torch.float32) if value.is_floating_point() else value.detach()
        if key.endswith((".weight_orig", ".weight_u", ".weight_v")):
            base, part = key.rsplit(".", 1)
            spectral.setdefault(base, {})[part] = value
            continue
        head, _, leaf = key.rpartition(".")
        match = _FC_MU.match(f"{head.rsplit('.', 1)[-1]}.{leaf}") if head else None
        if match:
            layer = head.rsplit(".", 1)[0]
            fc_mu.setdefault(layer, {}).setdefault(int(match.group(1)), {})[match.group(2)] = value
            continue
        target = _target_key(key)
        if target is not None:
            out[target] = value
    for base, parts in spectral.items():
        missing = {"weight_orig", "weight_u", "weight_v"} - set(parts)
        if missing:
            raise OfficialCheckpointError(f"spectral-norm layer {base!r} lacks {sorted(missing)}")
        w, u, v = parts["weight_orig"], parts["weight_u"], parts["weight_v"]
        if w.dim() < 2:
            raise OfficialCheckpointError(f"{base}.weight_orig has shape {tuple(w.shape)}, not a layer's weight")
        rows, cols = w.shape[0], w[0].numel()
        if u.shape != (rows,) or v.shape != (cols,):
            raise OfficialCheckpointError(
                f"{base}: weight_u {tuple(u.shape)} / weight_v {tuple(v.shape)} do not fit weight_orig "
                f"{tuple(w.shape)} (expected ({rows},) and ({cols},))"
            )
        folded = fold_spectral_weight(w, u, v)
        if not torch.isfinite(folded).all():  # sigma = u . (W v) of 0
            raise OfficialCheckpointError(
                f"{base}: its stored weight_u and weight_v give a spectral norm of 0 for weight_orig, so the "
                f"weight cannot be folded: the file is damaged or not a trained generator"
            )
        out[_target_key(base + ".weight")] = folded
    for layer, per_class in fc_mu.items():
        ids = sorted(per_class)
        if ids != list(range(config.num_classes)):
            raise OfficialCheckpointError(
                f"{layer}: fc_mu layers {ids[:3]}…{ids[-1:]} do not cover classes 0..{config.num_classes - 1}"
            )
        for j in ids:
            if set(per_class[j]) != {"weight", "bias"}:
                raise OfficialCheckpointError(f"{layer}.fc_mu{j} lacks its weight or bias")
        prefix = _target_key(layer + ".blending_gamma").removesuffix("blending_gamma")
        out[prefix + "style_fc_weight"] = torch.stack([per_class[j]["weight"] for j in ids])
        out[prefix + "style_fc_bias"] = torch.stack([per_class[j]["bias"] for j in ids])
    return out


def convert_official(path: str | Path, **config_overrides) -> SEANModel:
    """Read latest_net_G.pth and return our model with its weights, in eval mode."""
    state = read_official_state(path)
    config = infer_config(state, **config_overrides)
    converted = convert_state(state, config)
    model = SEANModel(config)
    check_state_matches(model, converted, f"{path} (after conversion)")
    model.load_state_dict(converted, strict=True)
    return model.eval()


def to_official_state(model: SEANModel) -> dict[str, Tensor]:
    """Our model -> a state dict in the official key layout (the inverse of convert_state).

    Spectral-normed convs get weight_orig = W with u, v chosen so that u . (W_mat v) = 1, so the
    official eval-mode forward uses exactly W. The dead Spade.param_free_norm statistics are 0 / 1.
    """
    ours = model.state_dict()
    renamed = {}
    inverse_blocks = {v: k for k, v in BLOCK_NAMES.items()}
    inverse_norms = {v: k for k, v in NORM_NAMES.items()}
    leaf_renames = {ours: official for official, ours in ACE_RENAMES.items()}
    for key, value in ours.items():
        if key.startswith("encoder.features."):
            renamed["Zencoder.model." + key.removeprefix("encoder.features.")] = value
            continue
        if key.startswith("generator.") and not key.startswith("generator.blocks."):
            renamed[key.removeprefix("generator.")] = value
            continue
        block, layer, leaf = key.removeprefix("generator.blocks.").split(".", 2)
        prefix = f"{inverse_blocks[block]}."
        if layer in ("conv_0", "conv_1", "conv_s"):
            if leaf == "weight":
                w_mat = value.reshape(value.shape[0], -1)
                v = torch.zeros(w_mat.shape[1], dtype=value.dtype)
                v[0] = 1.0
                column = w_mat[:, 0]
                renamed[f"{prefix}{layer}.weight_orig"] = value
                renamed[f"{prefix}{layer}.weight_u"] = column / column.dot(column)
                renamed[f"{prefix}{layer}.weight_v"] = v
            else:
                renamed[f"{prefix}{layer}.{leaf}"] = value
            continue
        ace = f"{prefix}{inverse_norms[layer]}."
        if leaf == "style_fc_weight" or leaf == "style_fc_bias":
            part = "weight" if leaf == "style_fc_weight" else "bias"
            for j in range(value.shape[0]):
                renamed[f"{ace}fc_mu{j}.{part}"] = value[j]
            continue
        for old, new in leaf_renames.items():
            if leaf.startswith(old):
                leaf = new + leaf.removeprefix(old)
                break
        renamed[ace + leaf] = value
        if leaf == "noise_var":
            channels = value.shape[0]
            renamed[ace + "Spade.param_free_norm.running_mean"] = torch.zeros(channels)
            renamed[ace + "Spade.param_free_norm.running_var"] = torch.ones(channels)
            renamed[ace + "Spade.param_free_norm.num_batches_tracked"] = torch.tensor(0)
    return renamed

