"""Reading and writing images and label maps with errors that name the file and the fix.

Every file is checked before it is decoded: its format must be one of READ_FORMATS and the size in its
header at most `max_image_pixels()` (default DEFAULT_MAX_IMAGE_PIXELS, set SEAN_MAX_IMAGE_PIXELS to
change it), so a small file that decodes to gigabytes (a 33000² grey PNG is 1 MB) is refused at once.
Label and instance-id files must also be lossless and hold integers (`read_ids`).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from sean_core.errors import ImageReadError
from sean_core.files import FOLDER, MISSING, NOT_REGULAR, atomic_write, path_problem, shown_path

MAX_IMAGE_PIXELS_ENV = "SEAN_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 1 << 25  # 33.5 megapixels, e.g. 8192 x 4096
READ_FORMATS = ("PNG", "JPEG", "BMP", "WebP", "TIFF")
LOSSY_FORMATS = ("JPEG", "lossy WebP")


def quiet_opencv_log() -> None:
    """OpenCV's own log off but for fatal errors: a file it cannot read is an ImageReadError of one line, and its
    log added lines of ERROR or WARN text (libtiff's, a decoder's assertion) to stderr for each such file, so a
    server's clients could fill its log with them. OpenCV 5 has the call in cv2.utils.logging, OpenCV 4 (the
    Triton models' environment pins it) as cv2.setLogLevel; level 1 is LOG_LEVEL_FATAL in both."""
    api = getattr(cv2.utils, "logging", None)
    if api is not None:
        api.setLogLevel(api.LOG_LEVEL_FATAL)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(1)


quiet_opencv_log()

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def max_image_pixels() -> int:
    """The largest image (height x width) any reader decodes: $SEAN_MAX_IMAGE_PIXELS or the default."""
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise ImageReadError(f"{MAX_IMAGE_PIXELS_ENV}={text!r} is not a positive whole number of pixels")
    return int(text)


def _png(data: bytes) -> tuple[str, int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return "PNG", height, width


def _jpeg(data: bytes) -> tuple[str, int, int] | None:
    if data[:3] != b"\xff\xd8\xff":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # segments without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return "JPEG", height, width
        if marker == 0xDA or length < 2:  # image data before any frame header
            return None
        pos += 2 + length
    return None


def _bmp(data: bytes) -> tuple[str, int, int] | None:
    if data[:2] != b"BM" or len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return "BMP", abs(height), abs(width)


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) of the chunks of a RIFF WebP file."""
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _webp(data: bytes) -> tuple[str, int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunks = _webp_chunks(data)
    if not chunks:
        return None
    kind = "lossy WebP" if any(fourcc == b"VP8 " for fourcc, _ in chunks) else "WebP"
    fourcc, payload = chunks[0]
    if fourcc == b"VP8 " and len(payload) >= 10:
        width, height = struct.unpack("<HH", payload[6:10])
        return kind, height & 0x3FFF, width & 0x3FFF
    if fourcc == b"VP8L" and len(payload) >= 5:
        (bits,) = struct.unpack("<I", payload[1:5])
        return kind, ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if fourcc == b"VP8X" and len(payload) >= 10:
        width = int.from_bytes(payload[4:7], "little") + 1
        height = int.from_bytes(payload[7:10], "little") + 1
        return kind, height, width
    return None


class MalformedHeader(ValueError):
    """A header that names a format but that its decoder could read differently (the reason is the message)."""


TIFF_SIZE_TAGS = {256: "ImageWidth", 257: "ImageLength", 322: "TileWidth", 323: "TileLength"}
TIFF_SHORT, TIFF_LONG = 3, 4
# libtiff decodes a tiled TIFF a whole tile at a time: tiles beyond the image and beyond this area would
# let a header pass the size check as a small image and still allocate the tile's size.
TIFF_TILE_AREA_FREE = 1024 * 1024


def _tiff(data: bytes) -> tuple[str, int, int] | None:
    """A classic TIFF's first image size. Every size entry (image and tile) must be one SHORT or LONG, given
    once: libtiff reads the first of repeated entries and follows an 8-byte entry to its value, so a header
    read any other way could pass the size check and decode to another size (BigTIFF is not read); tiles
    may not be far larger than the image (TIFF_TILE_AREA_FREE)."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8 or struct.unpack(order + "H", data[2:4])[0] != 42:
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    size: dict[int, int] = {}
    for i in range(count):
        entry = data[offset + 2 + 12 * i : offset + 14 + 12 * i]
        if len(entry) < 12:
            return None
        tag, kind, values = struct.unpack(order + "HHI", entry[:8])
        if tag not in TIFF_SIZE_TAGS:
            continue
        if tag in size:
            raise MalformedHeader(f"the TIFF header gives {TIFF_SIZE_TAGS[tag]} twice")
        if kind not in (TIFF_SHORT, TIFF_LONG) or values != 1:
            raise MalformedHeader(f"the TIFF header's {TIFF_SIZE_TAGS[tag]} is not one 16- or 32-bit number")
        short = kind == TIFF_SHORT
        size[tag] = struct.unpack(order + ("H" if short else "I"), entry[8:10] if short else entry[8:12])[0]
    if 256 not in size or 257 not in size:
        return None
    height, width = size[257], size[256]
    tile_width, tile_height = size.get(322, 0), size.get(323, 0)
    if tile_width * tile_height > max(width * height, TIFF_TILE_AREA_FREE):
        raise MalformedHeader(f"the TIFF header gives {tile_width}x{tile_height} tiles for a {width}x{height} image")
    return "TIFF", height, width


