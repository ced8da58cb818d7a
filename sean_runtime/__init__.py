"""The light SEAN runtime: numpy + ONNX Runtime / TensorRT / OpenVINO. Never imports torch.

    from sean_runtime import Synthesizer
    with Synthesizer.load("packages/shapes") as synth:
        styles = synth.encode(image, label)
        images = synth.synthesize(label, styles, seed=0)

The public names below are imported on first use, so `import sean_runtime` (and the `sean` command
line) stays fast and loads no inference library until one is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sean_runtime.lazy import lazy_getattr

if TYPE_CHECKING:
    from sean_runtime.errors import (
        BackendError,
        DatasetError,
        DomainError,
        FileWriteError,
        ImageReadError,
        InputError,
        LabelError,
        LockedError,
        NonFiniteError,
        NotFoundError,
        PackageError,
        SeanError,
    )
    from sean_runtime.package import Package, load_package
    from sean_runtime.styles import Styles, mean_styles
    from sean_runtime.synthesizer import Synthesizer

# public name -> module that defines it
_EXPORTS = {
    "Synthesizer": "sean_runtime.synthesizer",
    "Styles": "sean_runtime.styles",
    "mean_styles": "sean_runtime.styles",
    "Package": "sean_runtime.package",
    "load_package": "sean_runtime.package",
    "SeanError": "sean_runtime.errors",
    "PackageError": "sean_runtime.errors",
    "InputError": "sean_runtime.errors",
    "BackendError": "sean_runtime.errors",
    "ImageReadError": "sean_runtime.errors",
    "DomainError": "sean_runtime.errors",
    "LabelError": "sean_runtime.errors",
    "DatasetError": "sean_runtime.errors",
    "NonFiniteError": "sean_runtime.errors",
    "FileWriteError": "sean_runtime.errors",
    "LockedError": "sean_runtime.errors",
    "NotFoundError": "sean_runtime.errors",
}

__all__ = [
    "BackendError",
    "DatasetError",
    "DomainError",
    "FileWriteError",
    "ImageReadError",
    "InputError",
    "LabelError",
    "LockedError",
    "NonFiniteError",
    "NotFoundError",
    "Package",
    "PackageError",
    "SeanError",
    "Styles",
    "Synthesizer",
    "load_package",
    "mean_styles",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)
