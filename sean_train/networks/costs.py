"""Analytic per-layer costs that choose between exactly equivalent forms of the same product.

A SEAN layer reads the K-channel one-hot mask twice: the style convolution (over the style map, which
is piecewise constant on the classes) and the mask branch's first convolution (over the one-hot mask
itself). Each has forms that compute the same numbers (exact identities, proven in float64 by the
tests) at costs that depend on the layer's size. Costs are multiply-adds per image; a form that looks
rows up in a table (Gather, then a sum over the nine 3x3 taps) is charged LOOKUP_COST multiply-adds per
value it reads, the measured price of that memory traffic against a convolution's multiply-add.
"""

from __future__ import annotations

from dataclasses import dataclass

from sean_core.forms import layer_edge_form, layer_takes_regions

# Multiply-adds that one looked-up value costs in time (gather + 9-tap sum + NHWC -> NCHW transpose)
# against a 3x3 convolution's. A measured price, so it differs between processors; over the range
# measured the forms it chooses stay the same (docs/performance.md, "Lookups").
LOOKUP_COST = 40

STYLE_FORMS = ("direct", "factorized", "lookup")
ONEHOT_FORMS = ("conv", "lookup")

# A region-form layer's per-class style FC (its [S, S] weights per class) reads every class's weights,
# or, in models of more classes than this, copies out the weights of the classes the batch shows and
# reads those, as the official code loops over the classes present. The copy costs more than the read
# it saves unless few of many classes show: a face layout shows most of its 19 classes, a scene layout a
# small share of ADE20K's 150 (docs/performance.md, "Per-class style layers").
STYLE_FC_ALL_CLASSES_MAX = 48


def factorized_product_classes(classes: int) -> int:
    """The classes the inference form's factorized style product contracts over (nine taps of each): K, or
    K + 1 with an all-zero class when K is odd. oneDNN multiplies bf16 on AMX in pairs along the
    contraction and runs an odd length on AVX-512 alone; the zero class costs 1/K more multiply-adds in
    fp32 (docs/performance.md, "Factorized style products")."""
    return classes + classes % 2


def style_fc_reads_all_classes(classes: int) -> bool:
    """Whether a region-form layer computes its per-class style FC for all `classes` (then keeps the rows
    of the present ones) rather than for the present classes alone."""
    return classes <= STYLE_FC_ALL_CLASSES_MAX


@dataclass(frozen=True)
class Work:
    """What one form of a product computes per image."""

    macs: int  # multiply-adds of convolutions and matrix products
    lookups: int = 0  # values read from lookup tables (each also one add of the 9-tap sum)

    @property
    def cost(self) -> int:
        """Multiply-add equivalents in time, the figure the forms are chosen by."""
        return self.macs + LOOKUP_COST * self.lookups


def style_conv_work(form: str, rows: int, style_dim: int, classes: int, pixels: int) -> Work:
    """A 3x3 convolution with `rows` outputs over the style map sum_k mask_k mu_k (S channels).

    direct:     paint the [S, H, W] style map, then the 3x3 conv S -> rows.
    factorized: per-image kernels K[r, k, tap] = sum_s W[r, s, tap] mu_k[s], then a 3x3 conv over the
                K-channel one-hot mask (exact: convolution is linear and zero padding commutes).
    lookup:     the same kernels as a table [9 (K + 1), rows]; an output pixel is the sum of the nine
                rows its 3x3 neighbourhood's labels select (row 0 of every tap is zero: padding and
                pixels in no class).
    """
    if form == "direct":
        return Work(classes * style_dim * pixels + rows * style_dim * 9 * pixels)
    kernels = rows * style_dim * 9 * classes
    if form == "factorized":
        return Work(kernels + rows * classes * 9 * pixels)
    if form == "lookup":
        return Work(kernels, lookups=9 * rows * pixels)
    raise ValueError(f"unknown style conv form {form!r}; the forms are {STYLE_FORMS}")


def onehot_conv_work(form: str, rows: int, classes: int, pixels: int) -> Work:
    """A 3x3 convolution with `rows` outputs over the K one-hot channels of the mask.

    conv: the convolution itself. lookup: nine rows of a constant table [9 (K + 1), rows] per pixel.
    """
    if form == "conv":
        return Work(rows * classes * 9 * pixels)
    if form == "lookup":
        return Work(0, lookups=9 * rows * pixels)
    raise ValueError(f"unknown one-hot conv form {form!r}; the forms are {ONEHOT_FORMS}")