def probe(data: bytes) -> tuple[str, int, int] | None:
    """(format, height, width) from an image file's header, or None when it is not one of READ_FORMATS.
    Raises MalformedHeader for a header whose size its decoder could read otherwise."""
    for reader in (_png, _jpeg, _bmp, _webp, _tiff):
        try:
            found = reader(data)
        except struct.error:  # a header cut short
            found = None
        if found is not None:
            return found
    return None


def _decode(data: bytes, flags: int, source: str, lossless: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """The bytes of an image file -> its pixels, after the header says the format and size are acceptable.

    max_pixels: the largest width x height (default max_image_pixels(), from SEAN_MAX_IMAGE_PIXELS).
    """
    if not data:
        raise ImageReadError(f"{source}: the file is empty")
    try:
        found = probe(data)
    except MalformedHeader as exc:
        raise ImageReadError(f"{source}: {exc}; save it again with a common tool") from None
    if found is None:
        raise ImageReadError(f"{source}: not a readable image (not one of the formats {', '.join(READ_FORMATS)})")
    kind, height, width = found
    limit = max_image_pixels() if max_pixels is None else max_pixels
    if height < 1 or width < 1:
        raise ImageReadError(f"{source}: the {kind} header gives a size of {width}x{height} pixels")
    if height * width > limit:
        if max_pixels is None:
            which, fix = f" ({MAX_IMAGE_PIXELS_ENV})", f"resize it, or raise {MAX_IMAGE_PIXELS_ENV}"
        else:
            which, fix = "", "send it smaller"
        raise ImageReadError(f"{source} is {width}x{height} pixels, more than the limit of {limit}{which}; {fix}")
    if lossless and kind in LOSSY_FORMATS:
        raise ImageReadError(
            f"{source} is a {kind} file: lossy compression changes ids at region borders; "
            f"save label maps as PNG (or another lossless format)"
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise ImageReadError(f"{source}: OpenCV cannot decode it ({str(exc).strip().splitlines()[-1]})") from exc
    if image is None:
        raise ImageReadError(f"{source}: not a readable image (corrupt, truncated or unsupported format)")
    return image


def read_bytes(path: str | Path) -> bytes:
    """The bytes of an image file, with one-line errors for folders, missing and unreadable files."""
    path = Path(path)
    shown = shown_path(path)
    problem = path_problem(path)
    if problem == MISSING:
        raise ImageReadError(f"{shown}: no such file")
    if problem == FOLDER:  # from path_problem: Path.is_dir raises on a name too long
        raise ImageReadError(f"{shown} is a folder, not an image file")
    if problem == NOT_REGULAR:  # the C++ runtime's read_bytes (sean_runtime/cpp/src/image_io.cpp) says the same
        raise ImageReadError(f"{shown} {NOT_REGULAR}; give an image file")
    if problem is not None:  # a loop of symbolic links, a link to nothing, a pipe (which would block), ...
        raise ImageReadError(f"{shown} {problem}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{shown} cannot be read: {exc.strerror or exc}") from exc


def rgb_from_bytes(data: bytes, source: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """The bytes of an image file -> uint8 [H, W, 3] RGB (grey is expanded, alpha dropped)."""
    return cv2.cvtColor(_decode(data, cv2.IMREAD_COLOR, source, max_pixels=max_pixels), cv2.COLOR_BGR2RGB)


def size_before_turn(data: bytes, rgb: np.ndarray) -> tuple[int, int] | None:
    """(height, width) as an image file stores its pixels, where reading it (rgb_from_bytes) turned them by
    the file's EXIF orientation so that `rgb` has height and width swapped (orientations 5 to 8: phone
    photos are stored sideways); else None."""
    found = probe(data)
    height, width = rgb.shape[:2]
    if found is None or height == width or found[1:] != (width, height):
        return None
    return found[1], found[2]


def raw_from_bytes(data: bytes, source: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """The bytes of an image file exactly as stored: [H, W] or [H, W, C], dtype kept (uint8/uint16)."""
    return _raw(_decode(data, cv2.IMREAD_UNCHANGED, source, max_pixels=max_pixels))


PNG_GREY, PNG_INDEXED, PNG_GREY_ALPHA = 0, 3, 4  # IHDR colour types


def _png_grey_alpha(data: bytes) -> bool:
    """A PNG stored as grey + alpha: OpenCV decodes it as four channels, the grey repeated as B, G, R."""
    return _png(data) is not None and len(data) > 25 and data[25] == PNG_GREY_ALPHA


def png_indexed(data: bytes) -> bool:
    """An indexed-colour (palette) PNG. Every reader of the project gives its pixels as their palette's colours,
    never as the indices stored: OpenCV here, libpng's expansion in the C++ runtime, the browser in the editor."""
    return _png(data) is not None and len(data) > 25 and data[25] == PNG_INDEXED


def _png_packed_grey_depth(data: bytes) -> int | None:
    """The bit depth of a grey PNG of 1, 2 or 4 bits per pixel (lossless optimisers write label maps of
    few classes so), else None. OpenCV stretches such values to 0..255 as for a picture: 1 -> 255, 17, 85."""
    if _png(data) is None or len(data) <= 25 or data[25] != PNG_GREY or data[24] not in (1, 2, 4):
        return None
    return data[24]


def ids_from_bytes(data: bytes, source: str = "label map", max_pixels: int | None = None) -> np.ndarray:
    """The bytes of a label map or instance-id file: integer ids [H, W], or an 8-bit RGB colour mask [H, W, 3].

    Refused with the reason: lossy files (JPEG, lossy WebP), non-integer values (a float TIFF would be
    truncated), and colour masks of more than 8 bits per channel (the palettes are 8-bit). A grey + alpha
    PNG is grey ids with the alpha dropped, and a grey PNG of 1, 2 or 4 bits holds ids 0..1, 0..3 or 0..15,
    as the C++ runtime reads them.
    """
    image = _raw(_decode(data, cv2.IMREAD_UNCHANGED, source, lossless=True, max_pixels=max_pixels))
    if _png_grey_alpha(data) and image.ndim == 3:  # grey ids with alpha: the alpha is dropped, as documented
        image = np.ascontiguousarray(image[:, :, 0])
    depth = _png_packed_grey_depth(data)
    if depth is not None and image.ndim == 2:  # the ids are the values stored, not OpenCV's stretch of them
        image = image // np.uint8(255 // ((1 << depth) - 1))
    if not np.issubdtype(image.dtype, np.integer):
        raise ImageReadError(
            f"{source} holds {image.dtype} values, not integer ids; save label maps as 8- or 16-bit PNG"
        )
    if image.ndim == 3 and image.dtype != np.uint8:
        raise ImageReadError(
            f"{source} is a colour image of {image.dtype} values; colour masks must be 8-bit RGB (uint8) in the "
            f"domain's palette (or save class ids as a single-channel PNG)"
        )
    return image


def read_rgb(path: str | Path) -> np.ndarray:
    """Any image file -> uint8 [H, W, 3] RGB (grey is expanded, alpha dropped)."""
    return rgb_from_bytes(read_bytes(path), str(path))


def read_raw(path: str | Path) -> np.ndarray:
    """An image file exactly as stored (label maps): [H, W] or [H, W, C], dtype kept (uint8/uint16)."""
    return raw_from_bytes(read_bytes(path), str(path))


def _raw(image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A) -> RGB (alpha dropped), for any dtype: OpenCV's own conversion takes only 8- and 16-bit
    and float32 pixels, and a TIFF can hold others."""
    if image.ndim == 3 and image.shape[2] >= 3:
        image = np.ascontiguousarray(image[:, :, 2::-1])
    return image


def read_ids(path: str | Path) -> np.ndarray:
    """A label map or instance-id file as stored (ids_from_bytes on the file's bytes)."""
    return ids_from_bytes(read_bytes(path), str(path))


def write_png(path: str | Path, array: np.ndarray, exclusive: bool = False, level: int | None = None) -> Path:
    """Write [H, W] ids or [H, W, 3] RGB uint8 as PNG, atomically (exclusive: only as a new file, atomic_write);
    level: zlib level 0-9 (None: OpenCV's default, fast and large; 6 for pictures that are kept, a third the size)."""
    path = Path(path)
    data = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    params = [] if level is None else [cv2.IMWRITE_PNG_COMPRESSION, level]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(data), params)
    if not ok:
        raise ImageReadError(f"could not encode {path} as PNG")
    return atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()), exclusive)


def write_jpg(path: str | Path, rgb: np.ndarray, quality: int = 95, exclusive: bool = False) -> Path:
    """Write RGB uint8 [H, W, 3] as JPEG, atomically (exclusive: only as a new file, atomic_write)."""
    path = Path(path)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageReadError(f"could not encode {path} as JPEG")
    return atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()), exclusive)


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source index int64 [size_out] of each output pixel on one axis: pixel-centre nearest sampling.

    Output pixel x samples the input at its centre, (x + 0.5) * in / out, truncated, with the centre
    advanced by one float64 addition of the scale per pixel, exactly as PIL's NEAREST resize does (SPADE
    and SEAN resize labels with it) and OpenCV 5's INTER_NEAREST_EXACT. The accumulation makes exact
    ties land as PIL's do, so the C++ runtime, which adds the same float64 numbers, matches bit for bit.
    """
    scale = size_in / size_out
    centres = np.full(size_out, scale)
    centres[0] = 0.5 * scale
    return np.minimum(np.add.accumulate(centres).astype(np.int64), size_in - 1)


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a label or instance-id map [H, W] (never blends ids); the dtype is kept.

    Pixel-centre sampling (nearest_indices); OpenCV's INTER_NEAREST would sample floor(x * in / out)
    and shift labels by up to a pixel against their images.
    """
    if labels.shape[:2] == (height, width):
        return labels
    rows = nearest_indices(labels.shape[0], height)
    cols = nearest_indices(labels.shape[1], width)
    return labels[rows[:, None], cols[None, :]]


def resize_image(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize (area when shrinking a lot) of an RGB image."""
    if rgb.shape[:2] == (height, width):
        return rgb
    shrink = rgb.shape[0] > 2 * height or rgb.shape[1] > 2 * width
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
