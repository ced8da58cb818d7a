"""Reading and writing images and label maps with errors that name the file and the fix."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sean_runtime.files import atomic_write


class ImageReadError(ValueError):
    """An image or label file that cannot be read."""


def _read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    return path.read_bytes()


def _decode(data: bytes, flags: int, source: str) -> np.ndarray:
    if not data:
        raise ImageReadError(f"{source}: the file is empty")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        raise ImageReadError(f"{source}: not a readable image (corrupt, truncated or unsupported format)")
    return image


def decode_rgb(data: bytes, source: str = "image") -> np.ndarray:
    """The bytes of an image file -> uint8 [H, W, 3] RGB (grey is expanded, alpha dropped)."""
    return cv2.cvtColor(_decode(data, cv2.IMREAD_COLOR, source), cv2.COLOR_BGR2RGB)


def decode_raw(data: bytes, source: str = "label map") -> np.ndarray:
    """The bytes of an image file exactly as stored (label maps): [H, W] or [H, W, 3], dtype kept (uint8/uint16)."""
    image = _decode(data, cv2.IMREAD_UNCHANGED, source)
    if image.ndim == 3 and image.shape[2] >= 3:
        image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
    return image


def read_rgb(path: str | Path) -> np.ndarray:
    """Any image file -> uint8 [H, W, 3] RGB (grey is expanded, alpha dropped)."""
    return decode_rgb(_read_bytes(path), str(path))


def read_raw(path: str | Path) -> np.ndarray:
    """An image file exactly as stored (label maps): [H, W] or [H, W, C], dtype kept (uint8/uint16)."""
    return decode_raw(_read_bytes(path), str(path))


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write [H, W] ids or [H, W, 3] RGB uint8 as PNG, atomically."""
    path = Path(path)
    data = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(data))
    if not ok:
        raise ImageReadError(f"could not encode {path} as PNG")
    return atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()))


def write_jpg(path: str | Path, rgb: np.ndarray, quality: int = 95) -> Path:
    path = Path(path)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageReadError(f"could not encode {path} as JPEG")
    return atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()))


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a label map (never blends ids); the dtype is kept."""
    if labels.shape[:2] == (height, width):
        return labels
    # OpenCV has no 64-bit integer resize; ids and instance ids fit in int32.
    work = labels.astype(np.int32) if labels.dtype in (np.int64, np.uint32, np.uint64) else labels
    return cv2.resize(work, (width, height), interpolation=cv2.INTER_NEAREST).astype(labels.dtype, copy=False)


def resize_image(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize (area when shrinking a lot) of an RGB image."""
    if rgb.shape[:2] == (height, width):
        return rgb
    shrink = rgb.shape[0] > 2 * height or rgb.shape[1] > 2 * width
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
