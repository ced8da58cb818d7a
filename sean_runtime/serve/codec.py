"""Images in JSON: base64 image files in (read exactly like image files, sean_core.imageio: the format
and pixel count come from the header before anything is decoded), base64 PNG out.

A label map travels as a PNG exactly like a label file: single-channel values are class ids (uint8, or
uint16 past 255 classes), RGB pixels are palette colours. An image travels as PNG or JPEG (or any
format the runtime reads from files). Base64 may carry a data-URL prefix (`data:image/png;base64,`),
as a browser canvas writes it.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import cv2
import numpy as np

from sean_core.domains import Domain
from sean_core.errors import ImageReadError, InputError
from sean_core.imageio import read_bytes
from sean_runtime.inputs import Picture, picture_from_bytes


def b64_to_bytes(text: object, field: str) -> bytes:
    """A base64 string (optionally a data URL) -> bytes."""
    if not isinstance(text, str):
        raise InputError(f"{field} must be a base64 string (PNG or JPEG), not {type(text).__name__}")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{field} is not valid base64") from None
    if not data:
        raise InputError(f"{field} is empty")
    return data


def bytes_to_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_image(text: object, field: str, max_pixels: int) -> Picture:
    """base64 image file -> its Picture (uint8 RGB [H, W, 3]), read like an image file (grey expanded, alpha
    dropped, turned by its EXIF orientation)."""
    return picture_from_bytes(b64_to_bytes(text, field), field, max_pixels=max_pixels)


def decode_label(text: object, field: str, max_pixels: int, domain: Domain) -> np.ndarray:
    """base64 PNG -> validated class ids int64 [H, W], read like a label file of the domain."""
    return domain.labels_from_bytes(b64_to_bytes(text, field), field, max_pixels)


def png_bytes(array: np.ndarray) -> bytes:
    """uint8 RGB [H, W, 3] or class ids [H, W] (uint8, or uint16 when an id is over 255) -> PNG bytes."""
    if array.ndim == 2:
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise InputError(f"label ids must lie in 0..65535 to travel as a PNG, got {array.min()}..{array.max()}")
        data = array.astype(np.uint8 if array.size == 0 or array.max() <= 255 else np.uint16)
    elif array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
        data = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    else:
        raise InputError(f"only ids [H, W] or uint8 RGB [H, W, 3] encode as PNG, got {array.dtype} {array.shape}")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(data))
    if not ok:
        raise ImageReadError(f"could not encode an array {array.shape} as PNG")
    return encoded.tobytes()


def encode_png(array: np.ndarray) -> str:
    """An image or label map as base64 PNG."""
    return bytes_to_b64(png_bytes(array))


def file_to_b64(path: str | Path) -> str:
    """An image or label file as it is: the server decodes the same bytes exactly as a local runtime would."""
    return bytes_to_b64(read_bytes(path))
