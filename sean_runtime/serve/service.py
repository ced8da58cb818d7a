"""What each route does, apart from HTTP: decode, validate, queue, edit styles, encode the answer.

Parsing the JSON body (app.py), decoding and PNG encoding run in the default thread pool, inference on
the queue's worker thread, so the event loop only moves bytes and futures. A style image sent without its label map is
labelled by the package's segmenter while it is decoded (sean_runtime.segmenter: one run at a time).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sean_core.imageio import resize_image
from sean_core.install import installed_version
from sean_runtime.inputs import ManifestDomain, check_pairs
from sean_runtime.segmenter import no_segmenter
from sean_runtime.serve.batching import InferenceQueue
from sean_runtime.serve.codec import decode_image, decode_label, encode_png
from sean_runtime.serve.runtime import InputError, SeanError, Styles, Synthesizer, is_bad_input
from sean_runtime.serve.schema import StyleSource, SynthesizeRequest, parse_encode, parse_synthesize


def extra_channels_refusal(extra_channels: int) -> str:
    """Why /v1/synthesize answers 400 for a package with extra mask channels (openapi.py publishes it)."""
    return (f"this package takes {extra_channels} extra mask channel(s) (e.g. instance edges), which the HTTP API "
            f"does not carry yet; use the Python Synthesizer for it")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 2**20
    max_pixels: int = 4096 * 4096  # of each decoded image or label map
    max_queue: int = 64  # jobs waiting for the inference thread
    timeout_s: float = 30.0  # per request, from its arrival to its answer
    header_timeout_s: float = 10.0  # from a request's first bytes to the end of its headers (408 past it)
    max_connections: int = 1000  # open at once; one more is answered 503 and closed


@contextmanager
def named(field: str) -> Iterator[None]:
    """Bad-input errors raised inside name the request field they are about."""
    try:
        yield
    except SeanError as exc:
        if not is_bad_input(exc):
            raise
        message = str(exc)
        if message.startswith(field):
            raise
        raise InputError(f"{field}: {message}") from exc


def load_samples(synth: Synthesizer, root: Path, split: str, limit: int) -> list[dict[str, str]]:
    """Sample pairs of a dataset in the domain's layout, at the package resolution, as base64 PNGs."""
    if isinstance(synth.domain, ManifestDomain):
        raise InputError(f"--samples needs the plugin of domain {synth.package.domain!r}, which is not installed")
    samples = []
    for pair in synth.domain.list_pairs(root, split)[:limit]:
        image, labels, _ = synth.domain.load_pair(pair, size=synth.resolution)
        samples.append({"name": pair.image.stem, "image": encode_png(image), "label": encode_png(labels)})
    return samples


