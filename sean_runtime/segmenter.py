"""Segmenters: an ONNX model that labels a picture with the package's classes, so that a style image can
come without its label map (a photo). docs/plugins.md, "Segmenters", is the user's side of this module.

Which segmenter a package uses is decided here only (segmenter_choice), first match wins:
  1. the path given to Synthesizer.load(..., segmenter=PATH), which `--segmenter PATH` of `sean synth`
     and `sean serve` passes;
  2. the SEAN_SEGMENTER environment variable;
  3. the domain plugin's `segmenter` attribute (sean_core.domains.Domain).
None of them: no segmenter, and a style image without its label map is refused (no_segmenter).

The contract a segmenter model meets, checked when it loads (its declared interface, then one run on
a black image), so that a wrong model fails at load and not on a user's first picture:
  input   exactly one: float32 [B, 3, H, W], RGB in [-1, 1] (the encoder's `image` form), or
          uint8 [B, H, W, 3], RGB 0..255 (for a model that normalises inside its graph). B is 1 or
          dynamic (one image per run). Fixed H, W: the image is resized to them; dynamic H, W: to the
          package resolution (sean_core.imageio.resize_image both times).
  output  the first output: class ids of an integer type [B, H', W'], or float scores (logits or
          probabilities) [B, K, H', W'] with K the package's class count, argmax over K (ties: lower id).
  labels  resized to the package resolution with nearest neighbour (resize_labels); an id outside
          0..K-1 is an error.
Segmenters run with ONNX Runtime on the CPU, one image per run, one run at a time per segmenter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sean_core.domains import Domain
from sean_core.errors import BackendError, InputError
from sean_core.files import MISSING, path_argument, path_problem
from sean_core.imageio import resize_image, resize_labels
from sean_runtime.backends.onnxruntime import CPU, import_onnxruntime, session_options
from sean_runtime.inputs import image_tensor

SEGMENTER_ENV = "SEAN_SEGMENTER"
CONTRACT = (
    "a segmenter takes one input, float32 [B, 3, H, W] in [-1, 1] or uint8 [B, H, W, 3], and gives class ids "
    "[B, H, W] or scores [B, K, H, W] for the package's K classes (docs/plugins.md, \"Segmenters\")"
)
HOW_TO_CONFIGURE = (
    f"--segmenter PATH (sean synth, sean serve), Synthesizer.load(..., segmenter=PATH), the {SEGMENTER_ENV} "
    f"environment variable or the domain plugin's `segmenter` (docs/plugins.md, \"Segmenters\")"
)
_INTEGER_TYPES = {f"tensor({t})" for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}
_FLOAT_TYPES = {"tensor(float)", "tensor(double)", "tensor(float16)"}


@dataclass(frozen=True)
class SegmenterChoice:
    """The segmenter file a package uses, and where it was configured (for messages)."""

    file: Path
    origin: str


def segmenter_choice(explicit: str | os.PathLike[str] | None, domain: Domain) -> SegmenterChoice | None:
    """The rule of the module docstring: explicit path, else $SEAN_SEGMENTER, else the domain's; or None."""
    if explicit is not None:
        path = path_argument(explicit, "segmenter", BackendError)
        if os.fsdecode(os.fspath(explicit)):  # "" (b"" too) is none given, as an unset setting gives
            return SegmenterChoice(path, "--segmenter / segmenter=")
    from_env = os.environ.get(SEGMENTER_ENV)
    if from_env:
        return SegmenterChoice(Path(from_env), SEGMENTER_ENV)
    configured = getattr(domain, "segmenter", None)
    if configured:
        return SegmenterChoice(Path(configured), f"the {domain.name!r} domain plugin")
    return None


def no_segmenter(what: str) -> InputError:
    """The refusal for a style image without a label map where the package has no segmenter."""
    return InputError(
        f"{what} comes without its label map and this package has no segmenter: give the label map, or "
        f"configure a segmenter: {HOW_TO_CONFIGURE}"
    )


