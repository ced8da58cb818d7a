"""Image and label files: headers probed before decoding, the size cap, lossless integer labels, and
label resizing that samples pixel centres exactly as PIL's NEAREST (what SPADE and SEAN train on)."""

from __future__ import annotations

import os
import struct
import time
import zlib

import cv2
import numpy as np
import pytest

import sean_core.imageio as imageio
from sean_core.domains import LabelError, get_domain
from sean_core.errors import ImageReadError
from sean_core.imageio import read_ids, read_raw, read_rgb, resize_labels
from tests.helpers import centre_pil, png_file, symlink_loop

ENV = "SEAN_MAX_IMAGE_PIXELS"

SHAPES = get_domain("shapes")


def encoded(ext: str, array: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(ext, array, list(params))
    assert ok
    return data.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit grey) followed by a few bytes of image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + data + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("ext", "params", "kind"),
    [(".png", (), "PNG"), (".jpg", (), "JPEG"), (".bmp", (), "BMP"), (".tif", (), "TIFF"),
     (".webp", (cv2.IMWRITE_WEBP_QUALITY, 80), "lossy WebP"), (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101), "WebP")],
)  # fmt: skip
def test_probe_reads_format_and_size_from_the_header(ext, params, kind):
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    assert imageio.probe(encoded(ext, image, *params)) == (kind, 37, 53)


def test_a_small_file_that_decodes_to_gigapixels_is_refused_at_once(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(33000, 33000))
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match=r"huge\.png is 33000x33000 pixels, more than the limit of "
                                             r"33554432 \(SEAN_MAX_IMAGE_PIXELS\)"):
        read_rgb(path)
    with pytest.raises(LabelError, match="more than the limit"):
        SHAPES.read_label(path)
    assert time.perf_counter() - start < 1.0


def test_the_size_cap_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "twenty.png"
    path.write_bytes(encoded(".png", np.zeros((20, 20), np.uint8)))
    assert read_raw(path).shape == (20, 20)
    monkeypatch.setenv(ENV, "399")
    with pytest.raises(ImageReadError, match="20x20 pixels, more than the limit of 399"):
        read_raw(path)
    monkeypatch.setenv(ENV, "400")
    assert read_raw(path).shape == (20, 20)
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ImageReadError, match=f"{ENV}='lots' is not a positive whole number"):
        read_raw(path)


def test_a_folder_is_not_reported_as_a_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="is a folder, not an image file"):
        read_rgb(tmp_path)
    with pytest.raises(ImageReadError, match="no such file"):
        read_rgb(tmp_path / "absent.png")


def test_links_to_nothing_loops_and_pipes_are_named_for_what_they_are(tmp_path):
    """Each is one line that says what the path is (a loop was "no such file" before; a pipe would block)."""
    with pytest.raises(ImageReadError, match=r"loop\.png is a loop of symbolic links"):
        read_rgb(symlink_loop(tmp_path / "loop.png"))
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(LabelError, match=r"dangling\.png is a symbolic link to .*gone\.png, which does not exist"):
        SHAPES.read_label(tmp_path / "dangling.png")
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageReadError, match=r"pipe\.png is not a regular file"):
        read_rgb(tmp_path / "pipe.png")


def test_a_float_tiff_label_is_refused_not_truncated(tmp_path):
    path = tmp_path / "float.tif"
    path.write_bytes(encoded(".tif", np.full((8, 8), 2.9999, np.float32)))
    with pytest.raises(LabelError, match=r"float\.tif holds float32 values, not integer ids"):
        SHAPES.read_label(path)
    nan = tmp_path / "nan.tif"
    nan.write_bytes(encoded(".tif", np.full((8, 8), np.nan, np.float32)))
    with pytest.raises(LabelError) as caught:
        SHAPES.read_label(nan)
    assert "float32 values" in str(caught.value) and "-9223372036854775808" not in str(caught.value)


