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

from sean_core.lazy import lazy_dir, lazy_getattr

if TYPE_CHECKING:
    from sean_core.errors import (
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
    "SeanError": "sean_core.errors",
    "PackageError": "sean_core.errors",
    "InputError": "sean_core.errors",
    "BackendError": "sean_core.errors",
    "ImageReadError": "sean_core.errors",
    "DomainError": "sean_core.errors",
    "LabelError": "sean_core.errors",
    "DatasetError": "sean_core.errors",
    "NonFiniteError": "sean_core.errors",
    "FileWriteError": "sean_core.errors",
    "LockedError": "sean_core.errors",
    "NotFoundError": "sean_core.errors",
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
__dir__ = lazy_dir(globals(), _EXPORTS)