class Segmenter:
    """A loaded segmenter model: segment(rgb images) -> class ids at the package resolution."""

    def __init__(
        self,
        choice: SegmenterChoice,
        class_names: Sequence[str],
        resolution: tuple[int, int],
        threads: int | None = None,
    ) -> None:
        self.file = choice.file
        self.num_classes = len(class_names)
        self.resolution = resolution
        self._where = f"segmenter {choice.file} (from {choice.origin})"
        problem = path_problem(choice.file)
        if problem is not None:
            fix = "give the path of an ONNX file" if problem == MISSING else "give a readable ONNX file"
            raise BackendError(f"{self._where} {problem}; {fix}")
        ort = import_onnxruntime("the segmenter")
        try:
            self._session = ort.InferenceSession(
                str(choice.file), sess_options=session_options(ort, threads), providers=[CPU]
            )
        except Exception as exc:  # ONNX Runtime raises its own exception types for every load failure
            raise BackendError(f"{self._where}: ONNX Runtime cannot load it ({exc}); {CONTRACT}") from exc
        self._lock = threading.Lock()
        self._input, self._nhwc, self.size = self._check_input(self._session.get_inputs())
        self._output = self._check_output(self._session.get_outputs())
        probe = np.zeros((*self.size, 3), np.uint8)
        self._ids(self._run(probe))  # the contract, on what the model really gives

    # --- the contract ---------------------------------------------------------------------------------
    def _refuse(self, found: str) -> BackendError:
        return BackendError(f"{self._where}: {found}; {CONTRACT}")

    def _check_input(self, inputs: Sequence[Any]) -> tuple[str, bool, tuple[int, int]]:
        """-> (input name, uint8 NHWC?, (H, W) images are resized to)."""
        if len(inputs) != 1:
            raise self._refuse(f"it has {len(inputs)} inputs ({', '.join(i.name for i in inputs)})")
        spec = inputs[0]
        shape = list(spec.shape)
        nchw = spec.type == "tensor(float)" and len(shape) == 4 and shape[1] == 3
        nhwc = spec.type == "tensor(uint8)" and len(shape) == 4 and shape[3] == 3
        if not (nchw or nhwc) or (isinstance(shape[0], int) and shape[0] != 1):
            raise self._refuse(f"its input {spec.name!r} is {spec.type} {shape}")
        dims = shape[1:3] if nhwc else shape[2:4]
        size = tuple(d if isinstance(d, int) and d > 0 else r for d, r in zip(dims, self.resolution, strict=True))
        return spec.name, nhwc, (int(size[0]), int(size[1]))

    def _check_output(self, outputs: Sequence[Any]) -> str:
        """The declared form of the first output (dynamic dimensions are checked on the probe's result)."""
        spec = outputs[0]
        shape = list(spec.shape)
        ids = spec.type in _INTEGER_TYPES and len(shape) == 3
        scores = spec.type in _FLOAT_TYPES and len(shape) == 4
        if not (ids or scores):
            raise self._refuse(f"its output {spec.name!r} is {spec.type} {shape}")
        if scores and isinstance(shape[1], int) and shape[1] != self.num_classes:
            raise self._refuse(
                f"its output {spec.name!r} scores {shape[1]} classes, the package has {self.num_classes}"
            )
        return spec.name

    def _ids(self, output: np.ndarray) -> np.ndarray:
        """The model's output for one image -> class ids int32 [H', W'], by the contract."""
        if output.ndim == 4 and np.issubdtype(output.dtype, np.floating) and output.shape[0] == 1:
            if output.shape[1] != self.num_classes:
                raise self._refuse(f"it scored {output.shape[1]} classes, the package has {self.num_classes}")
            ids = output[0].argmax(axis=0)
        elif output.ndim == 3 and np.issubdtype(output.dtype, np.integer) and output.shape[0] == 1:
            ids = output[0]
        else:
            raise self._refuse(f"it gave {output.dtype} {list(output.shape)} for one image")
        if ids.size == 0:
            raise self._refuse(f"it gave an empty label map {list(output.shape)}")
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.num_classes:
            raise self._refuse(f"it gave class ids {low}..{high}, outside the package's 0..{self.num_classes - 1}")
        return ids.astype(np.int32)

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        """One image, uint8 RGB [H, W, 3] at self.size -> the model's first output."""
        tensor = rgb[None] if self._nhwc else image_tensor(rgb, *self.size)[None]
        try:
            with self._lock:
                return np.asarray(self._session.run([self._output], {self._input: tensor})[0])
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise BackendError(f"{self._where} failed to run: {exc}") from exc

    # --- use ----------------------------------------------------------------------------------------
    def segment(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 RGB [H, W, 3] images (any sizes) -> class ids int32 [B, height, width] at the package resolution."""
        labels = [
            resize_labels(self._ids(self._run(resize_image(rgb, *self.size))), *self.resolution) for rgb in images
        ]
        return np.stack(labels).astype(np.int32)

    def describe(self) -> str:
        return str(self.file)