def test_lossy_label_files_are_refused(tmp_path):
    labels = SHAPES.sample(0, "test")[1].astype(np.uint8)
    grey_jpeg = tmp_path / "grey.jpg"
    grey_jpeg.write_bytes(encoded(".jpg", labels))
    with pytest.raises(LabelError, match=r"grey\.jpg is a JPEG file: lossy compression changes ids"):
        SHAPES.read_label(grey_jpeg)
    lossy_webp = tmp_path / "lossy.webp"
    lossy_webp.write_bytes(encoded(".webp", cv2.cvtColor(SHAPES.labels_to_colors(labels), cv2.COLOR_RGB2BGR),
                                   cv2.IMWRITE_WEBP_QUALITY, 90))  # fmt: skip
    with pytest.raises(LabelError, match="lossy WebP"):
        SHAPES.read_label(lossy_webp)
    lossless = tmp_path / "lossless.webp"
    lossless.write_bytes(encoded(".webp", cv2.cvtColor(SHAPES.labels_to_colors(labels), cv2.COLOR_RGB2BGR),
                                 cv2.IMWRITE_WEBP_QUALITY, 101))  # fmt: skip
    np.testing.assert_array_equal(SHAPES.read_label(lossless), labels)
    # Style images may be JPEG: only label and instance files must be lossless.
    assert read_rgb(grey_jpeg).shape == (*labels.shape, 3)


def test_a_16_bit_colour_mask_is_refused_with_the_reason(tmp_path):
    colours = SHAPES.labels_to_colors(SHAPES.sample(0, "test")[1]).astype(np.uint16) * 257
    path = tmp_path / "deep.png"
    path.write_bytes(encoded(".png", colours))
    assert read_raw(path).dtype == np.uint16
    with pytest.raises(LabelError, match=r"deep\.png is a 16-bit colour image; colour masks must be 8-bit RGB"):
        SHAPES.read_label(path)
    ids16 = tmp_path / "ids16.png"
    ids16.write_bytes(encoded(".png", np.full((4, 4), 26001, np.uint16)))
    assert imageio.read_ids(ids16).dtype == np.uint16  # 16-bit ids (Cityscapes instances) are fine


# --- label resizing -------------------------------------------------------------------------------

def centre_rational(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index of each output pixel, floor((x + 0.5) * in / out) in exact integers, and whether the
    centre falls exactly on a source pixel border (a tie, where floating-point samplers may go either way)."""
    x = np.arange(n_out)
    return ((2 * x + 1) * n_in) // (2 * n_out), ((2 * x + 1) * n_in) % (2 * n_out) == 0


SIZES = [(512, 256), (256, 512), (1024, 683), (683, 1024), (286, 256), (37, 64), (64, 37), (3, 7), (7, 3),
         (100, 100), (4, 6), (1, 5), (150, 23)]  # fmt: skip


@pytest.mark.parametrize(("n_in", "n_out"), SIZES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
def test_labels_are_resized_by_pixel_centre_sampling(n_in, n_out, dtype):
    rng = np.random.default_rng(n_in * 1000 + n_out)
    height_in, height_out = n_in, n_out
    width_in, width_out = n_out + 3, n_in + 1  # another ratio on the other axis
    ids = rng.integers(0, 60000 if dtype == np.uint16 else 200, (height_in, width_in)).astype(dtype)
    out = resize_labels(ids, height_out, width_out)
    assert out.dtype == dtype and out.shape == (height_out, width_out)
    rows, row_ties = centre_rational(height_in, height_out)
    cols, col_ties = centre_rational(width_in, width_out)
    exact = ~row_ties[:, None] & ~col_ties[None, :]
    np.testing.assert_array_equal(out[exact], ids[np.ix_(rows, cols)][exact])
    np.testing.assert_array_equal(out, ids[np.ix_(centre_pil(height_in, height_out), centre_pil(width_in, width_out))])


def test_halving_takes_the_odd_pixels_as_sean_does():
    ids = np.arange(16, dtype=np.int64).reshape(4, 4)
    np.testing.assert_array_equal(resize_labels(ids, 2, 2), ids[1::2, 1::2])


def test_a_grey_alpha_label_map_holds_class_ids_with_the_alpha_dropped(tmp_path):
    """As documented (and as the C++ runtime reads it): grey + alpha is grey ids, not a colour mask."""
    ids = (np.arange(64, dtype=np.uint8).reshape(8, 8) % 7)
    rows = b"".join(b"\x00" + row.tobytes() for row in np.stack([ids, np.full_like(ids, 200)], axis=-1))
    path = tmp_path / "grey_alpha.png"
    path.write_bytes(png_file(8, 8, 4, 8, rows))
    got = read_ids(path)
    assert got.shape == (8, 8) and np.array_equal(got, ids)

