"""The forms a SEAN generator is computed in, by name, and the export policy that picks one: one owner.

Every form computes the same numbers (exact identities, proven in float64 by the tests):
- "direct":  the training form as the official code computes it (the style map painted, then convolved);
- "auto":    the training form with each layer's style product in its cheapest exact form
             (ModelConfig.style_conv "auto", networks.costs);
- "dense":   the folded inference form (networks.inference), static apart from the batch axis: every
             backend, and the graph TensorRT gets;
- "regions": the folded inference form with the products only at region edges (networks.regions), a
             number of rows that depends on the labels: the CPU backends (ONNX Runtime, OpenVINO, C++).
Packages record "dense" or "regions" (manifest "generator_form", sean_core.format); `sean export --form`
takes EXPORT_FORMS; `sean bench` names the form of every row it times with MODEL_FORMS.

The policy (which layers "auto" folds into region form, and so which packages `sean export` writes in it)
rests on measured speed; docs/performance.md gives the measurements and the processors. numpy-free.
"""

from __future__ import annotations

TRAINING_FORMS = ("direct", "auto")
GENERATOR_FORMS = ("dense", "regions")
MODEL_FORMS = (*TRAINING_FORMS, *GENERATOR_FORMS)
EXPORT_FORMS = ("auto", *GENERATOR_FORMS)  # `sean export --form`
EDGE_FORMS = ("rows", "windows")  # how a region layer computes its edge rows (layer_edge_form)
# `sean export --edges`, recorded as a region package's manifest "edge_form" (absent: "rows", as before it)
EXPORT_EDGES = ("auto", *EDGE_FORMS)

# The smallest map (pixels) whose layers take the region form. A mask's edge band is a few pixels wide
# at every resolution, so the share of edge pixels falls as maps grow; where most pixels are edge pixels
# the dense convolutions are cheaper than the region form's gathers (docs/performance.md, "Region form").
REGION_MIN_PIXELS = 128 * 128
# Wide layers (many G and B rows) take it from a smaller map: their products per distinct window save
# more than the gathers cost there.
REGION_WIDE_MIN_PIXELS = 64 * 64
REGION_WIDE_MIN_ROWS = 512
# A region layer's edge rows (networks.regions.RegionRows), per map size: on maps up to this size one
# product per distinct 5x5 window (its 3x3 patch of activations against the whole kernel); on larger maps
# the nine tap products of each activation row, then a sum of nine gathered rows per window. The window
# products do more multiply-adds and read less: they pay where the distinct windows are few per
# activation row (small maps) and on bf16 matrix units; on larger maps fp32 runs the tap products faster
# (docs/performance.md, "Edge rows"). A package's manifest "edge_form": "auto" means this rule, as the
# package format states it (docs/package-format.md): another threshold needs an edge_form value of its own,
# or the runtime would count older "auto" packages by the wrong rule.
EDGE_WINDOW_MAX_PIXELS = 64 * 64


def layer_takes_regions(pixels: int, rows: int, dense_style_looks_up: bool) -> bool:
    """Whether "auto" folds a layer of `rows` G and B rows over `pixels` into region form: on large maps,
    on wide layers from a smaller map, and wherever the dense form would look the styles up at every pixel
    (many classes), which the region form does only near the edges."""
    wide = pixels >= REGION_WIDE_MIN_PIXELS and rows >= REGION_WIDE_MIN_ROWS
    return pixels >= REGION_MIN_PIXELS or wide or dense_style_looks_up


def layer_edge_form(pixels: int) -> str:
    """How "auto" computes a region layer's edge rows over `pixels`: "windows" or "rows" (EDGE_FORMS)."""
    return "windows" if pixels <= EDGE_WINDOW_MAX_PIXELS else "rows"


def package_form(form: str, precision: str, takes_regions: bool) -> str:
    """The generator form a package is written in for `sean export --form FORM` (checked by the exporter):
    "auto" is the region form for an fp32 package of a model some of whose layers take it (the CPU
    backends' fastest), else dense (fp16 is for TensorRT, which needs the static graph)."""
    if form == "auto":
        return "regions" if precision == "fp32" and takes_regions else "dense"
    return form


def region_policy_text() -> str:
    """Where the region form starts, in words, for messages."""
    side, wide_side = int(REGION_MIN_PIXELS**0.5), int(REGION_WIDE_MIN_PIXELS**0.5)
    return f"it starts at {side}x{side} maps, {wide_side}x{wide_side} for layers of {REGION_WIDE_MIN_ROWS}+ rows"
