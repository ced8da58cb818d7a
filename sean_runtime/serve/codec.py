"""Images in JSON: base64 PNG / JPEG in (the pixel count read from the header before decoding), base64 PNG out.

A label map travels as a PNG exactly like a label file: single-channel values are class ids (uint8, or
uint16 past 255 classes), RGB pixels are palette colours. An image travels as PNG or JPEG. Base64 may
carry a data-URL prefix (`data:image/png;base64,`), as a browser canvas writes it.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import cv2
import numpy as np
from sean_domains import Domain
from sean_domains.imageio import ImageReadError, decode_raw, decode_rgb, read_raw, read_rgb

from sean_runtime.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames.
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


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


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment of a JPEG, or None if there is none."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in JPEG_FRAMES and i + 9 <= len(data):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xDA:  # scan data before any frame header
            return None
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def image_size(data: bytes, field: str) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG from its header, without decoding the pixels."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise InputError(f"{field}: a PNG without its IHDR header (truncated or corrupt)")
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(JPEG_SIGNATURE):
        size = _jpeg_size(data)
        if size is None:
            raise InputError(f"{field}: a JPEG without a frame header (truncated or corrupt)")
        return size
    raise InputError(f"{field}: not a PNG or JPEG image (only these two formats are accepted)")


def _checked(text: object, field: str, max_pixels: int) -> bytes:
    data = b64_to_bytes(text, field)
    width, height = image_size(data, field)
    if width * height > max_pixels:
        raise InputError(
            f"{field} is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}; send it smaller"
        )
    if width == 0 or height == 0:
        raise InputError(f"{field} has no pixels ({width}x{height})")
    return data


def decode_image(text: object, field: str, max_pixels: int) -> np.ndarray:
    """base64 PNG / JPEG -> uint8 RGB [H, W, 3], read like an image file (grey expanded, alpha dropped)."""
    return decode_rgb(_checked(text, field, max_pixels), source=field)


def decode_label(text: object, field: str, max_pixels: int, domain: Domain) -> np.ndarray:
    """base64 PNG -> validated class ids int64 [H, W], read like a label file of the domain."""
    raw = decode_raw(_checked(text, field, max_pixels), source=field)
    return domain.labels_from_raw(raw, source=field)


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


def file_to_b64(path: str | Path, as_label: bool) -> str:
    """A PNG or JPEG file as it is (the server decodes the same bytes); other formats re-encoded as PNG."""
    data = Path(path).read_bytes() if Path(path).is_file() else b""
    if data.startswith((PNG_SIGNATURE, JPEG_SIGNATURE)):
        return bytes_to_b64(data)
    return encode_png(read_raw(path) if as_label else read_rgb(path))
