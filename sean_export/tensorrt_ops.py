"""TensorRT's ONNX-parser operator support list as data, and the check of a graph against it.

Source: onnx-tensorrt `docs/operators.md` for TensorRT 10.15 (opsets 9..24). An operator not listed
there, or listed as unsupported, stops the export with an error naming it. On top of that list, the
package format forbids operators that make a graph data-dependent or non-reproducible (see
FORBIDDEN), even where TensorRT could parse them.
"""

from __future__ import annotations

from collections import Counter

import onnx

from sean_core.errors import SeanError
from sean_export.onnx_types import tensor_types

SOURCE = "onnx-tensorrt docs/operators.md, TensorRT 10.15"
OPSET_RANGE = (9, 24)  # inclusive, for TensorRT 10.15; TensorRT 10.0 stops at 20

_F = ("FP32", "FP16", "BF16")
_FI = (*_F, "INT32", "INT64")
_FIB = (*_FI, "BOOL")


def _table(types: tuple[str, ...], ops: str) -> dict[str, frozenset[str]]:
    return {op: frozenset(types) for op in ops.split()}


# Operator -> element types TensorRT accepts for it. Quantized types (INT8, FP8, FP4, INT4) only
# appear where a graph quantizes explicitly, which SEAN graphs never do.
SUPPORTED_TYPES: dict[str, frozenset[str]] = {
    **_table(
        _F,
        """Acos Acosh Asin Asinh Atan Atanh AveragePool BatchNormalization Ceil Celu Clip Conv ConvTranspose
        Cos Cosh CumSum Dropout Einsum Elu Erf Exp Floor Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
        GroupNormalization GRU HardSigmoid HardSwish Hardmax ImageScaler InstanceNormalization IsInf
        LayerNormalization LeakyRelu Log LogSoftmax LRN LSTM LpNormalization LpPool MatMul MaxPool
        MeanVarianceNormalization ParametricSoftplus PRelu QuantizeLinear RandomNormal RandomNormalLike
        RandomUniform RandomUniformLike Reciprocal Resize RMSNormalization RNN RotaryEmbedding Round
        ScaledTanh Scan Selu Sigmoid Sin Sinh Softmax Softplus Softsign Sqrt Tan Tanh ThresholdedRelu
        Upsample""",
    ),
    **_table(
        ("FP32", "FP16"),
        "BlackmanWindow DeformConv GridSample HammingWindow HannWindow Mish NonMaxSuppression NonZero RoiAlign",
    ),
    **_table(("FP32",), "STFT"),
    **_table(
        _FI,
        """Abs Add ArgMax ArgMin DepthToSpace Div Equal Greater GreaterOrEqual IsNaN Less LessOrEqual Max
        Min Mod Mul Neg Pad Pow Range ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
        ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Scatter ScatterElements ScatterND Shrink Sign
        SpaceToDepth Sub Sum TopK""",
    ),
    **_table(
        _FIB,
        """Concat Expand EyeLike Flatten Gather GatherElements GatherND Identity If Loop OneHot Reshape
        ReverseSequence Shape Size Slice Split Squeeze Tile Transpose Trilu Unsqueeze Where""",
    ),
    **_table((*_FI, "UINT8", "BOOL"), "Cast CastLike"),
    **_table(("BOOL",), "And Not Or Xor"),
    **_table((*_FIB, "FP8", "FP4", "INT4"), "Constant ConstantOfShape"),
    **_table((*_FI, "FP8"), "Mean"),
    **_table((*_FI, "INT8"), "Gelu"),
    **_table((*_F, "INT8", "FP8"), "Attention"),
    **_table(("INT8", "FP8", "FP4", "INT4"), "DequantizeLinear"),
    **_table(("FP32", "FP16", "BF16", "INT32"), "TensorScatter"),
}

# Listed as unsupported by the TensorRT ONNX parser (named so the error can say so, not "unknown").
UNSUPPORTED = frozenset(
    """AffineGrid Bernoulli BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor Col2Im CenterCropPad Compress
    ConcatFromSequence ConvInteger DFT Det DynamicQuantizeLinear ImageDecoder MatMulInteger MaxRoiPool
    MaxUnpool MelWeightMatrix Multinomial NegativeLogLikelihoodLoss Optional OptionalGetElement
    OptionalHasElement QLinearConv QLinearMatMul RegexFullMatch SequenceAt SequenceConstruct SequenceEmpty
    SequenceErase SequenceInsert SequenceLength SequenceMap SoftmaxCrossEntropyLoss SplitToSequence
    StringConcat StringNormalizer StringSplit TfIdfVectorizer Unique""".split()
)

