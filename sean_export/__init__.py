"""Export of SEAN checkpoints to validated ONNX packages, fp16 graphs and TensorRT engines.

    from sean_export import export_package, build_engines
    export_package("runs/shapes", "packages/shapes")
    build_engines("packages/shapes")          # on a machine with an NVIDIA GPU and TensorRT

Names are imported on first use: `build_engines` (TensorRT, onnx) never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sean_core.lazy import lazy_dir, lazy_getattr

if TYPE_CHECKING:
    from sean_export.package import export_package
    from sean_export.tensorrt_build import build_engines

_EXPORTS = {"export_package": "sean_export.package", "build_engines": "sean_export.tensorrt_build"}

__all__ = [
    "build_engines",
    "export_package",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)
__dir__ = lazy_dir(globals(), _EXPORTS)
