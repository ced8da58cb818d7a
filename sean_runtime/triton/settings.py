"""How `sean export-triton` lays out a repository (RepositorySettings), and the rules its values follow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sean_core.errors import PackageError
from sean_runtime.backends import check_precision_hint
from sean_runtime.triton.interface import BACKENDS, DEFAULT_NAME


@dataclass(frozen=True)
class RepositorySettings:
    backend: str = "python"
    max_batch: int = 8
    instances: int = 1
    max_queue_delay_us: int = 2000
    name: str = DEFAULT_NAME
    plans_from: tuple[Path, ...] = ()  # tensorrt: packages with plans built on other GPUs (same graphs)
    precision: str = "f32"  # python: OpenVINO's precision hint; bf16 / f16 run the graphs on OpenVINO

    @property
    def graph_runtime(self) -> str:
        """What the python backend's graph models run the package with: ONNX Runtime, or OpenVINO for a
        reduced precision (the hint is OpenVINO's, as in sean_runtime.backends.select_backend)."""
        return "onnxruntime" if self.precision == "f32" else "openvino"


def valid_name(name: object) -> bool:
    """A model name Triton serves: ASCII letters, digits, '_' and '-', starting with a letter or digit (the
    Python backend stub cannot start a model of another name: UnicodeEncodeError); never a path."""
    return (isinstance(name, str) and name != "" and name[0] not in "-_"
            and all(c.isascii() and (c.isalnum() or c in "_-") for c in name))


def check_settings(settings: RepositorySettings) -> None:
    """Raise PackageError, naming the option to change, for settings no repository can be exported with."""
    if settings.backend not in BACKENDS:
        raise PackageError(f"unknown Triton backend {settings.backend!r}; choose one of {', '.join(BACKENDS)}")
    name = settings.name
    if not valid_name(name):
        raise PackageError(
            f"model name {name!r}: use ASCII letters, digits, '_' and '-', starting with a letter or digit"
        )
    check_precision_hint(settings.precision)
    if settings.precision != "f32" and settings.backend != "python":
        raise PackageError(
            f"precision {settings.precision} runs on the python backend (the SEAN runtime's OpenVINO); Triton's "
            f"{settings.backend} backend runs the package's own precision: export with --backend python"
        )
    if settings.max_batch < 1 or settings.instances < 1 or settings.max_queue_delay_us < 0:
        raise PackageError("--max-batch and --instances must be at least 1, --max-queue-delay-us at least 0")