# Parsed by TensorRT but not allowed in a SEAN package: each would make the graph's shapes or results
# depend on the data or the backend.
FORBIDDEN: dict[str, str] = {
    "Loop": "control flow (regions are pooled with static masked MatMuls)",
    "If": "control flow",
    "Scan": "control flow",
    "NonZero": "data-dependent output shape",
    "RandomNormal": "noise must be a graph input, so results are reproducible on every backend",
    "RandomNormalLike": "noise must be a graph input",
    "RandomUniform": "noise must be a graph input",
    "RandomUniformLike": "noise must be a graph input",
    "Einsum": "TensorRT supports Einsum fully only from 10.12; use MatMul",
}

# The operators a region-form generator (manifest generator_form "regions"), a graph for the CPU backends,
# may hold beyond the rules: NonZero sizes its edge rows, Unique numbers its distinct label windows
# (TensorRT's parser has no Unique; TensorRT declines region packages anyway).
DATA_DEPENDENT = frozenset({"NonZero", "Unique"})

# ONNX element type -> the names used in the support list.
_TYPE_NAMES = {
    onnx.TensorProto.FLOAT: "FP32",
    onnx.TensorProto.FLOAT16: "FP16",
    onnx.TensorProto.BFLOAT16: "BF16",
    onnx.TensorProto.INT32: "INT32",
    onnx.TensorProto.INT64: "INT64",
    onnx.TensorProto.INT8: "INT8",
    onnx.TensorProto.UINT8: "UINT8",
    onnx.TensorProto.BOOL: "BOOL",
    onnx.TensorProto.DOUBLE: "DOUBLE",
}

# Resize modes the parser accepts (restrictions column of the list).
_RESIZE_MODES = {"nearest", "linear"}
_RESIZE_COORDINATES = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
_RESIZE_NEAREST = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}


class UnsupportedOperatorError(SeanError, ValueError):
    """A graph uses an operator, type or attribute that TensorRT or the package format does not allow."""


def _attribute(node: onnx.NodeProto, name: str, default: str) -> str:
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr).decode()
    return default


def unsupported_nodes(model: onnx.ModelProto, allowed: frozenset[str] = frozenset()) -> list[str]:
    """One line per problem: operator not in the TensorRT list, forbidden (unless `allowed`), wrong type, or
    bad attribute."""
    problems: list[str] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        problems.append(f"opset {opset} is outside TensorRT's range {OPSET_RANGE[0]}..{OPSET_RANGE[1]}")
    types = tensor_types(model)
    seen: set[tuple[str, str]] = set()
    for node in model.graph.node:
        label = f"{node.op_type} (node {node.name or '?'})"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{label}: custom domain {node.domain!r} has no TensorRT importer")
            continue
        if node.op_type in FORBIDDEN and node.op_type not in allowed:
            problems.append(f"{label}: not allowed in a SEAN package: {FORBIDDEN[node.op_type]}")
            continue
        if node.op_type in UNSUPPORTED and node.op_type not in allowed:
            problems.append(f"{label}: not supported by the TensorRT ONNX parser")
            continue
        if node.op_type in allowed and node.op_type not in SUPPORTED_TYPES:
            continue
        if node.op_type not in SUPPORTED_TYPES:
            problems.append(f"{label}: not in the TensorRT ONNX operator list ({SOURCE})")
            continue
        data = node.input[0] if node.input else (node.output[0] if node.output else "")
        type_name = _TYPE_NAMES.get(types.get(data, 0))
        if type_name and type_name not in SUPPORTED_TYPES[node.op_type] and (node.op_type, type_name) not in seen:
            seen.add((node.op_type, type_name))
            allowed = ", ".join(sorted(SUPPORTED_TYPES[node.op_type]))
            problems.append(f"{label}: TensorRT supports it for {allowed}, not {type_name}")
        if node.op_type == "Resize":
            mode = _attribute(node, "mode", "nearest")
            coords = _attribute(node, "coordinate_transformation_mode", "half_pixel")
            nearest = _attribute(node, "nearest_mode", "round_prefer_floor")
            if mode not in _RESIZE_MODES or coords not in _RESIZE_COORDINATES or nearest not in _RESIZE_NEAREST:
                problems.append(f"{label}: Resize mode={mode} coordinates={coords} nearest={nearest} is not supported")
    return problems


def check_tensorrt_ops(model: onnx.ModelProto, graph_name: str = "graph", data_dependent: bool = False) -> Counter[str]:
    """Raise UnsupportedOperatorError naming every problem; return the operator histogram when clean.

    data_dependent: a region-form generator (sean_core.forms.GENERATOR_FORMS), whose NonZero sizes the edge rows;
    every other rule holds (its operators and types are still those of TensorRT's list).
    """
    problems = unsupported_nodes(model, allowed=DATA_DEPENDENT if data_dependent else frozenset())
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise UnsupportedOperatorError(
            f"the {graph_name} graph cannot be built by TensorRT ({len(problems)} problem(s)):\n  {shown}{more}"
        )
    return Counter(node.op_type for node in model.graph.node)

