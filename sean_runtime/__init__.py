"""The light SEAN runtime: numpy + ONNX Runtime / TensorRT / OpenVINO. Never imports torch."""
