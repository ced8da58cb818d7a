"""Images and label maps in, the graphs' tensors out: read, validate, resize, batch.

Accepted label inputs: a file (single-channel ids, or an RGB colour mask in the domain palette), an
id array [H, W] (or [H, W, 1]), a colour array [H, W, 3], a batch [B, H, W] (or [B, H, W, 1]) of ids or
[B, H, W, 3] of colours, or a list of any of these. Accepted image inputs: a file, uint8 RGB [H, W, 3],
a batch [B, H, W, 3], or a list. A file is its path (str or any os.PathLike) or its contents: bytes,
bytearray, memoryview, or a binary file object such as io.BytesIO or open(path, "rb") (an upload, read
from where it stands), decoded exactly as the file would be. A numpy array is always pixels, never a
file's bytes (a 1-D uint8 array from np.frombuffer is refused, with the fix); a PIL image or another
array-like is refused with its conversion (_array_fix). Labels are resized with
nearest neighbour (pixel centres), images with resize_image, to the package resolution. Empty maps,
empty batches and files over the decoded-size limit of sean_core.imageio are refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from sean_core.domains import Domain, DomainError, LabelError, get_domain
from sean_core.errors import ImageReadError, InputError, flag_argument
from sean_core.imageio import (
    MalformedHeader,
    probe,
    read_bytes,
    resize_image,
    resize_labels,
    rgb_from_bytes,
    size_before_turn,
)
from sean_runtime.styles import Styles

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | np.ndarray

# Image i of a call uses seed + i, which must stay below this: signed 64-bit, as in the HTTP API, Triton's
# int64 seed tensor and clients in other languages. The noise format itself takes seeds up to 2^64 - 1
# (sean_core.noise), and the C++ runtime, which reads no JSON, accepts all of them.
SEED_LIMIT = 2**63


def check_seed(seed: int, count: int) -> int:
    """Image i of a call uses seed + i: seed .. seed + count - 1 must be integers in [0, 2**63). -> int(seed)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r:.80}")
    if int(seed) + count - 1 >= SEED_LIMIT:
        raise InputError(
            f"seed {seed} with {count} image(s) reaches {int(seed) + count - 1}: image i uses seed + i, "
            f"which must stay below 2**63"
        )
    return int(seed)


def check_styles_count(styles: Any, count: int) -> None:
    """Styles for `count` label maps: a Styles of 1 image (used for all) or of `count` (one per label map)."""
    if not isinstance(styles, Styles):
        raise InputError(f"styles must be a Styles (from encode), not {type(styles).__name__}")
    if styles.batch_size not in (1, count):
        raise InputError(
            f"styles of {styles.batch_size} images for {count} label map(s): pass styles of 1 image (used for "
            f"all) or one per label map"
        )


def check_noise(noise: bool) -> bool:
    """A noise flag: True or False (numpy's too); anything else is refused rather than read as truthy."""
    return flag_argument(noise, "noise")


class ManifestDomain(Domain):
    """Stands in for a domain plugin that is not installed: class names and (format 2) the palette from
    the manifest; without a palette, label maps must be class ids."""

    def __init__(self, name: str, class_names: Sequence[str], palette: Sequence[Sequence[int]] | None = None) -> None:
        self.name = name or "unnamed"
        self.class_names = tuple(class_names)
        self.palette = tuple(tuple(rgb) for rgb in palette) if palette else ()

    def colors_to_labels(self, rgb: np.ndarray, source: str = "colour mask") -> np.ndarray:
        if self.palette:
            return super().colors_to_labels(rgb, source)
        raise LabelError(
            f"{source}: a colour mask needs the palette of domain {self.name!r}, which neither an installed plugin "
            f"nor the package provides; pass a single-channel class-id map instead, or install the plugin"
        )


def resolve_domain(name: str, class_names: Sequence[str], palette: Sequence[Sequence[int]] | None = None) -> Domain:
    """The installed plugin for the package's domain, or a ManifestDomain (with the package's palette, if
    it carries one) when the plugin is absent or disagrees."""
    try:
        domain = get_domain(name)
    except DomainError:
        return ManifestDomain(name, class_names, palette)
    if tuple(domain.class_names) != tuple(class_names):
        return ManifestDomain(name, class_names, palette)
    return domain


