"""Element types of the tensors of an ONNX graph (used by the fp16 conversion, validation and the TensorRT check)."""

from __future__ import annotations

import onnx


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every named tensor, by ONNX type inference on a weightless copy of the graph.

    Weightless so that it also works on graphs larger than protobuf's 2 GiB and costs no memory.
    """
    graph = model.graph
    weights = [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in graph.initializer]
    light = onnx.helper.make_graph(list(graph.node), "weightless", [*graph.input, *weights], list(graph.output))
    light_model = onnx.helper.make_model(light, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    inferred = onnx.shape_inference.infer_shapes(light_model)
    types = {}
    for info in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        if info.type.HasField("tensor_type"):
            types[info.name] = info.type.tensor_type.elem_type
    return types
