"""The Python-backend models of a SEAN Triton repository (each model.py there imports its class from here).

This module runs inside Triton's Python backend stub, whose module `triton_python_backend_utils`
exists only there; nothing else imports it. Every answer tensor is C-contiguous (np.ascontiguousarray):
the stub copies tensors as flat memory. A request that cannot be served gets a TritonError with the
runtime's one-line message, and the other requests of the same execution are answered as usual.

  GraphModel       NAME_encoder / NAME_generator on the CPU: the package through the SEAN runtime
                   (ONNX Runtime or OpenVINO). The encoder runs one image at a time, so a code never
                   depends on what else Triton batched with it (the generator's output does not anyway).
  NoiseModel       NAME_noise: the package's noise rule from each request's seed.
  SynthesizeModel  NAME: the tensor form of a synthesize request (sean_runtime.triton.interface); a
                   Synthesizer whose backend is the two graph models, called through BLS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from sean_core.domains.base import check_class_ids
from sean_core.errors import BackendError, InputError, SeanError
from sean_core.format import graph_spec
from sean_core.noise import draw_noise_each
from sean_runtime.backends import select_backend
from sean_runtime.backends.feeds import encoder_feeds, generator_feeds
from sean_runtime.package import Package, load_package
from sean_runtime.serve.runtime import is_bad_input
from sean_runtime.styles import DEFAULT_FALLBACK, Styles
from sean_runtime.synthesizer import Synthesizer
from sean_runtime.triton.interface import (
    FALLBACKS,
    GRAPH_PARAMETER,
    MODELS_PARAMETER,
    PACKAGE_PARAMETER,
    THREADS_PARAMETER,
    graph_runtime,
)

INTERNAL = "internal error in the SEAN model: the server log has the traceback"


def _parameters(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    config = json.loads(args["model_config"])
    return config, {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


def _package(args: dict[str, Any], parameters: dict[str, str], graphs: tuple[str, ...] = ()) -> Package:
    """The package the repository holds (its path is relative to the repository root), with the files of
    `graphs`: the front and noise models run no graph, and a repository for Triton's own backends keeps
    only the manifest there (the graphs lie in their models' folders)."""
    repository = Path(args["model_repository"]).parent
    return load_package(repository / parameters[PACKAGE_PARAMETER], verify=False, graphs=graphs)


def _error(exc: BaseException) -> Any:
    """A failed request's response: the one-line message of a SeanError (bad input: INVALID_ARG, which
    clients see as HTTP 400), else a logged internal error."""
    if isinstance(exc, SeanError):
        message = " ".join(str(exc).split())
        invalid = getattr(pb_utils.TritonError, "INVALID_ARG", None)
        if is_bad_input(exc) and invalid is not None:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, invalid))
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
    pb_utils.Logger.log_error(f"SEAN model failed: {exc!r}")
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{INTERNAL} ({type(exc).__name__})"))


def _input(request: Any, name: str) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def _response(outputs: dict[str, np.ndarray]) -> Any:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(array)) for name, array in outputs.items()]
    )


