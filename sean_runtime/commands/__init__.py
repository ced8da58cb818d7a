"""The runtime layer's click commands (listed in sean_runtime/subcommands.py) and what they share."""

BACKEND_HELP = "auto: TensorRT engines when the package has usable ones, else ONNX Runtime (GPU if available)."
