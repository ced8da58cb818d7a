"""The domain-plugin interface: what the trainer, exporter and runtime need to know about a dataset.

Concrete domains (the built-in ones in `sean_domains`, and third-party packages) subclass Domain and
register it under the `sean.domains` entry-point group; see docs/plugins.md.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sean_core.errors import DatasetError, ImageReadError, LabelError
from sean_core.files import atomic_write_text
from sean_core.imageio import ids_from_bytes, png_indexed, read_bytes, read_ids, read_rgb, resize_image, resize_labels


def _colour_keys(rgb: np.ndarray) -> np.ndarray:
    """RGB [..., 3] -> one int64 per colour, 0xRRGGBB [...] (lower keys are the "lower" colours of messages)."""
    rgb = np.asarray(rgb).astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


# Appended to the message for a colour mask of colours outside the palette where they say what went wrong
# (Domain.colour_mask_hint); the editor's labelmap.js and the C++ runtime (sean_runtime/cpp/src/model.cpp)
# give the same text by the same rule, and tests/test_editor.py and tests/test_cpp_hostile_inputs.py hold
# them equal. Grey RGB is only named, never read as ids: the palettes of all built-in domains but
# landscapes hold grey colours (black; (70, 70, 70) in Cityscapes; white in shapes), so a grey pixel can be
# a class's colour, and the C++ runtime and the editor read RGB files as colours too.
GREY_IDS_HINT = ("; it looks like class ids saved as RGB (its three channels are equal): read it as one channel "
                 "(cv2.IMREAD_GRAYSCALE, or [..., 0]) and pass that, or save it as a single-channel PNG")
BGR_HINT = ("; it looks like BGR (OpenCV's channel order: every colour is the palette's with its channels "
            "reversed): convert it to RGB with [..., ::-1]")


def check_class_ids(labels: np.ndarray, num_classes: int, source: str, domain: str = "") -> None:
    """Every value of an integer id array (any shape: [H, W], a batch [B, H, W]) is a class id
    0..num_classes - 1; else a LabelError naming the (first ten) values outside."""
    bad = np.unique(labels[(labels < 0) | (labels >= num_classes)])
    if bad.size:
        of = f" of domain {domain!r}" if domain else ""
        raise LabelError(
            f"{source}: values {bad[:10].tolist()} are outside the {num_classes} classes{of} "
            f"(valid ids 0..{num_classes - 1})"
        )


@dataclass(frozen=True)
class SamplePair:
    """One training/evaluation sample on disk."""

    image: Path
    label: Path  # the label file; for part-mask datasets the first part file (all of them are in label_parts)
    instance: Path | None = None  # instance-id map, for domains with an instance-edge channel
    # (class id, binary mask file) per present class, for datasets that store one mask per class
    # (raw CelebAMask-HQ); empty for datasets with one id map per sample.
    label_parts: tuple[tuple[int, Path], ...] = ()


class Domain:
    """Base class of a domain plugin. Subclasses set the class attributes and override list_pairs.

    Registered under the entry-point group `sean.domains` as `name = "module:ClassName"`.
    """

    name: str = ""
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()  # RGB per class id
    resolution: tuple[int, int] = (256, 256)  # (height, width) the models of this domain use
    layout: str = "normal"  # generator layout
    flip_pairs: tuple[tuple[int, int], ...] = ()  # class ids that swap under a horizontal flip
    extra_mask_channels: int = 0  # mask channels beyond the classes (e.g. instance edges)
    splits: tuple[str, ...] = ("train", "test")
    # Other split names accepted by list_pairs / check_split, e.g. {"train": "training"} for ADE20K,
    # so that code written for ("train", "test") works with every domain.
    split_aliases: ClassVar[dict[str, str]] = {}
    # True where the dataset stores labels at another resolution than the images (CelebAMask-HQ:
    # 1024² images, 512² labels); the aspect ratio must still match. False: sizes must be equal.
    labels_may_be_scaled: bool = False
    # An ONNX model that labels a picture with these classes, used for style images given without a
    # label map (a path; relative paths are taken from the working directory, so a plugin that ships one
    # sets Path(__file__).parent / "...onnx"). None: no segmenter unless the user configures one. The rule
    # and the model's contract: sean_runtime.segmenter and docs/plugins.md, "Segmenters".
    segmenter: str | Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_id(self, name: str) -> int:
        """Class name -> id, with an error listing the known names."""
        try:
            return self.class_names.index(name)
        except ValueError:
            raise LabelError(
                f"unknown class {name!r} for domain {self.name!r}; known: {', '.join(self.class_names)}"
            ) from None

    # --- labels -------------------------------------------------------------------------------
    def validate_labels(self, labels: np.ndarray, source: str = "label map") -> np.ndarray:
        """Check an id map [H, W]: integer dtype and every value a class id. Returns int64 ids."""
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise LabelError(
                f"{source}: expected a single-channel id map [H, W], got shape {labels.shape}; "
                f"colour masks go through colors_to_labels"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise LabelError(f"{source}: label ids must be integers, got dtype {labels.dtype}")
        check_class_ids(labels, self.num_classes, source, self.name)
        return labels.astype(np.int64)

    def read_label(self, path: str | Path) -> np.ndarray:
        """Label file -> validated int64 ids [H, W]. Single-channel files hold ids; RGB files colours.

        The file must be lossless and hold integers (sean_core.imageio.read_ids).
        """
        try:
            return self.labels_from_bytes(read_bytes(path), str(path))
        except ImageReadError as exc:
            raise LabelError(str(exc)) from exc

    def labels_from_bytes(self, data: bytes, source: str = "label map", max_pixels: int | None = None) -> np.ndarray:
        """A label file's bytes -> validated int64 ids [H, W] (read_label without the file, as the HTTP API
        gets them; max_pixels as in sean_core.imageio). An indexed-colour PNG is read by its palette's colours,
        as every reader of the project reads it (sean_core.imageio.png_indexed); where they are not the
        domain's, the error says so and how to keep the indices as class ids."""
        raw = ids_from_bytes(data, source, max_pixels)
        try:
            return self.labels_from_raw(raw, source=source)
        except LabelError as exc:
            if raw.ndim != 3 or not png_indexed(data):
                raise
            which = (f"its colours {self.unknown_colours(raw)} are not in the palette of domain {self.name!r}"
                     if self.palette else f"there is no palette of domain {self.name!r} to read them with")
            raise LabelError(
                f"{source} is an indexed-colour (palette) PNG, which is read by its palette's colours, not by its "
                f"indices, and {which}; if its indices are the class ids, save them as a single-channel PNG (e.g. "
                f"with Pillow: Image.fromarray(numpy.asarray(Image.open(src))).save(dst))"
            ) from exc

    def labels_from_raw(self, raw: np.ndarray, source: str = "label map") -> np.ndarray:
        """A label image as stored (read_raw / decode_raw) -> validated int64 ids [H, W]; RGB means colours."""
        labels = self.colors_to_labels(raw, source=source) if raw.ndim == 3 else self.decode_ids(raw)
        return self.validate_labels(labels, source=source)

    def decode_ids(self, raw: np.ndarray) -> np.ndarray:
        """Stored single-channel values -> class ids (identity unless the dataset remaps)."""
        return raw.astype(np.int64)

    def read_image(self, path: str | Path) -> np.ndarray:
        return read_rgb(path)

    def palette_array(self) -> np.ndarray:
        return np.asarray(self.palette, dtype=np.uint8).reshape(-1, 3)

    def labels_to_colors(self, labels: np.ndarray) -> np.ndarray:
        """ids [H, W] -> RGB uint8 [H, W, 3] with the domain palette."""
        labels = self.validate_labels(labels)
        return self.palette_array()[labels]

    def colors_to_labels(self, rgb: np.ndarray, source: str = "colour mask") -> np.ndarray:
        """RGB [H, W, 3] with palette colours -> ids [H, W]. Unknown colours are an error naming them.

        Where two classes share a colour (some palettes do), the lower id wins.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise LabelError(f"{source}: expected an RGB colour mask [H, W, 3], got shape {rgb.shape}")
        lookup: dict[int, int] = {}
        for class_id, key in enumerate(_colour_keys(self.palette_array()).tolist()):
            lookup.setdefault(key, class_id)
        uniq, inverse = np.unique(_colour_keys(rgb).ravel(), return_inverse=True)
        ids = np.array([lookup.get(k, -1) for k in uniq.tolist()], dtype=np.int64)
        if (ids < 0).any():
            raise LabelError(
                f"{source}: colours {self.unknown_colours(rgb)} are not in the palette of domain {self.name!r}; "
                f"draw masks with the domain's palette (or pass an id map){self.colour_mask_hint(rgb)}"
            )
        return ids[inverse].reshape(rgb.shape[:2])

    def colour_mask_hint(self, rgb: np.ndarray) -> str:
        """What a colour mask [H, W, 3] that the palette refuses seems to be, for its message: class ids in all
        three channels (cv2.imread of an id map gives them; only where every value is a class id), or the
        palette's colours in BGR order (OpenCV's); "" otherwise."""
        rgb = np.asarray(rgb)
        if rgb.size and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return GREY_IDS_HINT if int(rgb.max()) < self.num_classes else ""
        reversed_keys = np.unique(_colour_keys(rgb[..., ::-1]))
        return BGR_HINT if np.isin(reversed_keys, _colour_keys(self.palette_array())).all() else ""

    def unknown_colours(self, rgb: np.ndarray) -> list[tuple[int, int, int]]:
        """The five lowest colours (as 0xRRGGBB numbers) of RGB [H, W, 3] that the palette lacks, for messages;
        the C++ runtime and the editor name the same five."""
        flat = np.unique(_colour_keys(rgb))
        known = _colour_keys(self.palette_array())
        return [((k >> 16) & 255, (k >> 8) & 255, k & 255) for k in flat[~np.isin(flat, known)][:5].tolist()]

    def flip_permutation(self) -> np.ndarray:
        """perm [K] such that a horizontally flipped label map has ids perm[ids]."""
        perm = np.arange(self.num_classes)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    # --- extra mask channels ------------------------------------------------------------------
    def extra_channels_from(self, labels: np.ndarray, instances: np.ndarray | None) -> np.ndarray | None:
        """Extra mask channels [E, H, W] float32 from a label map and an instance-id map of the same size.

        None when the domain has no extra channels. Domains with extra channels override this; the
        runtime calls it directly with arrays a user supplied.
        """
        if self.extra_mask_channels == 0:
            return None
        raise NotImplementedError(f"domain {self.name!r} declares extra mask channels but does not compute them")

    def extra_channels(self, pair: SamplePair, labels: np.ndarray) -> np.ndarray | None:
        """Extra mask channels [E, H, W] float32 for a sample at the size of `labels` (None when E == 0).

        The instance map is resized (nearest) to the label map first, so channels such as instance
        edges are computed at the working resolution, as SPADE does.
        """
        if self.extra_mask_channels == 0:
            return None
        instances = self.read_instances(pair)
        if instances is not None:
            instances = resize_labels(instances, *labels.shape)
        return self.extra_channels_from(labels, instances)

    # --- samples ------------------------------------------------------------------------------
    def load_labels(self, pair: SamplePair) -> np.ndarray:
        """The validated int64 id map [H, W] of a sample (domains with part masks override this)."""
        return self.read_label(pair.label)

    def read_instances(self, pair: SamplePair) -> np.ndarray | None:
        """The instance-id map [H, W] of a sample as stored (uint16 / uint8), or None if it has none."""
        if pair.instance is None:
            return None
        try:
            instances = read_ids(pair.instance)
        except ImageReadError as exc:
            raise DatasetError(str(exc)) from exc
        if instances.ndim != 2:
            raise DatasetError(
                f"{pair.instance}: expected a single-channel instance-id map, got shape {instances.shape}"
            )
        return instances

    def load_pair(
        self, pair: SamplePair, size: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Read and validate one sample: (image uint8 [H, W, 3], labels int64 [H, W], extra float32 [E, H, W] | None).

        size: (height, width) to resize everything to (image: area/bicubic, labels and instances:
        nearest; extra channels are computed after resizing). Without it the sample keeps the label
        map's size (an image stored at another scale is resized to it).
        Raises DatasetError naming the files when the image, label and instance sizes do not fit.
        """
        try:
            image = self.read_image(pair.image)
        except ImageReadError as exc:
            raise DatasetError(str(exc)) from exc
        labels = self.load_labels(pair)
        instances = self.read_instances(pair)
        self._check_sizes(pair, image.shape[:2], labels.shape, None if instances is None else instances.shape)
        height, width = size if size is not None else labels.shape
        image = resize_image(image, height, width)
        labels = resize_labels(labels, height, width)
        if instances is not None:
            instances = resize_labels(instances, height, width)
        extra = self.extra_channels_from(labels, instances) if self.extra_mask_channels else None
        return image, labels, extra

    def _check_sizes(
        self,
        pair: SamplePair,
        image_hw: tuple[int, ...],
        label_hw: tuple[int, ...],
        instance_hw: tuple[int, ...] | None,
    ) -> None:
        label_file = pair.label
        if instance_hw is not None and instance_hw != label_hw:
            raise DatasetError(
                f"{pair.instance} is {instance_hw[1]}x{instance_hw[0]} but its label {label_file} is "
                f"{label_hw[1]}x{label_hw[0]}; instance and label maps must have the same size"
            )
        if image_hw == label_hw:
            return
        same_aspect = image_hw[0] * label_hw[1] == image_hw[1] * label_hw[0]
        if not (self.labels_may_be_scaled and same_aspect):
            rule = "the same aspect ratio" if self.labels_may_be_scaled else "the same size"
            raise DatasetError(
                f"{pair.image} is {image_hw[1]}x{image_hw[0]} but its label {label_file} is "
                f"{label_hw[1]}x{label_hw[0]}; domain {self.name!r} needs image and label with {rule}"
            )

    # --- datasets -----------------------------------------------------------------------------
    def list_pairs(self, root: str | Path, split: str) -> list[SamplePair]:
        """(image, label) files of a dataset folder for a split, sorted. Subclasses implement."""
        raise NotImplementedError(f"domain {self.name!r} has no on-disk dataset layout")

    def check_split(self, split: str) -> str:
        """The dataset's own name of a split (aliases resolved); an unknown split is an error."""
        canonical = self.split_aliases.get(split, split)
        if canonical not in self.splits:
            aliases = "".join(f", {a!r} = {c!r}" for a, c in self.split_aliases.items())
            raise DatasetError(f"domain {self.name!r} has splits {list(self.splits)}{aliases}; not {split!r}")
        return canonical


