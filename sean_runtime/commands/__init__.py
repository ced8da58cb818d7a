"""The runtime layer's click commands (listed in sean_runtime/subcommands.py) and what they share."""

from sean_core.cpu import BF16_UNITS

BACKEND_HELP = "auto: TensorRT engines when the package has usable ones, else ONNX Runtime (GPU if available)."
PRECISION_HELP = (
    "OpenVINO's precision hint. bf16 / f16 run the convolutions and products in that type on a CPU that has "
    f"the units (bf16: {BF16_UNITS}; f16: AVX-512 FP16), else in f32, and the backend line says which; "
    "either chooses the OpenVINO backend. f32: the package's own precision, on any backend."
)
