"""ONNX opsets the exporter writes. No heavy imports: the CLI builds its options from these."""

DEFAULT_OPSET = 20
# From the dynamo exporter's minimum (18) up to 23; TensorRT parses up to 20 (10.0) .. 24 (10.15).
SUPPORTED_OPSETS = range(18, 24)