class Service:
    def __init__(
        self, synth: Synthesizer, queue: InferenceQueue, limits: Limits, samples: list[dict[str, str]]
    ) -> None:
        self.synth = synth
        self.queue = queue
        self.limits = limits
        self._samples = samples

    def info(self) -> dict[str, Any]:
        package, domain = self.synth.package, self.synth.domain
        height, width = self.synth.resolution
        return {
            "domain": package.domain,
            "domain_plugin": not isinstance(domain, ManifestDomain),
            "class_names": list(self.synth.class_names),
            "palette": [list(c) for c in domain.palette] or None,
            "resolution": {"height": height, "width": width},
            "style_dim": package.style_dim,
            "extra_channels": package.extra_channels,
            "backend": self.synth.backend.name,
            "device": self.synth.backend.device,
            "precision": package.precision,
            "computes": self.synth.computes,
            "segmenter": self.synth.segmenter is not None,
            "labels_may_be_scaled": domain.labels_may_be_scaled,
            "max_batch": self.queue.max_batch,
            "workers": self.queue.workers,
            "limits": {
                "max_body_bytes": self.limits.max_body_bytes,
                "max_image_pixels": self.limits.max_pixels,
                "max_queue": self.limits.max_queue,
                "timeout_s": self.limits.timeout_s,
            },
            "samples": len(self._samples),
            "version": installed_version(),
        }

    def samples(self) -> dict[str, Any]:
        return {"samples": self._samples}

    def _check_no_extra_channels(self) -> None:
        if self.synth.package.extra_channels:
            raise InputError(extra_channels_refusal(self.synth.package.extra_channels))

    # --- /v1/encode ---------------------------------------------------------------------------------
    async def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        request = parse_encode(data)  # the encoder pools the K classes only: extra channels never reach it
        source = StyleSource("styles", "image", "label", image=request.image, label=request.label)
        image, label = await asyncio.to_thread(self._decode_pair, source, None)
        styles = await self._encode(source, image, label)
        answer = {"styles": styles.to_json(), "ms": _ms(start)}
        if request.label is None:  # the segmenter's label map, which the client did not have
            answer["label"] = await asyncio.to_thread(encode_png, label)
        return answer

    # --- /v1/synthesize -----------------------------------------------------------------------------
    async def synthesize(self, data: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        request = parse_synthesize(data)
        self._check_no_extra_channels()
        # The style images are encoded at once (one job each); refused up front if they cannot all queue.
        encodes = sum(source.styles is None for source in request.sources())
        self.queue.check_fits(encodes, "encoder jobs (one per style image)")
        with self.queue.ticket() as ticket:
            drawn, references = await asyncio.to_thread(self._decode_synthesize, request)
            styles = await self._edited_styles(request, references)
            image = await ticket.generate(drawn, styles, request.seed, request.noise)
        answer = {
            "image": await asyncio.to_thread(encode_png, image),
            "seed": request.seed,
            "backend": self.synth.backend.name,
            "ms": _ms(start),
        }
        if request.return_styles:
            answer["styles"] = styles.to_json()
        return answer

    def _decode_synthesize(self, request: SynthesizeRequest) -> tuple[np.ndarray, list[Any]]:
        """In a worker thread: (label ids [H, W] at the package resolution, each style source decoded)."""
        label = decode_label(request.label, "label", self.limits.max_pixels, self.synth.domain)
        drawn = self.synth.read_labels(label)[0]
        return drawn, [self._decode_source(s, label if s.own_label else None) for s in request.sources()]

    def _decode_source(self, source: StyleSource, own_label: np.ndarray) -> Styles | tuple[np.ndarray, np.ndarray]:
        if source.styles is not None:
            with named(source.styles_field):
                return Styles.from_json(source.styles, self.synth.class_names, self.synth.package.style_dim)
        return self._decode_pair(source, own_label)

    def _decode_pair(self, source: StyleSource, own_label: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        picture = decode_image(source.image, source.image_field, self.limits.max_pixels)
        if source.label is not None:
            label = decode_label(source.label, source.label_field, self.limits.max_pixels, self.synth.domain)
        elif source.own_label:
            label = own_label
        else:
            return self._segmented(source, picture.rgb)
        with named(f"{source.image_field} / {source.label_field}"):  # here, where the file's stored size is known
            check_pairs(None, [picture.rgb.shape[:2]], None, [label.shape[:2]],
                        self.synth.domain.labels_may_be_scaled, [picture.stored])
        return picture.rgb, label

    def _segmented(self, source: StyleSource, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An image sent without its label map -> (image, the segmenter's ids), both at the package resolution:
        the encoder gets exactly what Synthesizer.encode(image) gives it (a resize to the size it has is none)."""
        if self.synth.segmenter is None:
            raise no_segmenter(source.image_field)
        with named(source.image_field):
            labels = self.synth.segment(image)[0]
        return resize_image(image, *self.synth.resolution), labels

    async def _encode(self, source: StyleSource, image: np.ndarray, label: np.ndarray) -> Styles:
        with named(f"{source.image_field} / {source.label_field}"):
            return await self.queue.encode(image, label)

    async def _edited_styles(self, request: SynthesizeRequest, references: list[Any]) -> Styles:
        """The base styles with the request's swaps and interpolation applied."""
        sources = request.sources()
        styles = await asyncio.gather(
            *(self._as_styles(source, ref) for source, ref in zip(sources, references, strict=True)),
            return_exceptions=True,  # every encoder job is awaited, then the first failure is raised
        )
        for result in styles:
            if isinstance(result, BaseException):
                raise result
        edited, swapped, blended = styles[0], styles[1 : 1 + len(request.swaps)], styles[1 + len(request.swaps) :]
        for i, (swap, other) in enumerate(zip(request.swaps, swapped, strict=True)):
            with named(f"swaps[{i}]"):
                edited = edited.swap(swap.classes, other, fallback=request.fallback)
        for i, (blend, other) in enumerate(zip(request.interpolate, blended, strict=True)):
            with named(f"interpolate[{i}]" if len(blended) > 1 else "interpolate"):
                edited = edited.interpolate(other, blend.alpha, blend.classes, fallback=request.fallback)
        return edited

    async def _as_styles(self, source: StyleSource, reference: Any) -> Styles:
        if isinstance(reference, Styles):
            return reference
        return await self._encode(source, *reference)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