def _is_path(item: Any) -> bool:
    """A file path as Python names one: str, pathlib.Path or any os.PathLike (e.g. a path of another library)."""
    return isinstance(item, (str, os.PathLike))


def _path(item: str | os.PathLike) -> Path:
    return Path(os.fsdecode(os.fspath(item)))


def _is_file_bytes(item: Any) -> bool:
    """A file's contents: bytes, bytearray, memoryview, or a file object whose read() gives them (io.BytesIO,
    open(path, "rb"), a web framework's upload). A numpy array is pixels, never bytes."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return True
    return not isinstance(item, np.ndarray) and callable(getattr(item, "read", None))


# A file's name as bytes (os.listdir(b".") gives them) is no file's contents: every image format's header
# holds a 0 byte, no path does, and a path is short.
_NAME_BYTES = 4096


def _file_bytes(item: Any, name: str) -> bytes:
    """The bytes of a file given by its contents (_is_file_bytes); a file object is read from where it stands."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = item
    else:
        try:
            data = item.read()
        except (OSError, ValueError) as exc:  # a closed file raises ValueError
            raise InputError(f"{name}: its file object cannot be read: {exc}") from exc
        if isinstance(data, str):
            raise InputError(f"{name} is a file opened as text; open it in binary mode (open(path, 'rb'))")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"{name}: its read() gave a {type(data).__name__}, not the file's bytes")
        if not data and _position(item):  # e.g. an io.BytesIO just written to: it stands at its end
            raise InputError(f"{name}: its file object gave no bytes: it stands at byte {_position(item)}, after "
                             f"what was written; call .seek(0) first")
    data = bytes(data)
    if len(data) <= _NAME_BYTES and b"\0" not in data and os.path.isfile(data):
        raise InputError(
            f"{name} is the bytes {data[:80]!r}, which name a file: pass a file name as str or Path "
            f"(os.fsdecode(name)), or the file's contents as bytes"
        )
    return data


def _position(file: Any) -> int:
    """Where a file object stands, 0 where it cannot say."""
    try:
        return int(file.tell())
    except (AttributeError, OSError, TypeError, ValueError):
        return 0


def _one_item(item: Any, what: str, index: int) -> tuple[str, Path | bytes | np.ndarray]:
    """(name for messages, path, bytes or array) of one item of a source; paths are named by their path."""
    if _is_path(item):
        path = _path(item)
        return str(path), path
    name = f"{what} #{index}"
    if isinstance(item, np.ndarray):
        return name, item
    if _is_file_bytes(item):
        return name, _file_bytes(item, name)
    raise InputError(
        f"{name} is a {type(item).__name__}; pass file paths, files' bytes or numpy arrays{_array_fix(item, what)}"
    )


def _items(source: Any, what: str, single_ndim: int) -> list[tuple[str, Path | bytes | np.ndarray]]:
    """Split a source into (description, path, bytes or array) items; arrays of ndim single_ndim + 1 are batches."""
    if isinstance(source, np.ndarray):
        if source.ndim == single_ndim + 1:
            if len(source) == 0:
                raise InputError(f"no {what} given (a batch of 0, shape {source.shape})")
            return [(f"{what} #{i}", item) for i, item in enumerate(source)]
        return [(f"{what} #0", source)]
    if _is_path(source) or _is_file_bytes(source):
        return [_one_item(source, what, 0)]
    if isinstance(source, (list, tuple)):
        if not source:
            raise InputError(f"no {what} given (an empty list)")
        return [_one_item(item, what, i) for i, item in enumerate(source)]
    raise InputError(
        f"{what} must be a file path, a numpy array, a file's bytes or a list of them, not {type(source).__name__}"
        f"{_array_fix(source, what)}"
    )


def _array_fix(item: Any, what: str) -> str:
    """The conversion for an object that numpy turns into an array (a PIL image, a tensor, nested lists), ""
    for another: it is refused rather than converted, as a PIL image's array depends on its mode (palette
    indices, RGBA, ...) and a list is a batch."""
    if type(item).__module__.startswith("PIL."):
        # An indexed ("P") label map is read as its palette's colours, as its file is (imageio.png_indexed);
        # a grey one's pixels are its ids.
        rgb = what == "image" or getattr(item, "mode", None) == "P"
        return "; convert the PIL image with " + ('np.asarray(x.convert("RGB"))' if rgb else "np.asarray(x)")
    if hasattr(item, "__array__") or hasattr(item, "__array_interface__"):
        return "; convert it with np.asarray(x)"
    if isinstance(item, (list, tuple)):  # an item of a list: the outer list was read as a batch
        return f"; a list is a batch of {what}s: pass one given as nested lists as np.asarray(x)"
    return ""