def is_junk(path: Path) -> bool:
    """Whether a file or folder is what unpacking or browsing left beside the data, never part of it: macOS's
    AppleDouble copies `._<name>` (which keep the data file's name and suffix, so a glob finds them), .DS_Store
    and other hidden files, a zip's __MACOSX/ folder, Windows' Thumbs.db."""
    return path.name.startswith(".") or path.name in ("__MACOSX", "Thumbs.db")


def dataset_files(folder: Path, suffixes: tuple[str, ...], pattern: str = "*") -> list[Path]:
    """The files folder.glob(pattern) finds whose names end in one of `suffixes` (compared case-insensitively:
    an image saved as .JPG is a .jpg), without junk (is_junk) and without the files in junk folders, which a
    pattern of several levels ("*/*") reaches, sorted."""
    lowered = tuple(suffix.lower() for suffix in suffixes)
    return sorted(p for p in folder.glob(pattern)
                  if not any(is_junk(Path(part)) for part in p.relative_to(folder).parts)
                  and p.name.lower().endswith(lowered) and p.is_file())


# The file `sean prepare` keeps in its output folder while it writes it: an interrupted or failed run leaves
# it, so that training refuses a half-written dataset (check_finished) instead of training on part of it.
UNFINISHED = "UNFINISHED.txt"