def style_conv_cost(mode: str, channels: int, style_dim: int, classes: int, pixels: int) -> int:
    """Multiply-adds of the gamma + beta style convolutions (2 x channels outputs) of one training-form layer."""
    return style_conv_work(mode, 2 * channels, style_dim, classes, pixels).macs


def choose_style_conv(mode: str, channels: int, style_dim: int, classes: int, pixels: int) -> str:
    """Resolve "auto" to the cheaper of the training form's two exact forms (direct, factorized)."""
    if mode != "auto":
        return mode
    direct = style_conv_cost("direct", channels, style_dim, classes, pixels)
    factorized = style_conv_cost("factorized", channels, style_dim, classes, pixels)
    return "factorized" if factorized < direct else "direct"


def cheapest_style_form(mode: str, rows: int, style_dim: int, classes: int, pixels: int) -> str:
    """The inference form's style product: `mode` if it names a form, else the cheapest of STYLE_FORMS."""
    if mode != "auto":
        return mode
    return min(STYLE_FORMS, key=lambda form: style_conv_work(form, rows, style_dim, classes, pixels).cost)


def region_style_form(mode: str, rows: int, style_dim: int, classes: int, pixels: int) -> str:
    """The style product of a layer in region form (networks.regions), which reads its per-image tables
    only at region edges: "lookup" unless `mode` names another form or the tables alone (K S 9 R
    multiply-adds) cost more than the direct conv over every pixel (small maps with many classes)."""
    if mode != "auto":
        return mode
    tables = style_conv_work("lookup", rows, style_dim, classes, pixels).macs
    return "lookup" if tables <= style_conv_work("direct", rows, style_dim, classes, pixels).macs else "direct"


def cheapest_onehot_form(mode: str, rows: int, classes: int, pixels: int) -> str:
    """The inference form's one-hot convolution: `mode` if it names a form, else the cheaper of ONEHOT_FORMS."""
    if mode != "auto":
        return mode
    return min(ONEHOT_FORMS, key=lambda form: onehot_conv_work(form, rows, classes, pixels).cost)


@dataclass(frozen=True)
class FoldModes:
    """What fold_for_inference is asked for: each a form name or "auto" (style: STYLE_FORMS, one-hot:
    ONEHOT_FORMS, regions: sean_core.forms.GENERATOR_FORMS, edges: sean_core.forms.EDGE_FORMS)."""

    style: str = "auto"
    onehot: str = "auto"
    regions: str = "auto"
    edges: str = "auto"


@dataclass(frozen=True)
class LayerForms:
    """How one folded SEAN layer computes its rows (networks.inference.FoldedNorm)."""

    style: str | None  # one of STYLE_FORMS; None without a style branch
    onehot: str | None  # one of ONEHOT_FORMS; None in region form (which looks its rows up itself)
    regions: bool  # the region form (networks.regions): products only at region edges
    edges: str | None  # one of EDGE_FORMS in region form (its edge rows' products); None in dense form


def layer_forms(
    modes: FoldModes,
    rows: int,
    hidden: int,
    style_dim: int,
    classes: int,
    pixels: int,
    use_style: bool,
    extra_channels: int,
) -> LayerForms:
    """The forms of a layer with `rows` G and B rows over `pixels`. The region form applies where the style
    product is a lookup (or there is none) and the mask has no extra channels (they are not constant on a
    class); region mode "regions" insists on it."""
    dense_style = cheapest_style_form(modes.style, rows, style_dim, classes, pixels) if use_style else None
    large = layer_takes_regions(pixels, rows, dense_style == "lookup")  # the policy of "auto" (sean_core.forms)
    regions = not extra_channels and (modes.regions == "regions" or (modes.regions == "auto" and large))
    style = dense_style
    if use_style and regions:
        style = region_style_form(modes.style, rows, style_dim, classes, pixels)
    regions = regions and style in (None, "lookup")
    if modes.regions == "regions" and not regions:
        raise ValueError("the region form needs the lookup style form and no extra mask channels")
    onehot = None if regions else cheapest_onehot_form(modes.onehot, hidden, classes, pixels)
    edges = None
    if regions:
        edges = layer_edge_form(pixels) if modes.edges == "auto" else modes.edges
    return LayerForms(style, onehot, regions, edges)
