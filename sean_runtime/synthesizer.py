"""The runtime's front door: load a package, encode per-region styles, synthesize images.

    synth = Synthesizer.load("pkg")                  # checks the manifest and file hashes, picks a backend
                                                     # (or: with Synthesizer.load("pkg") as synth: ...)
    styles = synth.encode("face.jpg", "face.png")     # Styles: one code per class + presence flags
    photo = synth.encode("photo.jpg")                 # no label map: the package's segmenter labels it
    mixed = styles.swap("hair", synth.encode("b.jpg", "b.png"))
    image = synth.synthesize("face.png", mixed, seed=0)[0]   # uint8 [H, W, 3]

Inputs go through the package's domain plugin (ids or colour masks) and are resized to the package
resolution; see sean_runtime.inputs for the accepted forms. Batches of any size are split into chunks
the backend accepts; image i of a call always uses noise seed `seed + i`. A style image given without
its label map is labelled by the segmenter (sean_runtime.segmenter), where the package has one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError, NonFiniteError
from sean_core.format import GRAPH_NAMES
from sean_core.noise import draw_noise_each
from sean_runtime.backends import Backend, batch_slices, select_backend
from sean_runtime.inputs import (
    ManifestDomain,
    check_encode_extra,
    check_noise,
    check_pairs,
    check_seed,
    check_styles_count,
    image_tensor,
    labels_missing,
    load_extra,
    load_images,
    load_labels,
    optional_labels,
    read_images,
    resolve_domain,
)
from sean_runtime.package import Package, load_package
from sean_runtime.segmenter import Segmenter, no_segmenter, segmenter_choice
from sean_runtime.styles import Styles

log = logging.getLogger(__name__)



def to_uint8(image: np.ndarray) -> np.ndarray:
    """Generator output [B, 3, H, W] in [-1, 1] -> uint8 RGB [B, H, W, 3] (clip((x + 1) * 127.5), rounded)."""
    scaled = np.clip((image.astype(np.float32) + 1.0) * 127.5, 0.0, 255.0)
    return np.rint(scaled).astype(np.uint8).transpose(0, 2, 3, 1)


def _style_image(name: str) -> str:
    """A style image in messages, by its name (sean_runtime.inputs: its path, or "image #i" for an array)."""
    return f"style {name}" if name.startswith("image #") else f"style image {name}"


class Synthesizer:
    """A loaded package with its backend: Synthesizer.load(path) opens one.

    encode(image, label) -> Styles; synthesize(label, styles, seed) -> uint8 RGB [B, H, W, 3]; the inputs are
    files (paths, or their bytes: an upload's bytes or io.BytesIO) or arrays (sean_runtime.inputs), one or a
    list. Calls may come from several threads at once.
    """

    def __init__(
        self,
        package: Package,
        backend: Backend | None = None,
        notes: Sequence[str] = (),
        segmenter: Segmenter | None = None,
    ) -> None:
        if not isinstance(package, Package) or backend is None:  # e.g. Synthesizer("pkg"), for load("pkg")
            where = repr(os.fsdecode(package)) if isinstance(package, (str, os.PathLike)) else "PATH"
            raise TypeError(f"Synthesizer() takes a loaded package and its backend: open a package folder with "
                            f"Synthesizer.load({where})")
        self.package = package
        self._backend: Backend | None = backend
        self.notes = list(notes)  # backends passed over, and why
        self.domain = resolve_domain(package.domain, package.class_names, package.palette)
        self.segmenter = segmenter  # labels style images given without a label map; None: they are refused

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        backend: str = "auto",
        providers: Sequence[str] | None = None,
        verify: bool = True,
        precision_hint: str = "f32",
        threads: int | None = None,
        segmenter: str | os.PathLike[str] | None = None,
        workers: int = 1,
    ) -> Synthesizer:
        """Open a package folder.

        path: the package folder `sean export` wrote (str, pathlib.Path or any os.PathLike).
        backend: "auto" (TensorRT engines when usable, else ONNX Runtime), "onnxruntime", "tensorrt" or
            "openvino" (chosen by "auto" only for a bf16 / f16 precision_hint).
        providers: ONNX Runtime execution providers to use instead of the automatic choice.
        verify: check every file against the manifest's sha256 (a few seconds for a full-size model).
        precision_hint: OpenVINO's INFERENCE_PRECISION_HINT ("f32", "bf16", "f16"); "bf16" and "f16" need
            backend "openvino", which "auto" then chooses (backends.select_backend).
        threads: CPU threads of ONNX Runtime or OpenVINO (None: the runtime's default, one per physical core).
        segmenter: an ONNX segmenter that labels style images given without a label map; None: the
            SEAN_SEGMENTER environment variable, else the domain plugin's (sean_runtime.segmenter has the
            rule and the model's contract; a model that breaks it is refused here).
        workers: the calls made at once from different threads (a server's workers); OpenVINO compiles as
            many streams. Every backend takes calls from several threads (TensorRT runs them one at a time);
            this only sizes OpenVINO for them.
        """
        package = load_package(path, verify=verify)
        selection = select_backend(package, backend, providers, precision_hint=precision_hint, threads=threads,
                                   workers=workers)
        synth = cls(package, selection.backend, selection.notes)
        try:
            choice = segmenter_choice(segmenter, synth.domain)
            if choice is not None:
                synth.segmenter = Segmenter(choice, package.class_names, synth.resolution, threads=threads)
        except BaseException:
            synth.close()
            raise
        log.info("loaded %s", synth.describe())
        # Why a backend was passed over matters at INFO where the package has TensorRT engines that went
        # unused, or where a reduced precision was asked for (the CPU may lack it); on a package without
        # engines (every CPU machine) it is expected, and only info() says it.
        has_plans = any(package.graph(name).plan.is_file() for name in GRAPH_NAMES)
        for note in selection.notes:
            log.log(logging.INFO if has_plans or precision_hint != "f32" else logging.DEBUG, "%s", note)
        return synth

    # --- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the backend's sessions and memory. Later calls raise BackendError; closing twice is fine."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise BackendError(f"this Synthesizer of {self.package.root} was closed; load the package again")
        return self._backend

    # --- facts ------------------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.package.class_names

    @property
    def resolution(self) -> tuple[int, int]:
        """(height, width) of every image this package makes."""
        return self.package.height, self.package.width

    def info(self) -> dict[str, Any]:
        """Which backend and device were chosen, why others were not, and what the package is."""
        return {
            "backend": self.backend.name,
            "device": self.backend.device,
            "max_batch": self.backend.max_batch,
            "notes": list(self.notes),
            "package": str(self.package.root),
            "domain": self.package.domain,
            "domain_plugin": not isinstance(self.domain, ManifestDomain),
            "classes": list(self.class_names),
            "resolution": list(self.resolution),
            "precision": self.package.precision,
            "computes": self.computes,
            "segmenter": None if self.segmenter is None else self.segmenter.describe(),
        }

    @property
    def computes(self) -> str:
        """The precision the backend runs the convolutions and products in ("fp32", "fp16", "bf16"): the
        package's, except where OpenVINO runs its precision hint (the backend's `computes`)."""
        return getattr(self.backend, "computes", None) or self.package.precision

    def describe(self) -> str:
        """One line for logs: backend, device, package."""
        h, w = self.resolution
        return (
            f"{self.backend.name} ({self.backend.device}); package {self.package.root} "
            f"[{self.package.domain or 'no domain'}, {w}x{h}, {self.package.num_classes} classes, "
            f"{self.package.precision}]"
        )

    # --- inputs -----------------------------------------------------------------------------------
    def read_labels(self, labels: Any) -> np.ndarray:
        """Label files / arrays -> validated class ids int32 [B, H, W] at the package resolution."""
        return load_labels(labels, self.domain, *self.resolution)[0]

    def _per_chunk(
        self,
        seeds: Sequence[int],
        noise: Sequence[bool],
        extras: np.ndarray | None,
        run: Callable[[slice, np.ndarray, np.ndarray | None], np.ndarray],
    ) -> np.ndarray:
        """run(part, noise [n, N], extra part) over backend-sized chunks, concatenated; image i's noise is
        drawn from seeds[i] (zeros where noise[i] is False) by the package's noise rule."""
        out = []
        for part in batch_slices(len(seeds), self.backend.max_batch):
            z = draw_noise_each(
                self.package.noise_numel, seeds[part], noise[part],
                format_version=self.package.manifest["format_version"],  # each format keeps its own rule
            )
            # The one place where generator output comes back: checked here for every path.
            out.append(self._check_finite(run(part, z, None if extras is None else extras[part]), "generator",
                                          part.start))
        return np.concatenate(out)

    def segment(self, image: Any) -> np.ndarray:
        """Style images (files, files' bytes or uint8 RGB arrays, one or many) -> the class ids [B, H, W] int32 at
        the package resolution that the segmenter gives them: what encode uses for images given without a label map."""
        pictures = read_images(image)
        if self.segmenter is None:
            raise no_segmenter(_style_image(pictures[0].name))
        return self.segmenter.segment([picture.rgb for picture in pictures])

    def _style_inputs(self, image: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
        """Images [B, 3, H, W] and their label ids [B, H, W], checked to belong together. A label of None
        (for all, or as an item of a list) is the segmenter's labelling of the image."""
        if labels_missing(label):
            return self._segmented_inputs(image, label)
        images, image_sizes, stored_sizes = load_images(image, *self.resolution)
        labels, label_sizes = load_labels(label, self.domain, *self.resolution)
        check_pairs(image, image_sizes, label, label_sizes, self.domain.labels_may_be_scaled, stored_sizes)
        return images, labels

    def _segmented_inputs(self, image: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
        """_style_inputs where some label maps are missing: the segmenter labels those images."""
        pictures = read_images(image)
        items = optional_labels(label, len(pictures))
        missing = [i for i, item in enumerate(items) if item is None]
        given = [i for i, item in enumerate(items) if item is not None]
        if self.segmenter is None:
            raise no_segmenter(_style_image(pictures[missing[0]].name))
        images = np.stack([image_tensor(picture.rgb, *self.resolution) for picture in pictures]).astype(np.float32)
        labels = np.empty((len(pictures), *self.resolution), np.int32)
        labels[missing] = self.segmenter.segment([pictures[i].rgb for i in missing])
        if given:
            given_labels = [items[i] for i in given]
            labels[given], label_sizes = load_labels(given_labels, self.domain, *self.resolution)
            check_pairs(
                [pictures[i].name for i in given], [pictures[i].rgb.shape[:2] for i in given],
                given_labels, label_sizes, scaled_ok=self.domain.labels_may_be_scaled,
                stored_sizes=[pictures[i].stored for i in given],
            )
        return images, labels

    @staticmethod
    def _check_finite(array: np.ndarray, what: str, first: int = 0) -> np.ndarray:
        """A graph output [B, ...] with only finite values, or NonFiniteError naming the images."""
        finite = np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        if not finite.all():
            images = (np.nonzero(~finite)[0] + first).tolist()
            raise NonFiniteError(
                f"the {what} produced NaN or infinite values for image(s) {images[:10]}: the package's weights "
                f"are broken (re-export it from a checkpoint with finite weights) or the style codes are far "
                f"outside what the encoder produces"
            )
        return array

    # --- the three operations ----------------------------------------------------------------------
    def encode(self, image: Any, label: Any = None, extra: Any = None) -> Styles:
        """Style images and their label maps -> Styles [B, K, S] with a presence flag per class.

        label None (or None items of a list): the segmenter labels those images (segment); a package
        without one refuses them, saying how to configure one. extra: refused (the encoder reads none)."""
        check_encode_extra(extra)
        images, labels = self._style_inputs(image, label)
        codes, area = [], []
        for part in batch_slices(len(labels), self.backend.max_batch):
            c, a = self.backend.encode(images[part], labels[part])
            codes.append(self._check_finite(c, "encoder", part.start))
            area.append(a)
        return Styles(np.concatenate(codes), np.concatenate(area) > 0, self.class_names)

    def render(self, label: Any, styles: Styles, seed: int = 0, noise: bool = True, extra: Any = None) -> np.ndarray:
        """Label maps + styles -> the generator's float output [B, 3, H, W] in [-1, 1] (before rounding)."""
        labels = self.read_labels(label)
        seed, noise = check_seed(seed, len(labels)), check_noise(noise)
        styles = self._styles_for(styles, len(labels))
        return self._render_each(labels, styles, [seed + i for i in range(len(labels))], [noise] * len(labels), extra)

    def _render_each(
        self, labels: np.ndarray, styles: Styles, seeds: Sequence[int], noise: Sequence[bool], extra: Any
    ) -> np.ndarray:
        extras = load_extra(extra, len(labels), self.package.extra_channels, *self.resolution)
        return self._per_chunk(
            seeds, noise, extras,
            lambda part, z, ex: self.backend.generate(labels[part], styles.codes[part], z, ex),
        )

    def synthesize(
        self, label: Any, styles: Styles, seed: int = 0, noise: bool = True, extra: Any = None
    ) -> np.ndarray:
        """Label maps + styles (batch 1 for all, or one per label map) -> uint8 RGB [B, H, W, 3].

        The same package, inputs and seed give the same images on every call; noise=False renders the
        noise-free image.
        """
        return to_uint8(self.render(label, styles, seed, noise, extra))

    def synthesize_each(
        self, label: Any, styles: Styles, seeds: Sequence[int], noise: Sequence[bool], extra: Any = None
    ) -> np.ndarray:
        """Independent images in one backend call -> uint8 [B, H, W, 3]: image i is drawn with the noise of
        seeds[i] (none where noise[i] is False), so it equals synthesize(label[i], styles[i], seeds[i],
        noise[i])[0] byte for byte (the generator's output of one image does not depend on its batch).
        This is what a server batching the requests of many clients needs.
        """
        labels = self.read_labels(label)
        styles = self._styles_for(styles, len(labels))
        for name, values in (("seeds", seeds), ("noise", noise)):
            if not isinstance(values, (Sequence, np.ndarray)) or isinstance(values, str):
                raise InputError(f"{name} must be a list with one value per label map, got {values!r:.80}")
        if len(seeds) != len(labels) or len(noise) != len(labels):
            raise InputError(
                f"{len(labels)} label map(s) need as many seeds and noise flags, got {len(seeds)} and {len(noise)}"
            )
        seeds = [check_seed(seed, 1) for seed in seeds]
        return to_uint8(self._render_each(labels, styles, seeds, [check_noise(n) for n in noise], extra))

    def reconstruct(
        self, image: Any, label: Any = None, seed: int = 0, noise: bool = True, extra: Any = None
    ) -> np.ndarray:
        """Each image's own styles rendered on its own label map -> uint8 [B, H, W, 3].

        The codes go from encoder to generator without a copy to the host where the backend allows.
        """
        images, labels = self._style_inputs(image, label)
        seed, noise = check_seed(seed, len(labels)), check_noise(noise)
        extras = load_extra(extra, len(labels), self.package.extra_channels, *self.resolution)
        return to_uint8(
            self._per_chunk(
                [seed + i for i in range(len(labels))], [noise] * len(labels), extras,
                lambda part, z, ex: self.backend.encode_generate(images[part], labels[part], z, ex),
            )
        )

    def _styles_for(self, styles: Styles, count: int) -> Styles:
        """Check that styles belong to this package and give one per label map."""
        check_styles_count(styles, count)
        if styles.class_names != self.class_names or styles.style_dim != self.package.style_dim:
            raise InputError(
                f"these styles have {styles.num_classes} classes x {styles.style_dim} values but the package "
                f"has {self.package.num_classes} x {self.package.style_dim} (or other class names); "
                f"encode them with this package"
            )
        return styles if styles.batch_size == count else styles[[0] * count]
