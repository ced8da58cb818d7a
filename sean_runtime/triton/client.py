"""TritonSynthesizer: Synthesizer's calls against a Triton server running a `sean export-triton` repository.

    synth = TritonSynthesizer("http://127.0.0.1:8000")     # or grpc://127.0.0.1:8001; same calls as Synthesizer
    styles = synth.encode("face.jpg", "face.png")
    image = synth.synthesize("face.png", styles.swap("hair", synth.encode("b.jpg", "b.png")), seed=0)[0]

KServe v2 through tritonclient, binary tensors over HTTP or gRPC. Inputs are read, validated and resized
here exactly as a local Synthesizer does (the package's domain and resolution come from the front
model's config, which carries the manifest; the precision the graphs compute in, from the generator
model's config), and the server draws the noise from the seed, so the same
package, inputs and seed give the same bytes as `sean synth`. Bad input raises InputError with the
server's message; an unreachable or failing server, BackendError. One client per thread.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError
from sean_core.install import missing_module_message
from sean_runtime.backends import batch_slices
from sean_runtime.inputs import (
    check_encode_extra,
    check_noise,
    check_pairs,
    check_seed,
    check_styles_count,
    labels_missing,
    load_images,
    load_labels,
    resolve_domain,
)
from sean_runtime.styles import DEFAULT_FALLBACK, Styles
from sean_runtime.triton.interface import DATATYPES, DEFAULT_NAME, MANIFEST_PARAMETER, ModelNames, graph_precision

Reference = Styles | tuple[Any, Any]  # styles, or (style image, its label map)

# tritonclient statuses of a request that reached no server (none: a connection refused, a reply that is not HTTP)
UNREACHED = ("", "None", "StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED")


def _tritonclient(protocol: str) -> Any:
    try:
        if protocol == "grpc":
            import tritonclient.grpc as client
        else:
            import tritonclient.http as client
    except ImportError as exc:
        raise BackendError(missing_module_message("tritonclient", "TritonSynthesizer", "triton")) from exc
    return client


def split_url(url: str) -> tuple[str, str]:
    """"http://host:port" or "grpc://host:port" -> (protocol, "host:port")."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "grpc") or not parts.hostname or parts.port is None:
        raise InputError(f"{url!r} is not a Triton URL such as http://127.0.0.1:8000 or grpc://127.0.0.1:8001")
    return parts.scheme, parts.netloc