def _file_in_array(array: np.ndarray) -> str:
    """The fix for a 1-D uint8 array that holds an image file (np.frombuffer and cv2.imencode give such): an
    array is pixels, so it is refused, and this says to pass its bytes; "" for any other array."""
    if array.ndim != 1 or array.dtype != np.uint8:
        return ""
    try:
        found = probe(array.tobytes())
    except MalformedHeader:
        found = None
    return "" if found is None else f"; it holds a {found[0]} file: pass the file's bytes with x.tobytes()"


def _check_not_empty(array: np.ndarray, source: str) -> None:
    if array.ndim >= 2 and (array.shape[0] == 0 or array.shape[1] == 0):
        raise InputError(f"{source} is empty (shape {array.shape}); pass at least one pixel")


def check_label_array(array: np.ndarray, source: str) -> None:
    """The rules of one label array that need no domain: ids [H, W] of an integer dtype, or a colour mask
    [H, W, 3] of uint8 (what the ids and colours are is the domain's to check)."""
    _check_not_empty(array, source)
    if array.ndim == 3:
        if array.shape[2] == 2:
            raise InputError(
                f"{source}: a label map is [H, W] class ids or an [H, W, 3] colour mask, got 2 channels "
                f"(ids with alpha?); pass labels[..., 0]"
            )
        if array.shape[2] != 3:
            raise InputError(
                f"{source}: a colour mask must have 3 channels (RGB), got {array.shape[2]}; "
                f"drop an alpha channel with mask[..., :3]"
            )
        if array.dtype != np.uint8:
            raise InputError(f"{source}: a colour mask must be uint8 RGB, got dtype {array.dtype}")
    elif array.ndim != 2:
        raise InputError(
            f"{source}: expected a label map [H, W] of class ids or a colour mask [H, W, 3], got shape {array.shape}"
            f"{_file_in_array(array)}"
        )
    elif not np.issubdtype(array.dtype, np.integer):
        raise LabelError(f"{source}: label ids must be integers, got dtype {array.dtype}")


def _label_array(array: np.ndarray, source: str, domain: Domain) -> np.ndarray:
    """One label array -> validated int ids [H, W] (colour masks [H, W, 3] through the palette)."""
    check_label_array(array, source)
    if array.ndim == 3:
        return domain.colors_to_labels(array, source=source)
    return domain.validate_labels(array, source=source)


CHANNEL_COUNTS = (2, 3, 4)  # the last axis of an [H, W, C] label array: grey + alpha, RGB, RGBA


def label_items(source: Any) -> list[tuple[str, Path | bytes | np.ndarray]]:
    """A label source split into single label maps: (name for messages, file path, file's bytes or array)."""
    if isinstance(source, np.ndarray) and source.ndim in (3, 4) and source.shape[-1] == 1:
        source = source[..., 0]  # [H, W, 1] is one id map, [B, H, W, 1] a batch of them
    # [B, H, W, C] is a batch of colour masks; [H, W, 2|3|4] one map with channels (refused unless 3); other
    # 3-d arrays id-map batches [B, H, W] (a batch of maps 2 to 4 pixels wide is no use to anyone).
    colour = isinstance(source, np.ndarray) and (
        source.ndim == 4 or (source.ndim == 3 and source.shape[-1] in CHANNEL_COUNTS)
    )
    return _items(source, "label map", 3 if colour else 2)


def image_items(source: Any) -> list[tuple[str, Path | bytes | np.ndarray]]:
    """An image source split into single images: (name for messages, file path, file's bytes or array)."""
    return _items(source, "image", 3)


def _label_file_bytes(data: bytes, name: str, domain: Domain) -> np.ndarray:
    """A label file's bytes, read as Domain.read_label reads its file (a file that cannot be read is a
    LabelError there too)."""
    try:
        return domain.labels_from_bytes(data, name)
    except ImageReadError as exc:
        raise LabelError(str(exc)) from exc