class GraphModel:
    """One graph of the package on the CPU, through the SEAN runtime's backend."""

    def initialize(self, args: dict[str, Any]) -> None:
        _, parameters = _parameters(args)
        self.graph = parameters[GRAPH_PARAMETER]
        package = _package(args, parameters, graphs=(self.graph,))
        threads = parameters.get(THREADS_PARAMETER) or None
        self.spec = graph_spec(package.shape, self.graph)
        runtime, precision = graph_runtime(parameters)
        # This model runs one graph: the other one (the generator is the large one) is not loaded.
        self.backend = select_backend(package, runtime, threads=int(threads) if threads else None,
                                      graphs=(self.graph,), precision_hint=precision).backend
        # Clients report what `sean triton` found this CPU computes the hint in (interface.graph_precision), or
        # the hint where tritonserver serves the repository as it is: the log says where the CPU differs.
        for note in getattr(self.backend, "notes", []):
            pb_utils.Logger.log_warn(f"{args['model_name']}: {note}")
        self.num_classes, self.domain = package.num_classes, package.domain

    def execute(self, requests: list[Any]) -> list[Any]:
        if self.graph == "encoder":
            return [self._encode(request) for request in requests]
        return self._generate(requests)

    def _check(self, feed: dict[str, np.ndarray | None]) -> None:
        """What the graph would turn into a plausible wrong answer: class ids outside the classes (a one-hot of
        zeros: zero codes, an image of no class) and values that are not finite."""
        check_class_ids(feed["labels"], self.num_classes, "labels", self.domain)
        for name, array in feed.items():
            if array is not None and array.dtype.kind == "f" and not np.isfinite(array).all():
                raise InputError(f"{name} holds NaN or infinite values")

    def _encode(self, request: Any) -> Any:
        try:
            feed = {name: _input(request, name) for name in self.spec.input_names}
            self._check(feed)
            image, labels = (feed[name] for name in self.spec.input_names)
            parts = [self.backend.encode(image[i : i + 1], labels[i : i + 1]) for i in range(len(labels))]
            return _response({"codes": np.concatenate([c for c, _ in parts]),
                              "area": np.concatenate([a for _, a in parts])})
        except Exception as exc:
            return _error(exc)

    def _generate(self, requests: list[Any]) -> list[Any]:
        """One backend call for every request of the execution (the generator's output for one image
        does not depend on its batch); if it fails, each request alone, so only a bad one fails."""
        feeds = [{name: _input(r, name) for name in self.spec.input_names} for r in requests]
        try:
            for feed in feeds:
                self._check(feed)
            joined = {name: np.concatenate([f[name] for f in feeds]) for name in self.spec.input_names}
            images = self._run(joined)
        except Exception as exc:
            if len(requests) == 1:
                return [_error(exc)]
            return [self._one(f) for f in feeds]
        sizes = np.cumsum([len(f["labels"]) for f in feeds])[:-1]
        return [_response({"image": part}) for part in np.split(images, sizes)]

    def _one(self, feed: dict[str, np.ndarray]) -> Any:
        try:
            self._check(feed)
            return _response({"image": self._run(feed)})
        except Exception as exc:
            return _error(exc)

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.backend.generate(feed["labels"], feed["codes"], feed["noise"], feed.get("extra"))

    def finalize(self) -> None:
        self.backend.close()


class NoiseModel:
    """seed int64 [B, 1], enabled bool [B, 1] -> noise float32 [B, N] by the package's rule."""

    def initialize(self, args: dict[str, Any]) -> None:
        _, parameters = _parameters(args)
        package = _package(args, parameters)
        self.numel = package.noise_numel
        self.format_version = package.manifest["format_version"]

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                seeds = [int(s) for s in _input(request, "seed").reshape(-1)]
                enabled = [bool(e) for e in _input(request, "enabled").reshape(-1)]
                responses.append(_response({"noise": draw_noise_each(self.numel, seeds, enabled, self.format_version)}))
            except Exception as exc:
                responses.append(_error(exc))
        return responses


