"""Export of SEAN checkpoints to validated ONNX packages, fp16 graphs and TensorRT engines.

`export_package` is imported on first use, so that `sean build-engine` (TensorRT, onnx) does not
load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sean_export.package import export_package

__all__ = ["export_package"]


def __getattr__(name: str) -> Any:
    if name == "export_package":
        from sean_export.package import export_package

        return export_package
    raise AttributeError(f"module 'sean_export' has no attribute {name!r}")
