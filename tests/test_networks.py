"""The networks compute the official SEAN math, vectorised, for any class count and layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sean_train.config import ConfigError, ModelConfig
from sean_train.networks import SEANModel
from sean_train.networks.generator import noise_layout
from sean_train.networks.ops import broadcast_styles, downsample_nearest, one_hot, region_pool
from tests.helpers import TINY, make_random_model
from tests.official_reference import official_region_pool


def naive_broadcast(styles, mask):
    """The official loop: write each present class's vector into its pixels, class by class."""
    b, k, s = styles.shape
    h, w = mask.shape[2:]
    out = torch.zeros(b, s, h, w, dtype=styles.dtype)
    for i in range(b):
        for j in range(k):
            region = mask[i, j] > 0
            if region.any():
                out[i][:, region] = styles[i, j][:, None]
    return out


def test_region_pool_matches_official_loop_with_absent_classes():
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (3, 16, 16))  # classes 4..5 are absent everywhere
    mask = one_hot(labels, 6).double()
    feats = torch.randn(3, 7, 16, 16, dtype=torch.float64)
    codes = region_pool(feats, mask)
    assert codes.shape == (3, 6, 7)
    torch.testing.assert_close(codes, official_region_pool(feats, mask), rtol=0, atol=1e-12)
    assert torch.all(codes[:, 4:] == 0)


def test_broadcast_matches_official_loop():
    torch.manual_seed(1)
    labels = torch.randint(0, 5, (2, 8, 12))
    mask = one_hot(labels, 6).double()
    mask[0, :, 0, 0] = 0  # a pixel in no region stays zero
    styles = torch.randn(2, 6, 4, dtype=torch.float64)
    out = broadcast_styles(styles, mask)
    torch.testing.assert_close(out, naive_broadcast(styles, mask), rtol=0, atol=1e-12)
    assert torch.all(out[0, :, 0, 0] == 0)


def test_downsample_is_torch_nearest():
    x = torch.randn(2, 3, 32, 64)
    for h, w in [(16, 32), (4, 8), (32, 64), (1, 2)]:
        torch.testing.assert_close(downsample_nearest(x, h, w), F.interpolate(x, size=(h, w), mode="nearest"))
    with pytest.raises(ValueError, match="not a divisor"):
        downsample_nearest(x, 12, 12)


@pytest.mark.parametrize("pad", [1, 2])
def test_reflect_pad_is_the_reflect_pad_in_values_and_gradients(pad):
    from sean_train.networks.ops import reflect_pad

    x = torch.randn(2, 3, 6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(pad), requires_grad=True)
    ours, theirs = reflect_pad(x, pad), F.pad(x, (pad,) * 4, mode="reflect")
    assert torch.equal(ours, theirs)
    upstream = torch.randn_like(ours)
    # the border rows' two contributions are added in another order: equal to rounding
    torch.testing.assert_close(torch.autograd.grad(ours, x, upstream)[0], torch.autograd.grad(theirs, x, upstream)[0])


def test_the_networks_train_without_layers_whose_cuda_backward_is_nondeterministic(tiny_config):
    # PyTorch's list of such layers (torch.use_deterministic_algorithms); one of them in the model makes a
    # run resumed on a GPU differ from an uninterrupted one. The encoders pad in eval mode with a Pad (one
    # op in exported graphs) and train with slices: both give the same codes.
    nondeterministic = (nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d, nn.AdaptiveAvgPool2d,
                        nn.AdaptiveAvgPool3d, nn.AvgPool3d, nn.MaxPool3d, nn.AdaptiveMaxPool2d, nn.NLLLoss)
    model = make_random_model(tiny_config)
    assert not [m for m in model.modules() if isinstance(m, nondeterministic)]
    image = torch.rand(2, 3, tiny_config.height, tiny_config.width) * 2 - 1
    mask = one_hot(torch.randint(0, tiny_config.num_classes, (2, tiny_config.height, tiny_config.width)),
                   tiny_config.num_classes)
    with torch.no_grad():
        trained = model.encoder.train()(image, mask)
        evaluated = model.encoder.eval()(image, mask)
    assert torch.equal(trained, evaluated)


def test_one_hot_ignores_out_of_range_and_has_k_channels():
    labels = torch.tensor([[[0, 2], [5, -1]]])
    oh = one_hot(labels, 3)
    assert oh.shape == (1, 3, 2, 2)
    assert oh[0, :, 0, 0].tolist() == [1, 0, 0]
    assert oh[0, :, 1, 0].sum() == 0 and oh[0, :, 1, 1].sum() == 0