def prepare_command(domain: str, raw_dir: str | Path, out_dir: str | Path) -> str:
    """The `sean prepare` command that writes (or finishes) out_dir from raw_dir, with absolute, shell-quoted
    paths: what UNFINISHED.txt holds and what a stopped run says to run again."""
    raw, out = (shlex.quote(str(Path(path).resolve())) for path in (raw_dir, out_dir))
    return f"sean prepare {domain} {raw} -o {out}"


@contextmanager
def preparing(out_dir: Path, command: str) -> Iterator[None]:
    """Mark out_dir unfinished while the block writes it; the mark (holding `command`, which finishes the
    work) is removed only when the block completes."""
    marker = out_dir / UNFINISHED
    atomic_write_text(marker, f"{command}\n")
    yield
    marker.unlink()


def check_finished(root: Path) -> None:
    """A DatasetError naming the command to run again when root is the output of an unfinished `sean prepare`."""
    marker = root / UNFINISHED
    if marker.is_file():
        command = marker.read_text(errors="replace").strip()
        raise DatasetError(f"{root} is the output of a `sean prepare` that did not finish ({UNFINISHED} is there): "
                           f"run `{command}` again to finish it")


def _is_folder(path: Path) -> bool:
    """Whether path is a folder; False where it cannot be looked up (another user's folder, 0700, on a shared
    machine), as a guess at where a dataset is must not fail on a folder that is not the user's."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _subfolders(folder: Path) -> list[Path]:
    """The folders in `folder` but junk ones (a zip's __MACOSX/), in natural order; none where it cannot be
    listed (a parent with search but no read permission)."""
    try:
        found = [p for p in folder.iterdir() if not is_junk(p) and _is_folder(p)]
    except OSError:
        return []
    return sorted(found, key=lambda p: natural_key(p.name))


def _holds(holds: Callable[[Path], bool], folder: Path) -> bool:
    """holds(folder), False where the folder cannot be looked into: a domain's own test (a plugin's
    `(folder / "images").is_dir()`) raises PermissionError on another user's folder."""
    try:
        return holds(folder)
    except OSError:
        return False


