"""An independent, loop-based reading of the official SEAN forward pass (spec sections 1-4).

Works directly on official state-dict keys (spectral norm as weight_orig / u / v, fc_mu<j> layers,
Python loops over batch and classes, last class wins), eval mode, zero noise. It is the yardstick, not
a model: the tests check the converter + our vectorised networks against it, and the benchmark times
it as the official implementation's algorithm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCKS = ["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"]


def official_key_shapes(k: int, s: int, ngf: int, enc: int, hidden: int) -> list[tuple[str, tuple[int, ...], str]]:
    """(key, shape, dtype) of the official generator state dict, in the official order."""
    rows: list[tuple[str, tuple[int, ...], str]] = []
    enc_convs = [(1, (enc, 3, 3, 3)), (4, (2 * enc, enc, 3, 3)), (7, (4 * enc, 2 * enc, 3, 3)),
                 (10, (4 * enc, 8 * enc, 3, 3)), (14, (s, 8 * enc, 3, 3))]
    for idx, shape in enc_convs:
        out = shape[1] if idx == 10 else shape[0]
        rows += [(f"Zencoder.model.{idx}.weight", shape, "float32"), (f"Zencoder.model.{idx}.bias", (out,), "float32")]
    rows += [("fc.weight", (16 * ngf, k, 3, 3), "float32"), ("fc.bias", (16 * ngf,), "float32")]
    widths = [16, 16, 16, 16, 8, 4, 2, 1]
    for i, block in enumerate(BLOCKS):
        fin, fout = widths[i] * ngf, widths[i + 1] * ngf
        fmid = min(fin, fout)

        def sn(name, o, c, ks, block=block):
            return [(f"{block}.{name}.weight_orig", (o, c, ks, ks), "float32"),
                    (f"{block}.{name}.weight_u", (o,), "float32"),
                    (f"{block}.{name}.weight_v", (c * ks * ks,), "float32")]

        rows += [(f"{block}.conv_0.bias", (fmid,), "float32")] + sn("conv_0", fmid, fin, 3)
        rows += [(f"{block}.conv_1.bias", (fout,), "float32")] + sn("conv_1", fout, fmid, 3)
        if fin != fout:
            rows += sn("conv_s", fout, fin, 1)
        norms = [("ace_0", fin), ("ace_1", fmid)] + ([("ace_s", fin)] if fin != fout else [])
        for ace, n in norms:
            p = f"{block}.{ace}"
            rows += [(f"{p}.blending_gamma", (1,), "float32"), (f"{p}.blending_beta", (1,), "float32"),
                     (f"{p}.noise_var", (n,), "float32")]
            rows += [(f"{p}.Spade.param_free_norm.running_mean", (n,), "float32"),
                     (f"{p}.Spade.param_free_norm.running_var", (n,), "float32"),
                     (f"{p}.Spade.param_free_norm.num_batches_tracked", (), "int64")]
            rows += [(f"{p}.Spade.mlp_shared.0.weight", (hidden, k, 3, 3), "float32"),
                     (f"{p}.Spade.mlp_shared.0.bias", (hidden,), "float32"),
                     (f"{p}.Spade.mlp_gamma.weight", (n, hidden, 3, 3), "float32"),
                     (f"{p}.Spade.mlp_gamma.bias", (n,), "float32"),
                     (f"{p}.Spade.mlp_beta.weight", (n, hidden, 3, 3), "float32"),
                     (f"{p}.Spade.mlp_beta.bias", (n,), "float32")]
            rows += [(f"{p}.param_free_norm.running_mean", (n,), "float32"),
                     (f"{p}.param_free_norm.running_var", (n,), "float32"),
                     (f"{p}.param_free_norm.num_batches_tracked", (), "int64")]
            if i < 6:
                for j in range(k):
                    rows += [(f"{p}.fc_mu{j}.weight", (s, s), "float32"), (f"{p}.fc_mu{j}.bias", (s,), "float32")]
                rows += [(f"{p}.conv_gamma.weight", (n, s, 3, 3), "float32"), (f"{p}.conv_gamma.bias", (n,), "float32"),
                         (f"{p}.conv_beta.weight", (n, s, 3, 3), "float32"), (f"{p}.conv_beta.bias", (n,), "float32")]
    rows += [("conv_img.weight", (3, ngf, 3, 3), "float32"), ("conv_img.bias", (3,), "float32")]
    return rows


def random_official_state(
    rows, seed: int = 0, dtype=torch.float32, trained_spectral_vectors: bool = False
) -> dict[str, torch.Tensor]:
    """Random weights for the official keys. trained_spectral_vectors: weight_u / weight_v as training
    leaves them, by power iteration, so u . W v is about W's spectral norm and the activations keep their
    scale through the layers (random u, v give a tiny sigma, and W / sigma drives nearly every pixel deep
    into tanh's saturation, where no difference shows)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, kind in rows:
        if kind == "int64":
            state[key] = torch.tensor(7, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = (torch.rand(shape, generator=g) + 0.5).to(dtype)
        elif key.endswith("weight_orig") or key.endswith("weight"):
            fan_in = max(1, int(torch.tensor(shape[1:]).prod().item()) if len(shape) > 1 else 1)
            state[key] = (torch.randn(shape, generator=g) / fan_in**0.5).to(dtype)
        else:
            state[key] = (torch.randn(shape, generator=g) * 0.2).to(dtype)
    for key in [key for key in state if trained_spectral_vectors and key.endswith(".weight_orig")]:
        base = key.removesuffix(".weight_orig")
        w = state[key].reshape(state[key].shape[0], -1)
        u = state[base + ".weight_u"]
        for _ in range(5):
            v = F.normalize(w.T @ u, dim=0)
            u = F.normalize(w @ v, dim=0)
        state[base + ".weight_u"], state[base + ".weight_v"] = u, v
    return state


def _sn(state, name):
    w = state[name + ".weight_orig"]
    sigma = torch.dot(state[name + ".weight_u"], w.reshape(w.shape[0], -1) @ state[name + ".weight_v"])
    return w / sigma


def _ace(state, p, x, seg, codes, use_rgb):
    rm, rv = state[f"{p}.param_free_norm.running_mean"], state[f"{p}.param_free_norm.running_var"]
    normalized = (x - rm.view(1, -1, 1, 1)) / torch.sqrt(rv.view(1, -1, 1, 1) + 1e-5)
    m = F.interpolate(seg, size=x.shape[2:], mode="nearest")
    shared_w, shared_b = state[f"{p}.Spade.mlp_shared.0.weight"], state[f"{p}.Spade.mlp_shared.0.bias"]
    actv = F.relu(F.conv2d(m, shared_w, shared_b, padding=1))
    gamma_o = F.conv2d(actv, state[f"{p}.Spade.mlp_gamma.weight"], state[f"{p}.Spade.mlp_gamma.bias"], padding=1)
    beta_o = F.conv2d(actv, state[f"{p}.Spade.mlp_beta.weight"], state[f"{p}.Spade.mlp_beta.bias"], padding=1)
    if not use_rgb:
        return normalized * (1 + gamma_o) + beta_o
    b, k = m.shape[:2]
    s = codes.shape[2]
    style_map = torch.zeros(b, s, *x.shape[2:], dtype=x.dtype)
    for i in range(b):
        for j in range(k):
            region = m[i, j] > 0
            if region.sum() > 0:
                mu = F.relu(F.linear(codes[i, j], state[f"{p}.fc_mu{j}.weight"], state[f"{p}.fc_mu{j}.bias"]))
                style_map[i][:, region] = mu[:, None]
    gamma_s = F.conv2d(style_map, state[f"{p}.conv_gamma.weight"], state[f"{p}.conv_gamma.bias"], padding=1)
    beta_s = F.conv2d(style_map, state[f"{p}.conv_beta.weight"], state[f"{p}.conv_beta.bias"], padding=1)
    a_g = torch.sigmoid(state[f"{p}.blending_gamma"])
    a_b = torch.sigmoid(state[f"{p}.blending_beta"])
    gamma = a_g * gamma_s + (1 - a_g) * gamma_o
    beta = a_b * beta_s + (1 - a_b) * beta_o
    return normalized * (1 + gamma) + beta


def official_encode(state, image, seg):
    def conv(x, idx, **kw):
        return F.conv2d(x, state[f"Zencoder.model.{idx}.weight"], state[f"Zencoder.model.{idx}.bias"], **kw)

    act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    x = act(F.instance_norm(conv(F.pad(image, (1, 1, 1, 1), mode="reflect"), 1)))
    x = act(F.instance_norm(conv(x, 4, stride=2, padding=1)))
    x = act(F.instance_norm(conv(x, 7, stride=2, padding=1)))
    x = F.conv_transpose2d(x, state["Zencoder.model.10.weight"], state["Zencoder.model.10.bias"], stride=2,
                           padding=1, output_padding=1)
    x = act(F.instance_norm(x))
    feats = torch.tanh(conv(F.pad(x, (1, 1, 1, 1), mode="reflect"), 14))
    return official_region_pool(feats, F.interpolate(seg, size=feats.shape[2:], mode="nearest"))


def official_region_pool(feats, mask):
    """The official pooling loop: per sample and class, the mean feature over the class's pixels (absent: 0).

    feats [B, S, H, W], mask [B, K, H, W] -> codes [B, K, S].
    """
    b, k = mask.shape[:2]
    codes = torch.zeros(b, k, feats.shape[1], dtype=feats.dtype)
    for i in range(b):
        for j in range(k):
            region = mask[i, j] > 0
            if region.sum() > 0:
                codes[i, j] = feats[i][:, region].mean(dim=1)
    return codes


def official_forward(state, image, seg, latent: tuple[int, int], layout: str = "normal"):
    """Reconstruction with zero noise: generator(seg, Zencoder(image, seg))."""
    return official_generate(state, seg, official_encode(state, image, seg), latent, layout)


def official_generate(state, seg, codes, latent: tuple[int, int], layout: str = "normal"):
    """The official generator with zero noise: seg [B, K, H, W] one-hot, codes [B, K, S] -> image [B, 3, H, W]."""
    x = F.conv2d(F.interpolate(seg, size=latent, mode="nearest"), state["fc.weight"], state["fc.bias"], padding=1)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    for i, block in enumerate(BLOCKS):
        if i in (1, 3, 4, 5, 6) or (i == 2 and layout == "more"):
            x = up(x)
        use_rgb = i < 6
        learned = f"{block}.conv_s.weight_orig" in state
        if learned:
            x_s = F.conv2d(_ace(state, f"{block}.ace_s", x, seg, codes, use_rgb), _sn(state, f"{block}.conv_s"))
        else:
            x_s = x
        dx = F.leaky_relu(_ace(state, f"{block}.ace_0", x, seg, codes, use_rgb), 0.2)
        dx = F.conv2d(dx, _sn(state, f"{block}.conv_0"), state[f"{block}.conv_0.bias"], padding=1)
        dx = F.leaky_relu(_ace(state, f"{block}.ace_1", dx, seg, codes, use_rgb), 0.2)
        dx = F.conv2d(dx, _sn(state, f"{block}.conv_1"), state[f"{block}.conv_1.bias"], padding=1)
        x = x_s + dx
    return torch.tanh(F.conv2d(F.leaky_relu(x, 0.2), state["conv_img.weight"], state["conv_img.bias"], padding=1))