class ModelsBackend:
    """A runtime backend (sean_runtime.backends.Backend) whose graphs are other models of the server."""

    name = "triton"

    def __init__(self, encoder: str, generator: str, max_batch: int) -> None:
        self.encoder, self.generator = encoder, generator
        self.device = f"Triton models {encoder}, {generator}"
        self.max_batch = max_batch

    def _infer(self, model: str, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        request = pb_utils.InferenceRequest(
            model_name=model,
            requested_output_names=outputs,
            inputs=[pb_utils.Tensor(name, np.ascontiguousarray(array)) for name, array in feeds.items()],
        )
        response = request.exec()
        if response.has_error():
            raise BackendError(f"model {model} failed: {response.error().message()}")
        return [pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in outputs]

    def encode(self, image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, area = self._infer(self.encoder, encoder_feeds(image, labels), ["codes", "area"])
        return codes, area

    def generate(
        self, labels: np.ndarray, codes: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray:
        return self._infer(self.generator, generator_feeds(labels, codes, noise, extra), ["image"])[0]

    def encode_generate(
        self, image: np.ndarray, labels: np.ndarray, noise: np.ndarray, extra: np.ndarray | None
    ) -> np.ndarray:
        codes, _ = self.encode(image, labels)
        return self.generate(labels, codes, noise, extra)

    def close(self) -> None:
        pass


class SynthesizeModel:
    """The model clients call: one synthesize request (batch 1) per Triton request."""

    def initialize(self, args: dict[str, Any]) -> None:
        config, parameters = _parameters(args)
        models = json.loads(parameters[MODELS_PARAMETER])
        backend = ModelsBackend(models["encoder"], models["generator"], int(config["max_batch_size"]))
        self.synth = Synthesizer(_package(args, parameters), backend)
        # Triton checks that every required input is there only for a model without optional inputs: here the
        # request without `label` reached _prepare and failed as an internal error.
        self.name = args["model_name"]
        self.required = [tensor["name"] for tensor in config["input"] if not tensor.get("optional")]

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        ready = []  # (index, labels [1, H, W], edited styles, seed, noise, extra)
        for index, request in enumerate(requests):
            try:
                ready.append((index, *self._prepare(request)))
            except Exception as exc:
                responses[index] = _error(exc)
        if ready:
            try:
                images = self._render(ready)
            except Exception:
                images = None
            for j, (index, _, styles, *_rest) in enumerate(ready):
                try:
                    image = images[j : j + 1] if images is not None else self._render([ready[j]])
                    responses[index] = _response({"image": image, "styles": styles.codes, "present": styles.present})
                except Exception as exc:
                    responses[index] = _error(exc)
        return responses

    def _render(self, ready: list[tuple]) -> np.ndarray:
        """One generator pass over the requests: image i with its own seed and noise flag."""
        extras = [item[5] for item in ready]
        return self.synth.synthesize_each(
            np.concatenate([item[1] for item in ready]),
            Styles.concat([item[2] for item in ready]),
            [item[3] for item in ready],
            [item[4] for item in ready],
            None if extras[0] is None else np.concatenate(extras),
        )

    # --- one request ---------------------------------------------------------------------------------
    def _prepare(self, request: Any) -> tuple[np.ndarray, Styles, int, bool, np.ndarray | None]:
        missing = [name for name in self.required if pb_utils.get_input_tensor_by_name(request, name) is None]
        if missing:
            raise InputError(
                f"missing required input(s) {missing} for model '{self.name}': send every input its config.pbtxt "
                f"does not mark optional"
            )
        label = _input(request, "label")
        if label.shape[0] != 1:
            raise InputError(f"send one image per request (batch 1), got {label.shape[0]}; Triton batches requests")
        labels = self.synth.read_labels(label)
        base = self._source(request, "style_", "styles", "present", labels)
        if base is None:
            raise InputError("styles are missing: give style_image (with style_label), or styles and present")
        fallback = self._fallback(request)
        edited = base
        for j, (classes, other) in enumerate(self._rows(request, "swap_", labels)):
            if classes is None:
                raise InputError(f"swap {j}: swap_classes is missing (a row of {len(self.synth.class_names)} flags)")
            edited = edited.swap(classes, other, fallback=fallback)
        alphas = _input(request, "interpolate_alpha")
        rows = self._rows(request, "interpolate_", labels)
        if (alphas is None) != (not rows) or (alphas is not None and alphas.shape[1] != len(rows)):
            raise InputError("interpolate_alpha needs one weight per interpolation reference, and one reference each")
        for j, (classes, other) in enumerate(rows):
            alpha = float(alphas[0, j])
            if not 0.0 <= alpha <= 1.0:
                raise InputError(f"interpolate_alpha[{j}] must be a number in [0, 1], got {alpha}")
            edited = edited.interpolate(other, alpha, classes, fallback=fallback)
        seed = _input(request, "seed")
        noise = _input(request, "noise")
        extra = _input(request, "extra")
        return (labels, edited, 0 if seed is None else int(seed.reshape(-1)[0]),
                True if noise is None else bool(noise.reshape(-1)[0]), extra)

    def _fallback(self, request: Any) -> str:
        value = _input(request, "fallback")
        if value is None:
            return DEFAULT_FALLBACK
        item = value.reshape(-1)[0]
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        if text not in FALLBACKS:
            raise InputError(f"fallback must be one of {', '.join(FALLBACKS)}, got {text!r:.40}")
        return text

    def _styles(self, codes: np.ndarray, present: np.ndarray | None, where: str) -> Styles:
        if present is None:
            raise InputError(f"{where}: style codes need their presence flags too")
        return Styles(codes, present.astype(bool), self.synth.class_names)

    def _source(self, request: Any, prefix: str, styles_name: str, present_name: str,
                own_labels: np.ndarray) -> Styles | None:
        """The base styles: encoded from style_image (under style_label, else the request's label), or given."""
        image, label = _input(request, f"{prefix}image"), _input(request, f"{prefix}label")
        codes, present = _input(request, styles_name), _input(request, present_name)
        if image is not None and codes is not None:
            raise InputError(f"give {prefix}image or {styles_name}, not both")
        if label is not None and image is None:  # it would be ignored
            raise InputError(f"{prefix}label goes with {prefix}image (the label map it is encoded under)")
        if image is not None:
            return self.synth.encode(image, own_labels if label is None else label)
        if codes is not None:
            return self._styles(codes, present, styles_name)
        return None

    def _rows(self, request: Any, prefix: str, own_labels: np.ndarray) -> list[tuple[list[int] | None, Styles]]:
        """The references of the swaps (or interpolations): (marked classes or None, styles) per row."""
        images, labels = _input(request, f"{prefix}image"), _input(request, f"{prefix}label")
        codes, present = _input(request, f"{prefix}styles"), _input(request, f"{prefix}present")
        marks = _input(request, f"{prefix}classes")
        if images is not None and codes is not None:
            raise InputError(f"give {prefix}image (with {prefix}label) or {prefix}styles, not both")
        if labels is not None and images is None:  # they would be ignored
            raise InputError(f"{prefix}label goes with {prefix}image")
        if present is not None and codes is None:
            raise InputError(f"{prefix}present goes with {prefix}styles")
        if images is not None:
            if labels is None or labels.shape[1] != images.shape[1]:
                raise InputError(f"{prefix}image needs a {prefix}label row per image")
            references = [self.synth.encode(images[0, j : j + 1], labels[0, j : j + 1]) for j in range(images.shape[1])]
        elif codes is not None:
            if present is not None and present.shape[1] != codes.shape[1]:
                raise InputError(
                    f"{prefix}present has {present.shape[1]} row(s) for {codes.shape[1]} {prefix}styles row(s)"
                )
            references = [self._styles(codes[0, j : j + 1], None if present is None else present[0, j : j + 1],
                                       f"{prefix}styles") for j in range(codes.shape[1])]
        else:
            references = []
        if marks is not None and marks.shape[1] != len(references):
            raise InputError(f"{prefix}classes has {marks.shape[1]} row(s) for {len(references)} reference(s)")
        rows = []
        for j, other in enumerate(references):
            classes = None if marks is None else np.nonzero(marks[0, j])[0].tolist()
            if classes is not None and not classes:
                raise InputError(f"{prefix}classes row {j} marks no class")
            rows.append((classes, other))
        return rows