def dataset_below(root: Path, holds: Callable[[Path], bool]) -> Path | None:
    """The first subfolder of root (natural order) that holds the dataset: an archive unpacked one level
    down, e.g. root/ADEChallengeData2016/ when root was given (never the copy in a zip's __MACOSX/)."""
    return next((sub for sub in _subfolders(root) if _holds(holds, sub)), None)


def dataset_above(root: Path, holds: Callable[[Path], bool], levels: int = 3) -> Path | None:
    """The nearest of the `levels` folders above root that holds the dataset: root is a folder inside it, e.g.
    ADEChallengeData2016/images/ or cityscapes/leftImg8bit/train/ given for the dataset's own folder."""
    return next((folder for folder in root.resolve().parents[:levels] if _holds(holds, folder)), None)


def wrong_root(
    root: Path, domain: str, expected: str, holds: Callable[[Path], bool], otherwise: str = ""
) -> DatasetError:
    """The error for a dataset root that is not one: what was expected, and the folder to pass instead when
    the dataset sits one level down, or when root is a folder inside it; else `otherwise` ("; ..."), if given."""
    problem = "does not exist" if not root.exists() else f"is not a dataset of the {domain} domain"
    below = dataset_below(root, holds)
    above = None if below else dataset_above(root, holds)
    hint = (f"; the dataset seems to be one level down: pass {below}" if below
            else f"; it seems to be a folder inside the dataset: pass {above}" if above else otherwise)
    return DatasetError(f"{root} {problem}: expected {expected}{hint}")


