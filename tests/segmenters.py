"""Tiny ONNX segmenters with predictable labels, built with onnx.helper for the segmenter tests.

Each labels a pixel with the palette colour nearest to it: a 1x1 convolution scores class k as
2 p_k . x - |p_k|^2 (x and p_k the RGB in [-1, 1]), the negative squared distance up to a term that is
the same for every class. A picture painted in palette colours is labelled exactly with the map that
painted it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def palette_segmenter(
    path: Path,
    palette: np.ndarray,
    output: str = "scores",
    input_form: str = "nchw",
    size: tuple[int, int] | None = None,
) -> Path:
    """Write a segmenter for `palette` (uint8 [K, 3]) to `path`.

    output: "scores" float32 [B, K, H, W]; "ids" int64 [B, H, W] (ArgMax); "pooled" float32 [B, K] (breaks
    the contract). input_form: "nchw" float32 [B, 3, H, W] in [-1, 1] or "nhwc" uint8 [B, H, W, 3].
    size: fixed (H, W) of the input, None for dynamic.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    colours = palette.astype(np.float32) / 127.5 - 1.0  # [K, 3]
    k = len(colours)
    height, width = size if size is not None else ("height", "width")
    nodes, inits = [], [
        numpy_helper.from_array((2.0 * colours).reshape(k, 3, 1, 1), "weight"),
        numpy_helper.from_array(-(colours**2).sum(axis=1), "bias"),
    ]
    if input_form == "nhwc":
        image = helper.make_tensor_value_info("rgb", TensorProto.UINT8, ["batch", height, width, 3])
        inits += [
            numpy_helper.from_array(np.float32(1 / 127.5), "scale"),
            numpy_helper.from_array(np.float32(1), "one"),
        ]
        nodes += [
            helper.make_node("Cast", ["rgb"], ["rgb_f"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["rgb_f"], ["chw"], perm=[0, 3, 1, 2]),
            helper.make_node("Mul", ["chw", "scale"], ["scaled"]),
            helper.make_node("Sub", ["scaled", "one"], ["x"]),
        ]
    else:
        image = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, height, width])
    nodes.append(helper.make_node("Conv", ["x", "weight", "bias"], ["scores"]))
    if output == "ids":
        nodes.append(helper.make_node("ArgMax", ["scores"], ["ids"], axis=1, keepdims=0))
        out = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", height, width])
    elif output == "pooled":
        nodes += [
            helper.make_node("GlobalAveragePool", ["scores"], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        ]
        out = helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["batch", k])
    else:
        out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", k, height, width])
    graph = helper.make_graph(nodes, "palette_segmenter", [image], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def painted(labels: np.ndarray, palette: np.ndarray, seed: int = 0) -> np.ndarray:
    """A picture of a label map: each pixel its class's palette colour, off by up to 20 per channel
    (still nearest to its own colour for palettes whose colours lie far apart)."""
    noise = np.random.default_rng(seed).integers(-20, 21, (*labels.shape, 3))
    return np.clip(palette[labels].astype(np.int64) + noise, 0, 255).astype(np.uint8)