def load_labels(source: Any, domain: Domain, height: int, width: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """-> (ids int32 [B, height, width], original (H, W) of each label map)."""
    ids, sizes = [], []
    for name, item in label_items(source):
        if isinstance(item, Path):
            labels = domain.read_label(item)
        elif isinstance(item, bytes):
            labels = _label_file_bytes(item, name, domain)
        else:
            labels = _label_array(item, name, domain)
        sizes.append(labels.shape[:2])
        ids.append(resize_labels(labels.astype(np.int32), height, width))
    return np.stack(ids).astype(np.int32), sizes


def _to_uint8(array: np.ndarray) -> str:
    """The conversion to uint8 that keeps what an image array of another dtype holds: floats in [0, 1] are
    scaled, floats and integers in [0, 255] only rounded; another range is the caller's to map."""
    if array.dtype.kind not in "fiub" or array.size == 0:
        return "convert it to uint8 values in [0, 255]"
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if array.dtype.kind == "f" and 0.0 <= low and high <= 1.0:
        return "its values lie in [0, 1]: convert with (np.clip(x, 0, 1) * 255).round().astype(np.uint8)"
    if 0.0 <= low and high <= 255.0:
        return "its values lie in [0, 255]: convert with np.asarray(x).round().astype(np.uint8)"
    return (f"its values lie in [{low:g}, {high:g}], outside [0, 255]: map them to [0, 255] first, then "
            f".round().astype(np.uint8)")


def check_image_array(array: np.ndarray, source: str) -> np.ndarray:
    """One image array, as given: uint8 RGB [H, W, 3], or InputError with the conversion to make."""
    _check_not_empty(array, source)
    if array.dtype != np.uint8:
        raise InputError(f"{source}: images must be uint8 RGB, got dtype {array.dtype}; {_to_uint8(array)}")
    if array.ndim == 2:
        raise InputError(f"{source}: a grey image [H, W]; expand it to RGB with np.repeat(x[..., None], 3, axis=2)")
    if array.ndim != 3 or array.shape[2] != 3:
        channels = array.shape[2] if array.ndim == 3 else "?"
        fix = "drop the alpha channel with x[..., :3]" if channels == 4 else "pass RGB [H, W, 3]"
        fix += _file_in_array(array)
        raise InputError(f"{source}: expected an RGB image [H, W, 3], got shape {array.shape}; {fix}")
    return array


class Picture(NamedTuple):
    """A style image as read: its name for messages, its pixels (uint8 RGB [H, W, 3]), and (height, width)
    as its file stores them where reading turned them by the file's EXIF orientation (else None)."""

    name: str
    rgb: np.ndarray
    stored: tuple[int, int] | None = None


def picture_from_bytes(data: bytes, name: str, max_pixels: int | None = None) -> Picture:
    """An image file's bytes -> its Picture (read as sean_core.imageio.rgb_from_bytes reads it)."""
    rgb = rgb_from_bytes(data, name, max_pixels=max_pixels)
    return Picture(name, rgb, size_before_turn(data, rgb))


def read_images(source: Any) -> list[Picture]:
    """An image source -> a Picture per image (files, by path or bytes, as rgb_from_bytes reads them; arrays as
    given)."""
    return [
        Picture(name, np.ascontiguousarray(check_image_array(item, name))) if isinstance(item, np.ndarray)
        else picture_from_bytes(read_bytes(item) if isinstance(item, Path) else item, name)
        for name, item in image_items(source)
    ]


def image_tensor(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> float32 [3, height, width] in [-1, 1] (resize_image, then v / 127.5 - 1)."""
    return resize_image(rgb, height, width).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0


def load_images(
    source: Any, height: int, width: int
) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int] | None]]:
    """-> (float32 [B, 3, height, width] in [-1, 1], original (H, W) of each image, (H, W) as its file stores
    it where its EXIF orientation turned it, else None: check_pairs' stored_sizes)."""
    pictures = read_images(source)
    tensors = [image_tensor(picture.rgb, height, width) for picture in pictures]
    sizes = [picture.rgb.shape[:2] for picture in pictures]
    return np.stack(tensors).astype(np.float32), sizes, [picture.stored for picture in pictures]


def labels_missing(source: Any) -> bool:
    """Whether a label source leaves some image without its label map: None, or a list with None items."""
    return source is None or (isinstance(source, (list, tuple)) and any(item is None for item in source))


def optional_labels(source: Any, count: int) -> list[Path | bytes | np.ndarray | None]:
    """The label maps of `count` style images where None stands for "none given: segment the image"
    (sean_runtime.segmenter): None for every image, or a list with None items; one item per image."""
    if source is None:
        items: list[Any] = [None] * count
    elif labels_missing(source):
        items = [None if item is None else label_items(item)[0][1] for item in source]
    else:
        items = [item for _, item in label_items(source)]
    check_counts(count, len(items))
    return items


def describe(source: Any, index: int) -> str:
    """How to name item `index` of a source in an error message."""
    if _is_path(source):
        return str(_path(source))
    if isinstance(source, (list, tuple)) and _is_path(source[index]):
        return str(_path(source[index]))
    return f"#{index}"


def check_counts(images: int, labels: int) -> None:
    """As many label maps as style images."""
    if images != labels:
        raise InputError(f"{images} style image(s) but {labels} label map(s); give one label map per image")


def check_pairs(
    images: Any,
    image_sizes: list,
    labels: Any,
    label_sizes: list,
    scaled_ok: bool = False,
    stored_sizes: Sequence[tuple[int, int] | None] | None = None,
) -> None:
    """Images and their label maps: as many of each, and each pair the same size before resizing.

    scaled_ok: the domain stores labels at another scale (Domain.labels_may_be_scaled); then only the
    aspect ratio has to match. stored_sizes: per image, (H, W) as its file stores it where reading turned it
    by its EXIF orientation (Picture.stored), else None: the message then gives both sizes (file managers
    and image tools often give the stored one).
    """
    def fits(image_hw: Sequence[int], label_hw: Sequence[int]) -> bool:
        same = tuple(image_hw) == tuple(label_hw)
        return same or (scaled_ok and image_hw[0] * label_hw[1] == image_hw[1] * label_hw[0])

    check_counts(len(image_sizes), len(label_sizes))
    for i, (image_hw, label_hw) in enumerate(zip(image_sizes, label_sizes, strict=True)):
        if fits(image_hw, label_hw):
            continue
        rule = "the same aspect ratio as" if scaled_ok else "the size of"
        stored = stored_sizes[i] if stored_sizes else None
        size, fix = f"{image_hw[1]}x{image_hw[0]}", "resize one to match (labels with nearest neighbour)"
        if stored is not None:
            size += f" after its EXIF orientation (stored {stored[1]}x{stored[0]})"
            if fits(stored, label_hw):
                fix = "turn the label map as the orientation turns the image, or remove the image's Orientation tag"
        raise InputError(
            f"image {describe(images, i)} is {size} but its label map {describe(labels, i)} is "
            f"{label_hw[1]}x{label_hw[0]} (width x height): a label map must have {rule} its image; {fix}"
        )


def check_encode_extra(extra: Any) -> None:
    """encode's `extra`: the encoder graphs read only the image and its label map, so extra mask channels
    given to encode would be ignored, which is the caller's mistake (the C++ runtime refuses them alike)."""
    if extra is not None:
        raise InputError("this package's encoder takes no extra mask channels (synthesize does): drop `extra` "
                         "from encode")


def load_extra(extra: Any, count: int, channels: int, height: int, width: int) -> np.ndarray | None:
    """Extra mask channels [B, E, H, W] float32 for packages that take them (E > 0), else None."""
    if channels == 0:
        if extra is not None:
            raise InputError("this package takes no extra mask channels; drop the `extra` argument")
        return None
    if extra is None:
        raise InputError(
            f"this package takes {channels} extra mask channel(s) (e.g. instance edges) as extra=[B, {channels}, "
            f"{height}, {width}] float32; pass np.zeros(...) for none"
        )
    array = np.asarray(extra, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.shape != (count, channels, height, width):
        raise InputError(f"extra mask channels must be [{count}, {channels}, {height}, {width}], got {array.shape}")
    return np.ascontiguousarray(array)