def scattered_folders(root: Path, folders: tuple[str, ...]) -> list[Path] | None:
    """Where each of `folders` is when a dataset's archives were unpacked into a folder each (as macOS's Archive
    Utility does with Cityscapes' leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip): looked for in
    root, in the folders in it and in those beside it. None unless every one is found, in more than one place."""
    places = [root]
    for base in (root, root.parent):
        places += _subfolders(base)
    found = []
    for name in folders:
        where = next((place for place in places if _is_folder(place / name)), None)
        if where is None:
            return None
        found.append(where / name)
    return found if len({path.parent for path in found}) > 1 else None


def require_folders(root: str | Path, domain: str, folders: tuple[str, ...]) -> Path:
    """root itself when it holds every one of `folders`; otherwise wrong_root's error naming them."""
    root = Path(root)

    def holds(folder: Path) -> bool:
        return all(_is_folder(folder / name) for name in folders)

    if holds(root):
        return root
    scattered = scattered_folders(root, folders)
    otherwise = (f"; {' and '.join(f'{name}/' for name in folders)} are in separate folders "
                 f"({', '.join(map(str, scattered))}): move them into one folder and pass that" if scattered else "")
    raise wrong_root(root, domain, " + ".join(f"{name}/" for name in folders) + " directly inside it", holds,
                     otherwise)


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value ("2" before "10"), like SEAN's natural sort."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