class TritonSynthesizer:
    def __init__(self, url: str, model: str = DEFAULT_NAME, timeout: float = 60.0) -> None:
        """url: http://HOST:PORT (HTTP) or grpc://HOST:PORT; model: the NAME the repository was exported under."""
        self.url = url.rstrip("/")
        self.protocol, address = split_url(url)
        self._client_module = _tritonclient(self.protocol)
        self.names = ModelNames.of(model)
        self.notes: list[str] = []
        self._client = None
        try:
            if self.protocol == "grpc":
                self._client = self._client_module.InferenceServerClient(address)
            else:
                self._client = self._client_module.InferenceServerClient(
                    address, connection_timeout=timeout, network_timeout=timeout)
            config = self._model_config(model)
        except Exception as exc:
            # the server answered (it has no such model): ask it what it has; an unreachable one is not asked again
            answered = str(exc.status()) if hasattr(exc, "status") and callable(exc.status) else ""
            served = self._served_models() if answered in ("400", "404", "StatusCode.NOT_FOUND",
                                                           "StatusCode.INVALID_ARGUMENT") else None
            self.close()  # a client that failed here is never used: its channel (and gRPC's threads) goes now
            if served is not None and model not in served:  # the server runs, with other models
                raise BackendError(
                    f"{self.url} serves no model {model!r} (its models: {', '.join(served) or 'none'}): give the NAME "
                    f"the repository was exported under (model=NAME, `sean synth --triton-model NAME`)"
                ) from exc
            raise self._failure(exc, f"reading the config of model {model!r}") from exc
        self.max_batch = int(config.get("max_batch_size") or 1)
        try:
            self.manifest = json.loads(config["parameters"][MANIFEST_PARAMETER]["string_value"])
        except (KeyError, TypeError, ValueError) as exc:
            self.close()
            raise BackendError(f"model {model!r} at {url} is not the front model of a `sean export-triton` "
                               f"repository (no {MANIFEST_PARAMETER} parameter)") from exc
        m = self.manifest
        try:
            generator = self._model_config(self.names.generator)
        except Exception as exc:
            self.close()
            raise self._failure(exc, f"reading the config of model {self.names.generator}") from exc
        parameters = {key: value.get("string_value", "") for key, value in (generator.get("parameters") or {}).items()}
        self.computes = graph_precision(parameters, m["precision"])  # what the served graphs compute in
        self.domain = resolve_domain(m.get("domain") or "", m["class_names"], m.get("palette"))
        self._empty = Styles(np.zeros((1, len(m["class_names"]), m["style_dim"]), np.float32),
                             np.zeros((1, len(m["class_names"])), bool), m["class_names"])

    # --- facts ------------------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["class_names"])

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.manifest["height"]), int(self.manifest["width"])

    def info(self) -> dict[str, Any]:
        """As Synthesizer.info: precision is the package's, computes what the served graphs compute in."""
        m = self.manifest
        return {"url": self.url, "protocol": self.protocol, "model": self.names.front, "domain": m.get("domain"),
                "classes": list(self.class_names), "resolution": list(self.resolution),
                "precision": m["precision"], "computes": self.computes, "max_batch": self.max_batch}

    def describe(self) -> str:
        h, w = self.resolution
        package = "" if self.computes == self.manifest["precision"] else f" (package {self.manifest['precision']})"
        return (f"Triton {self.url} model {self.names.front} [{self.manifest.get('domain') or 'no domain'}, {w}x{h}, "
                f"{len(self.class_names)} classes, {self.computes}{package}]")

    # --- inputs, as Synthesizer reads them ----------------------------------------------------------
    def read_labels(self, labels: Any) -> np.ndarray:
        """Label files / arrays -> validated class ids int32 [B, H, W] at the package resolution."""
        return load_labels(labels, self.domain, *self.resolution)[0]

    def _style_inputs(self, image: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
        if labels_missing(label):
            raise InputError(
                "a style image comes without its label map, and a Triton repository has no segmenter: give the "
                "label map, or label photos with a local package or `sean serve` that has one (--segmenter)"
            )
        images, image_sizes, stored_sizes = load_images(image, *self.resolution)
        labels, label_sizes = load_labels(label, self.domain, *self.resolution)
        check_pairs(image, image_sizes, label, label_sizes, self.domain.labels_may_be_scaled, stored_sizes)
        return images, labels

    def _uint8_inputs(self, image: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
        """Style images as uint8 [B, H, W, 3] at the package resolution (the front model's form) and their ids."""
        images, labels = self._style_inputs(image, label)
        # load_images maps uint8 v to v / 127.5 - 1 exactly; this inverts it exactly.
        return np.rint((images + 1.0) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1), labels

    # --- the operations -----------------------------------------------------------------------------
    def encode(self, image: Any, label: Any = None, extra: Any = None) -> Styles:
        """Style images and their label maps -> Styles [B, K, S] (the encoder model, one image per row). A
        label map is needed (a Triton repository has no segmenter); extra is refused, as Synthesizer does."""
        check_encode_extra(extra)
        images, labels = self._style_inputs(image, label)
        codes, area = [], []
        for part in batch_slices(len(labels), self.max_batch):
            out = self.infer(self.names.encoder, {"image": images[part], "labels": labels[part]}, ["codes", "area"])
            codes.append(out["codes"])
            area.append(out["area"])
        return Styles(np.concatenate(codes), np.concatenate(area) > 0, self.class_names)

    def synthesize(
        self, label: Any, styles: Styles, seed: int = 0, noise: bool = True, extra: Any = None
    ) -> np.ndarray:
        """Label maps + styles (batch 1 for all, or one per label map) -> uint8 RGB [B, H, W, 3]; image i uses
        seed + i, as Synthesizer.synthesize does."""
        labels = self.read_labels(label)
        check_styles_count(styles, len(labels))
        seed = check_seed(seed, len(labels))
        extras = self._extras(extra, len(labels))
        images = []
        for i in range(len(labels)):
            image, _ = self.request(labels[i], styles[0 if styles.batch_size == 1 else i], seed=seed + i, noise=noise,
                                    extra=None if extras is None else extras[i])
            images.append(image)
        return np.stack(images)

    def request(
        self,
        label: Any,
        style: Reference,
        swaps: Sequence[tuple[Any, Reference]] = (),
        interpolate: Sequence[tuple[float, Reference, Any]] = (),
        fallback: str = DEFAULT_FALLBACK,
        seed: int = 0,
        noise: bool = True,
        extra: Any = None,
    ) -> tuple[np.ndarray, Styles]:
        """One synthesize request, edits done by the server: -> (uint8 [H, W, 3], the edited Styles of batch 1).

        style: Styles of one image, or (style image, its label map); swaps: (classes, reference) pairs;
        interpolate: (alpha, reference, classes or None for all) triples. References of one kind each.
        """
        inputs: dict[str, np.ndarray] = {"label": self.read_labels(label)[:1]}
        inputs.update(self._source("style_", "styles", "present", style))
        if swaps:
            inputs["swap_classes"] = np.stack([self._marks(c) for c, _ in swaps])[None]
            inputs.update(self._rows("swap_", [ref for _, ref in swaps]))
        if interpolate:
            inputs["interpolate_alpha"] = np.array([[a for a, _, _ in interpolate]], np.float32)
            if any(c is not None for _, _, c in interpolate):
                inputs["interpolate_classes"] = np.stack(
                    [self._marks(c) if c is not None else np.ones(len(self.class_names), bool)
                     for _, _, c in interpolate])[None]
            inputs.update(self._rows("interpolate_", [ref for _, ref, _ in interpolate]))
        inputs["fallback"] = np.array([[fallback.encode()]], dtype=object)
        inputs["seed"] = np.array([[check_seed(seed, 1)]], np.int64)
        inputs["noise"] = np.array([[check_noise(noise)]], bool)
        if extra is not None:
            inputs["extra"] = np.asarray(extra, np.float32)[None]
        out = self.infer(self.names.front, inputs, ["image", "styles", "present"])
        return out["image"][0], Styles(out["styles"], out["present"], self.class_names)

    def _marks(self, classes: Any) -> np.ndarray:
        marks = np.zeros(len(self.class_names), bool)
        marks[self._empty.class_ids(classes)] = True
        return marks

    def _source(self, prefix: str, styles_name: str, present_name: str, reference: Reference) -> dict:
        """One reference as request tensors of batch 1: PREFIXimage and PREFIXlabel, or the styles."""
        if isinstance(reference, Styles):
            if reference.class_names != self.class_names or reference.batch_size != 1:
                raise InputError("styles must be of one image, encoded with this package")
            return {styles_name: reference.codes, present_name: reference.present}
        image, label = reference
        images, labels = self._uint8_inputs(image, label)
        return {f"{prefix}image": images[:1], f"{prefix}label": labels[:1]}

    def _rows(self, prefix: str, references: list[Reference]) -> dict[str, np.ndarray]:
        parts = [self._source(prefix, f"{prefix}styles", f"{prefix}present", ref) for ref in references]
        if len({tuple(p) for p in parts}) != 1:
            raise InputError(f"the references of {prefix.rstrip('_')} must all be styles or all be images")
        return {name: np.concatenate([p[name] for p in parts])[None] for name in parts[0]}

    def _extras(self, extra: Any, count: int) -> np.ndarray | None:
        channels = int(self.manifest.get("extra_mask_channels") or 0)
        if not channels:
            if extra is not None:
                raise InputError("this package takes no extra mask channels")
            return None
        from sean_runtime.inputs import load_extra

        return load_extra(extra, count, channels, *self.resolution)

    def _model_config(self, model: str) -> dict[str, Any]:
        """A model's configuration as JSON (the parameters as {key: {"string_value": text}}), either protocol."""
        if self.protocol == "grpc":
            return self._client.get_model_config(model, as_json=True)["config"]
        return self._client.get_model_config(model)

    def _served_models(self) -> list[str] | None:
        """The names of the server's models, None where it cannot say (not reachable)."""
        try:
            index = self._client.get_model_repository_index(**({"as_json": True} if self.protocol == "grpc" else {}))
        except Exception:
            return None
        entries = index.get("models", []) if isinstance(index, dict) else index
        return sorted(str(entry.get("name")) for entry in entries if isinstance(entry, dict))

    # --- KServe v2 ----------------------------------------------------------------------------------
    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        """One inference of any model of the repository: named arrays (with their batch axis) in and out."""
        client = self._client_module
        tensors = []
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            kind = "bytes" if array.dtype == object else array.dtype.name
            if kind not in DATATYPES:
                raise InputError(f"input {name!r} is {kind}; give one of {', '.join(sorted(DATATYPES))}")
            datatype = DATATYPES[kind]
            tensor = client.InferInput(name, list(array.shape), datatype)
            if self.protocol == "http":
                tensor.set_data_from_numpy(array, binary_data=True)
            else:
                tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        requested = [client.InferRequestedOutput(n, binary_data=True) if self.protocol == "http"
                     else client.InferRequestedOutput(n) for n in outputs]
        try:
            result = self._client.infer(model, tensors, outputs=requested)
        except Exception as exc:
            raise self._failure(exc, f"model {model}") from exc
        return {name: result.as_numpy(name) for name in outputs}

    def _failure(self, exc: Exception, what: str) -> Exception:
        """tritonclient's exception -> InputError for a refused request, BackendError otherwise."""
        message = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
        status = str(exc.status()) if hasattr(exc, "status") and callable(exc.status) else ""
        message = " ".join(str(message).split())
        if status in ("400", "StatusCode.INVALID_ARGUMENT"):
            return InputError(f"{what}: {message}")
        if status not in UNREACHED:  # the server answered: asking whether it runs would mislead
            return BackendError(f"{self.url}: {what} failed on the server ({status}): {message}")
        return BackendError(f"{self.url}: {what} failed: {message or exc!r}; is `sean triton` running there?")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> TritonSynthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
