"""fp32 ONNX graph -> mixed-precision graph for TensorRT's strongly typed builds.

TensorRT 11 has no FP16 builder flag: every tensor's type comes from the graph. This pass runs the
heavy operators (convolutions; in the generator also the MatMuls, which are the style FCs, the
factorized style convs, the per-image lookup tables and the one-hot style broadcast) in fp16 with fp16
weights, and keeps in fp32 everything that reduces or normalizes: InstanceNormalization and its
inputs, the encoder's region pooling (a MatMul summing over every pixel of a region, then ReduceSum /
Clip / Div), the generator's lookups (Gather and the ReduceSum over the 3x3 taps), the noise
injection, and the modulation (x + noise v) G + B into which the generator's BatchNorm is folded
(sean_train.networks.inference). Graph inputs and outputs stay float32 / int32, so callers see the
same interface at both precisions.

Elementwise and data-movement operators (Relu, Add, Reshape, Resize, ...) follow their inputs: they
run in fp16 when every non-constant float input is already fp16. Casts are inserted only where an
fp16 tensor meets an fp32 operator or the other way round; constant weights are converted in place.
"""

from __future__ import annotations

import heapq
from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

from sean_export.onnx_types import tensor_types

FLOAT, HALF = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16

# Operators that run in fp16, per graph. The encoder's only MatMul is the region pooling: fp32.
FP16_COMPUTE = {
    "encoder": frozenset({"Conv", "ConvTranspose"}),
    "generator": frozenset({"Conv", "ConvTranspose", "MatMul"}),
}

# Operator -> positions of its inputs that carry the compute type (None: all inputs). The others are
# shapes, indices or scales and keep their own type. Operators not listed always run in fp32.
DATA_INPUTS: dict[str, tuple[int, ...] | None] = {
    "Conv": None,
    "ConvTranspose": None,
    "MatMul": None,
    "Add": None,
    "Sub": None,
    "Mul": None,
    "Concat": None,
    "Relu": None,
    "LeakyRelu": None,
    "Sigmoid": None,
    "Tanh": None,
    "Identity": None,
    "Reshape": (0,),
    "Transpose": (0,),
    "Slice": (0,),
    "Squeeze": (0,),
    "Unsqueeze": (0,),
    "Expand": (0,),
    "Flatten": (0,),
    "Split": (0,),
    "Tile": (0,),
    "Resize": (0,),
    "Pad": (0, 2),
}
# Exact at any precision: a chain of these over fp32 weights is converted at its source instead of cast.
DATA_MOVEMENT = frozenset(
    {"Reshape", "Transpose", "Slice", "Squeeze", "Unsqueeze", "Expand", "Flatten", "Concat", "Identity"}
)


def _data_positions(node: onnx.NodeProto) -> list[int]:
    positions = DATA_INPUTS[node.op_type]
    indices = range(len(node.input)) if positions is None else [i for i in positions if i < len(node.input)]
    return [i for i in indices if node.input[i]]