# The list pair_by_stem puts its unpaired lines in when called without `unpaired`, inside leaving_out_unpaired.
_UNPAIRED: ContextVar[list[str] | None] = ContextVar("sean_unpaired", default=None)


@contextmanager
def leaving_out_unpaired(unpaired: list[str]) -> Iterator[None]:
    """Within the block, pair_by_stem leaves out the files without their partner as with unpaired=`unpaired`
    (one line each there): how a split is listed through any domain's list_pairs, which takes no such argument,
    where a missing partner should cost that sample and not the whole split (the held-out split of training)."""
    token = _UNPAIRED.set(unpaired)
    try:
        yield
    finally:
        _UNPAIRED.reset(token)


def pair_by_stem(
    images: list[Path],
    labels: list[Path],
    image_key: Callable[[Path], Hashable],
    label_key: Callable[[Path], Hashable],
    root: Path,
    split: str,
    unpaired: list[str] | None = None,
) -> list[SamplePair]:
    """Match image and label files on a key; a file without its partner is an error naming it.

    unpaired: a list instead gets one line per file without its partner, and the others are paired (no
    pair at all is [] then, not an error): for `sean prepare`, which leaves such samples out and lists them.
    Without it, the list of an enclosing leaving_out_unpaired is taken. Pairs come back in natural order of
    their keys.
    """
    if unpaired is None:
        unpaired = _UNPAIRED.get()
    by_image = {image_key(p): p for p in images}
    by_label = {label_key(p): p for p in labels}
    lonely_images = sorted(set(by_image) - set(by_label))
    lonely_labels = sorted(set(by_label) - set(by_image))
    if unpaired is not None:
        unpaired.extend(f"{by_image[k]}: an image without its label" for k in lonely_images)
        unpaired.extend(f"{by_label[k]}: a label without its image" for k in lonely_labels)
        return [SamplePair(by_image[k], by_label[k])
                for k in sorted(set(by_image) & set(by_label), key=lambda k: natural_key(str(k)))]
    if lonely_images or lonely_labels:
        parts = []
        for what, keys, files in (("images without a label", lonely_images, by_image),
                                  ("labels without an image", lonely_labels, by_label)):
            if keys:
                more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
                parts.append(f"{what}: {[str(files[k]) for k in keys[:5]]}{more}")
        raise DatasetError(f"{root} ({split}): " + "; ".join(parts) + "; each sample needs both files: restore the "
                           "missing ones from the download, or move the unpaired files out of the dataset folder")
    if not by_image:
        raise DatasetError(f"{root} ({split}): no image/label pairs found")
    return [SamplePair(by_image[k], by_label[k]) for k in sorted(by_image, key=lambda k: natural_key(str(k)))]