@pytest.mark.slow
def test_official_size_parameter_count():
    # Spec section 8: 266,907,367 generator parameters, of which 1,568,576 in the style encoder.
    model = SEANModel(ModelConfig())
    assert sum(p.numel() for p in model.parameters()) == 266_907_367
    assert sum(p.numel() for p in model.encoder.parameters()) == 1_568_576


def _inputs(config, batch, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, config.num_classes, (batch, config.height, config.width), generator=g)
    mask = one_hot(labels, config.num_classes).to(dtype)
    image = torch.rand(batch, 3, config.height, config.width, generator=g, dtype=dtype) * 2 - 1
    noise = torch.randn(batch, noise_layout(config).numel, generator=g, dtype=dtype)
    return image, mask, noise


def test_batch_of_two_equals_two_batches_of_one(tiny_config):
    # float64: random weights amplify float32 rounding through seven blocks.
    model = make_random_model(tiny_config).double()
    image, mask, noise = _inputs(tiny_config, 2, dtype=torch.float64)
    with torch.no_grad():
        both = model(image, mask, noise)
        one = torch.cat([model(image[i : i + 1], mask[i : i + 1], noise[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(both, one, rtol=0, atol=1e-10)


def test_same_noise_bit_identical_and_noise_matters(tiny_config):
    model = make_random_model(tiny_config)
    image, mask, noise = _inputs(tiny_config, 1)
    with torch.no_grad():
        a = model(image, mask, noise)
        b = model(image, mask, noise.clone())
        zero = model(image, mask, torch.zeros_like(noise))
    assert torch.equal(a, b)
    assert (a - zero).abs().max() > 1e-4  # noise_var is random here, so noise changes the output


@pytest.mark.parametrize("layout,size", [("normal", (64, 64)), ("more", (64, 128))])
def test_factorized_style_conv_equals_direct(layout, size):
    """The exact identity conv(sum_k m_k mu_k; W) = conv(m; K), in float64."""
    params = {**TINY, "height": size[0], "width": size[1], "layout": layout}
    direct = make_random_model(ModelConfig(**params, style_conv="direct")).double()
    fact = SEANModel(ModelConfig(**params, style_conv="factorized")).double().eval()
    fact.load_state_dict(direct.state_dict())
    image, mask, noise = _inputs(direct.config, 2, dtype=torch.float64)
    mask[:, :, :3, :3] = 0  # pixels in no region
    mask[1, 3] = 0  # a class absent from one image
    with torch.no_grad():
        out_d = direct(image, mask, noise)
        out_f = fact(image, mask, noise)
    assert out_d.shape == (2, 3, *size)
    assert (out_d - out_f).abs().max().item() < 1e-10


def test_auto_style_conv_picks_direct_for_many_classes_at_low_resolution():
    from sean_train.networks.costs import choose_style_conv

    assert choose_style_conv("auto", 1024, 512, 151, 8 * 8) == "direct"
    assert choose_style_conv("auto", 1024, 512, 19, 16 * 16) == "factorized"
    assert choose_style_conv("auto", 256, 512, 19, 128 * 128) == "factorized"


def test_class_absent_at_encoder_grid_gets_zero_code(tiny_config):
    model = make_random_model(tiny_config)
    labels = torch.zeros(1, 64, 64, dtype=torch.long)
    labels[0, 1::2, 1::2] = 3  # only odd pixels: invisible on the encoder's even-pixel grid
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        codes = model.encode(image, one_hot(labels, 8))
    assert torch.all(codes[0, 3] == 0)
    assert codes[0, 0].abs().sum() > 0


def test_noise_layout_follows_official_draw_order(tiny_config):
    layout = noise_layout(tiny_config)
    names = [slot.layer for slot in layout.slots]
    assert len(names) == 18
    assert names[:6] == ["head_0.norm_0", "head_0.norm_1", "middle_0.norm_0", "middle_0.norm_1",
                         "middle_1.norm_0", "middle_1.norm_1"]
    assert names[6:9] == ["up_0.norm_s", "up_0.norm_0", "up_0.norm_1"]
    assert layout.numel == sum(s.height * s.width for s in layout.slots)


def test_bad_configs_are_clear():
    with pytest.raises(ConfigError, match="multiples of 32"):
        ModelConfig(height=100, width=100)
    with pytest.raises(ConfigError, match="layout"):
        ModelConfig(layout="most")
    with pytest.raises(ConfigError, match="unknown keys"):
        ModelConfig.from_dict({"num_classes": 3, "bogus": 1})


@pytest.mark.slow
def test_generator_forward_has_no_python_loop_over_classes(tiny_config):
    """Tracing succeeds and the graph size does not grow with the class count (a loop would add
    hundreds of nodes per extra class; constant folding may differ by a node or two)."""
    sizes = []
    for k in (4, 40):
        cfg = ModelConfig(**{**TINY, "num_classes": k}, style_conv="factorized")
        model = make_random_model(cfg)
        image, mask, noise = _inputs(cfg, 1)
        traced = torch.jit.trace(model, (image, mask, noise), check_trace=False)  # its nodes are counted, not run
        sizes.append(len(list(traced.inlined_graph.nodes())))
    assert abs(sizes[0] - sizes[1]) <= 4


def _label_inputs(config, batch, seed=0):
    """Labels with pixels in no class (id -1 and id K + 3) and a class absent from image 1, codes and noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, config.num_classes, (batch, config.height, config.width), generator=g)
    labels[0, :3, :3] = -1
    labels[-1, 5:9, 5:9] = config.num_classes + 3
    labels[-1][labels[-1] == 2] = 1
    codes = torch.rand(batch, config.num_classes, config.style_dim, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(batch, noise_layout(config).numel, generator=g, dtype=torch.float64)
    extra = None
    if config.extra_mask_channels:
        shape = (batch, config.extra_mask_channels, config.height, config.width)
        extra = (torch.rand(shape, generator=g) < 0.3).double()
    return labels, codes, noise, extra


@pytest.mark.parametrize(
    "layout,size,extra,style_mode,onehot_mode,region_mode",
    [
        ("normal", (64, 64), 0, "direct", "conv", "auto"),
        ("normal", (64, 64), 0, "factorized", "lookup", "dense"),
        ("normal", (64, 64), 2, "lookup", "lookup", "auto"),
        ("more", (64, 128), 0, "lookup", "conv", "dense"),
        ("normal", (128, 128), 0, "lookup", "auto", "auto"),
        ("more", (64, 128), 1, "factorized", "lookup", "auto"),
        ("more", (64, 128), 2, "auto", "auto", "auto"),
    ],
)
def test_inference_form_equals_training_form(layout, size, extra, style_mode, onehot_mode, region_mode):
    """Folded BatchNorm / blends / shortcut, one product per branch, lookups (and, with a lookup style product
    and no extra channels, the region form): the same numbers, in float64."""
    from sean_train.networks.inference import fold_for_inference

    sizes = {"height": size[0], "width": size[1]}
    config = ModelConfig(**{**TINY, **sizes, "layout": layout, "extra_mask_channels": extra})
    generator = make_random_model(config, scale=0.08).double().generator
    folded = fold_for_inference(generator, style_mode, onehot_mode, region_mode)
    norms = [m for m in folded.modules() if hasattr(m, "shared")]
    regions = extra == 0 and style_mode == "lookup" and region_mode == "auto" and size == (128, 128)
    assert ("regions" in {n.form for n in norms}) == regions  # region form from forms.REGION_MIN_PIXELS up
    if onehot_mode != "auto":
        assert {n.shared.form for n in norms if n.form == "dense"} <= {onehot_mode}
    if style_mode != "auto":
        assert {n.style.form for n in norms if n.style is not None} == {style_mode}
    labels, codes, noise, extra_maps = _label_inputs(config, 2)
    mask = one_hot(labels, config.num_classes).double()
    if extra:
        mask = torch.cat([mask, extra_maps], dim=1)
    with torch.no_grad():
        expected = generator(mask, codes, noise)
        actual = folded(labels, codes, noise, extra_maps)
    assert expected.std() > 0.02  # not a flat or saturated image
    assert (actual - expected).abs().max().item() < 1e-12


def test_channels_last_upsampling_is_nearest_interpolation_of_the_channels_first_view():
    from sean_train.networks.ops import upsample2_channels_last

    x = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0))  # [B, H, W, C]
    expected = F.interpolate(x.permute(0, 3, 1, 2), scale_factor=2.0, mode="nearest").permute(0, 2, 3, 1)
    assert torch.equal(upsample2_channels_last(x), expected)


@pytest.mark.parametrize("classes", [7, 8])
def test_factorized_style_products_contract_over_an_even_length(classes):
    """With an odd class count the inference form's factorized product takes one all-zero class, so that
    its contraction (9 per class) is even (costs.factorized_product_classes: AMX multiplies bf16 in
    pairs); the images stay the training form's in float64."""
    from sean_train.networks.inference import MapsNeeded, fold_for_inference, label_maps

    config = ModelConfig(**{**TINY, "num_classes": classes})
    generator = make_random_model(config, scale=0.08).double().generator
    folded = fold_for_inference(generator, "factorized", "conv", "dense")
    labels, codes, noise, _ = _label_inputs(config, 2)
    maps = label_maps(labels, None, classes, 8, 8, MapsNeeded(patches=True), torch.float64)
    assert maps.patches.shape == (2, 9 * 8, 64)  # rows tap * 8 + class
    taps = maps.patches.reshape(2, 9, 8, 64)
    assert taps[:, :, classes:].abs().sum() == 0 and taps[:, :, :classes].sum() > 0
    with torch.no_grad():
        expected = generator(one_hot(labels, classes).double(), codes, noise)
        actual = folded(labels, codes, noise, None)
    assert expected.std() > 0.02
    assert (actual - expected).abs().max().item() < 1e-12


@pytest.mark.parametrize("region_mode", ["dense", "regions"])
def test_folding_computes_where_the_weights_are(region_mode):
    """fold_for_inference of a generator on another device (the meta device stands in for a GPU: a CPU
    tensor mixed into its arithmetic raises): every folded weight is made there, none on the CPU. At 128²
    the region form takes the 128² layers; layers without a style product fold too (the last ones)."""
    from sean_train.networks.inference import fold_for_inference

    config = ModelConfig(**{**TINY, "height": 128, "width": 128})
    generator = make_random_model(config, seed=0).generator.to("meta")
    folded = fold_for_inference(generator, region_mode="auto" if region_mode == "regions" else "dense")
    forms = {norm.form for norm in folded.modules() if hasattr(norm, "forms")}
    assert region_mode in forms
    assert {t.device.type for t in folded.state_dict().values()} == {"meta"}


def test_inference_form_folds_the_shortcut_into_half_the_shift_rows(tiny_config):
    from sean_train.networks.inference import fold_for_inference

    folded = fold_for_inference(make_random_model(tiny_config).generator)
    up_0 = folded.blocks["up_0"]  # fin 16 ngf -> fout 8 ngf: B of norm_s has fout rows
    fin, fout = 16 * tiny_config.ngf, 8 * tiny_config.ngf
    assert up_0.norm_s.rows == fin + fout
    assert up_0.norm_0.rows == 2 * fin
    with pytest.raises(ValueError, match="eval-mode"):
        fold_for_inference(make_random_model(tiny_config).generator.train())
    with pytest.raises(ValueError, match="style_mode"):
        fold_for_inference(make_random_model(tiny_config).generator, style_mode="sparse")


def test_shortcut_product_equals_the_1x1_conv():
    from sean_train.networks.inference import PixelProduct

    conv = torch.nn.Conv2d(6, 4, 1, bias=False).double()
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64)
    assert (PixelProduct(conv)(x) - conv(x)).abs().max().item() < 1e-14
    for wrong in (torch.nn.Conv2d(6, 4, 3, bias=False), torch.nn.Conv2d(6, 4, 1)):
        with pytest.raises(ValueError, match="1x1 convolution without bias"):
            PixelProduct(wrong)


def test_lookup_forms_are_chosen_above_the_lookup_cost():
    from sean_train.networks.costs import LOOKUP_COST, cheapest_onehot_form, cheapest_style_form

    pixels = 128 * 128
    assert cheapest_onehot_form("auto", 128, LOOKUP_COST - 1, pixels) == "conv"
    assert cheapest_onehot_form("auto", 128, LOOKUP_COST + 1, pixels) == "lookup"
    assert cheapest_onehot_form("conv", 128, 1000, pixels) == "conv"
    assert cheapest_style_form("auto", 512, 512, LOOKUP_COST + 1, pixels) == "lookup"
    assert cheapest_style_form("auto", 512, 512, LOOKUP_COST - 1, pixels) == "factorized"
    assert cheapest_style_form("auto", 2048, 512, 151, 8 * 8) == "direct"  # kernels cost more than the conv


@pytest.mark.slow
def test_inference_graph_size_does_not_grow_with_the_class_count():
    """No graph node per class. The region form's window keys (regions.distinct_windows) pack as many
    label ids per int32 key as fit, so its graph changes with the bits of a class id only: 61 and 63 ids
    both pack 5 to a key."""
    from sean_train.networks.inference import fold_for_inference

    def size(k: int, region_mode: str) -> int:
        cfg = ModelConfig(**{**TINY, "num_classes": k})
        folded = fold_for_inference(make_random_model(cfg).generator, "lookup", "lookup", region_mode=region_mode)
        labels, codes, noise, _ = _label_inputs(cfg, 1)
        traced = torch.jit.trace(folded, (labels, codes.float(), noise.float()), check_trace=False)  # counted, not run
        return len(list(traced.inlined_graph.nodes()))

    assert abs(size(4, "dense") - size(60, "dense")) <= 4
    assert abs(size(60, "regions") - size(62, "regions")) <= 4