def topological_order(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The nodes ordered so that every node follows the producers of its inputs.

    Among the nodes that are ready, the earliest in the current order goes first, so an already
    sorted graph keeps its order and inserted nodes land right after what they read.
    """
    produced_by = {out: idx for idx, node in enumerate(nodes) for out in node.output}
    waiting = [0] * len(nodes)
    users: dict[int, list[int]] = defaultdict(list)
    for idx, node in enumerate(nodes):
        for name in set(node.input):
            if name in produced_by:
                waiting[idx] += 1
                users[produced_by[name]].append(idx)
    ready = [idx for idx, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        idx = heapq.heappop(ready)
        order.append(idx)
        for user in users[idx]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle")
    return [nodes[idx] for idx in order]


class _MixedPrecisionPass:
    def __init__(self, model: onnx.ModelProto, fp16_ops: frozenset[str]) -> None:
        self.model = model
        self.graph = model.graph
        self.fp16_ops = fp16_ops
        self.types = tensor_types(model)
        self.initializers = {t.name: t for t in self.graph.initializer}
        # Every node is reached through this list, so that id(node) stays a valid identity.
        self.nodes = list(self.graph.node)
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = defaultdict(list)
        for node in self.nodes:
            for pos, name in enumerate(node.input):
                if name:
                    self.consumers[name].append((node, pos))
        self.constant = set(self.initializers)
        for node in self.nodes:
            if node.op_type == "Constant" or (node.input and all(not i or i in self.constant for i in node.input)):
                self.constant.update(node.output)
        self.half_nodes: set[int] = set()  # id() of the nodes that run in fp16
        self.casts: dict[tuple[str, int], str] = {}
        self.new_nodes: list[onnx.NodeProto] = []

    def is_float(self, name: str) -> bool:
        return self.types.get(name) in (FLOAT, HALF)

    def wants(self, node: onnx.NodeProto, pos: int) -> int | None:
        """The type this node needs at input `pos`: HALF / FLOAT for compute-typed inputs, None otherwise."""
        if node.op_type not in DATA_INPUTS or pos not in _data_positions(node) or not self.is_float(node.input[pos]):
            return None
        return HALF if id(node) in self.half_nodes else FLOAT

    def assign(self) -> None:
        """Forward pass in topological order: which nodes run in fp16."""
        for node in self.nodes:
            if node.op_type not in DATA_INPUTS or all(out in self.constant for out in node.output):
                continue
            data = [node.input[i] for i in _data_positions(node) if self.is_float(node.input[i])]
            if not data:
                continue
            live = [name for name in data if name not in self.constant]
            half = node.op_type in self.fp16_ops or (bool(live) and all(self.types[n] == HALF for n in live))
            if half:
                self.half_nodes.add(id(node))
                for out in node.output:
                    if self.types.get(out) == FLOAT:
                        self.types[out] = HALF

    def cast(self, name: str, to: int) -> str:
        key = (name, to)
        if key not in self.casts:
            suffix = "fp16" if to == HALF else "fp32"
            out = f"{name}__{suffix}"
            self.new_nodes.append(onnx.helper.make_node("Cast", [name], [out], name=f"cast_{suffix}_{name}", to=to))
            self.casts[key] = out
        return self.casts[key]

    def all_consumers_want_half(self, name: str) -> bool:
        outputs = {o.name for o in self.graph.output}
        return name not in outputs and all(self.wants(n, p) == HALF for n, p in self.consumers[name])

    def constant_as_half(self, name: str) -> str:
        """An fp16 version of a constant float tensor: converted at its source where possible."""
        if self.types.get(name) == HALF:
            return name
        if name in self.initializers and self.all_consumers_want_half(name):
            tensor = self.initializers[name]
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), name))
            self.types[name] = HALF
            return name
        node = self.producer.get(name)
        if node is not None and node.op_type in DATA_MOVEMENT and self.all_consumers_want_half(name):
            self.half_nodes.add(id(node))
            for pos in _data_positions(node):
                if self.is_float(node.input[pos]):
                    node.input[pos] = self.constant_as_half(node.input[pos])
            for out in node.output:
                self.types[out] = HALF
            return name
        return self.cast(name, HALF)

    def insert_casts(self) -> None:
        for node in self.nodes:
            if all(out in self.constant for out in node.output) and id(node) not in self.half_nodes:
                continue
            for pos, name in enumerate(node.input):
                want = self.wants(node, pos)
                have = self.types.get(name)
                if want is None and have == HALF:
                    want = FLOAT  # an fp32-only operator reading an fp16 tensor
                if want is None or want == have:
                    continue
                if want == HALF and name in self.constant:
                    node.input[pos] = self.constant_as_half(name)
                else:
                    node.input[pos] = self.cast(name, want)

    def fix_outputs(self) -> None:
        """Graph outputs keep their names and float32 type: the fp16 tensor is renamed and cast back."""
        for output in self.graph.output:
            if self.types.get(output.name) != HALF:
                continue
            inner = f"{output.name}__fp16"
            producer = self.producer[output.name]
            producer.output[list(producer.output).index(output.name)] = inner
            for node, pos in self.consumers[output.name]:
                node.input[pos] = inner
            self.new_nodes.append(
                onnx.helper.make_node("Cast", [inner], [output.name], name=f"cast_fp32_{output.name}", to=FLOAT)
            )

    def run(self) -> onnx.ModelProto:
        self.assign()
        self.insert_casts()
        self.fix_outputs()
        ordered = []
        for node in topological_order(self.nodes + self.new_nodes):
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            ordered.append(copy)
        del self.graph.node[:]
        self.graph.node.extend(ordered)
        # Intermediate type annotations from the exporter are stale now; checkers re-infer them.
        del self.graph.value_info[:]
        return self.model


def convert_to_mixed_fp16(model: onnx.ModelProto, graph_name: str) -> onnx.ModelProto:
    """Rewrite a fp32 graph (weights in memory) in place into the mixed-precision graph; returns it."""
    if graph_name not in FP16_COMPUTE:
        raise ValueError(f"no fp16 policy for graph {graph_name!r}")
    return _MixedPrecisionPass(model, FP16_COMPUTE[graph_name]).run()


def precision_histogram(model: onnx.ModelProto) -> dict[str, int]:
    """{"fp16": weights in fp16, "fp32": weights in fp32} by element count (for reports and tests)."""
    counts = {"fp16": 0, "fp32": 0}
    for tensor in model.graph.initializer:
        numel = int(np.prod(tensor.dims)) if tensor.dims else 1
        if tensor.data_type == HALF:
            counts["fp16"] += numel
        elif tensor.data_type == FLOAT:
            counts["fp32"] += numel
    return counts
