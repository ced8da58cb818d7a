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
from sean_core.imageio import read_ids, read_raw, read_rgb, resize_labels, write_png
from tests.helpers import VOC_PALETTE, centre_pil, packed_grey_rows, palette_png, png_file, symlink_loop

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
    too_long = tmp_path / f"{'a' * 300}.png"  # a file name longer than the file system's 255 bytes
    with pytest.raises(LabelError, match=r"a…a+\.png \(\d+ characters\) cannot be looked up \(File name too long\)"):
        SHAPES.read_label(too_long)


def tiff_with_size_entries(
    width: int, height: int, size_entries: list[tuple[int, int, bytes]], tail: bytes = b""
) -> bytes:
    """A little-endian grey 8-bit TIFF of width x height zero pixels (one deflate strip) whose size entries are
    `size_entries` (tag, type, 4-byte value field), in that order; `tail` lies right after the directory."""
    pixels = zlib.compress(b"\0" * (width * height))
    entries = [*((tag, kind, 1, value) for tag, kind, value in size_entries),
               (258, 3, 1, struct.pack("<HH", 8, 0)), (259, 3, 1, struct.pack("<HH", 8, 0)),
               (262, 3, 1, struct.pack("<HH", 1, 0)), (273, 4, 1, None), (277, 3, 1, struct.pack("<HH", 1, 0)),
               (278, 4, 1, struct.pack("<I", height)), (279, 4, 1, struct.pack("<I", len(pixels)))]  # fmt: skip
    directory_end = 8 + 2 + 12 * len(entries) + 4
    strip = struct.pack("<I", directory_end + len(tail))
    body = b"".join(struct.pack("<HHI", tag, kind, n) + (strip if value is None else value)
                    for tag, kind, n, value in entries)  # fmt: skip
    return b"II*\0" + struct.pack("<IH", 8, len(entries)) + body + b"\0\0\0\0" + tail + pixels


def test_a_tiff_header_its_decoder_reads_as_another_size_is_refused():
    # libtiff takes the first of repeated size entries and follows an 8-byte (LONG8) entry to its value;
    # read any other way, a 300x300 image passes a 256-pixel limit as 16x16 and is decoded whole.
    long = struct.pack("<I", 300)
    repeated = tiff_with_size_entries(300, 300, [(256, 4, long), (256, 4, struct.pack("<I", 16)),
                                                 (257, 4, long), (257, 4, struct.pack("<I", 16))])  # fmt: skip
    tail_at = 8 + 2 + 12 * 9 + 4
    long8 = tiff_with_size_entries(300, 300, [(256, 16, struct.pack("<I", tail_at)),
                                              (257, 16, struct.pack("<I", tail_at + 8))],
                                   tail=struct.pack("<QQ", 300, 300))  # fmt: skip
    refusals = ((repeated, "gives ImageWidth twice"), (long8, "'s ImageWidth is not one 16- or 32-bit number"))
    for data, reason in refusals:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded is not None and decoded.shape == (300, 300)  # what the size check must stop
        with pytest.raises(ImageReadError, match=f"label: the TIFF header ?{reason}; save it again"):
            imageio.ids_from_bytes(data, "label", max_pixels=256)
    def tiled(tile: int) -> bytes:
        entries = [(256, 4, struct.pack("<I", 16)), (257, 4, struct.pack("<I", 16)),
                   (322, 4, struct.pack("<I", tile)), (323, 4, struct.pack("<I", tile))]  # fmt: skip
        return tiff_with_size_entries(16, 16, entries)

    with pytest.raises(imageio.MalformedHeader, match="gives 2048x2048 tiles for a 16x16 image"):
        imageio.probe(tiled(2048))  # a 16x16 image whose one tile libtiff would allocate at 4 megapixels
    assert imageio.probe(tiled(256)) == ("TIFF", 16, 16)  # an ordinary tile size
    plain = tiff_with_size_entries(20, 10, [(256, 3, struct.pack("<HH", 20, 0)), (257, 4, struct.pack("<I", 10))])
    assert imageio.probe(plain) == ("TIFF", 10, 20) and imageio.ids_from_bytes(plain, max_pixels=256).shape == (10, 20)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float64])
def test_a_colour_tiff_of_any_pixel_type_reads_as_rgb_and_is_no_label_map(tmp_path, dtype):
    pixels = np.zeros((4, 5, 3), dtype)
    pixels[..., 0], pixels[..., 2] = 1, 3  # B, G, R as OpenCV stores them
    path = tmp_path / "colour.tif"
    path.write_bytes(encoded(".tif", pixels))
    assert read_raw(path)[0, 0].tolist() == [3, 0, 1] and read_raw(path).dtype == dtype
    with pytest.raises(LabelError, match=rf"colour\.tif (is a colour image of|holds) {np.dtype(dtype)} values"):
        SHAPES.read_label(path)


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
    with pytest.raises(LabelError, match=r"deep\.png is a colour image of uint16 values; colour masks must be 8-bit"):
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



def test_a_palette_png_is_read_by_its_colours_and_a_foreign_palette_says_how_to_keep_the_indices(tmp_path):
    """Label maps are often stored as indexed-colour PNGs whose indices are the class ids (Pascal VOC style).
    Every reader here gives their palette's colours (OpenCV, the C++ runtime's libpng, the browser): in the
    domain's palette that gives the ids; in another one the error names the case and the conversion."""
    from sean_runtime.inputs import ManifestDomain

    shapes = get_domain("shapes")
    ids = (np.arange(48, dtype=np.uint8).reshape(6, 8) % shapes.num_classes)
    own = tmp_path / "own_palette.png"
    own.write_bytes(palette_png(ids, list(shapes.palette)))
    np.testing.assert_array_equal(shapes.read_label(own), ids)
    foreign = tmp_path / "voc_palette.png"
    foreign.write_bytes(palette_png(ids, VOC_PALETTE))
    with pytest.raises(LabelError) as caught:
        shapes.read_label(foreign)
    message = str(caught.value)
    assert message.startswith(f"{foreign} is an indexed-colour (palette) PNG, which is read by its palette's colours")
    used = {tuple(VOC_PALETTE[i]) for i in np.unique(ids).tolist()} - {tuple(c) for c in shapes.palette}
    lowest = sorted(used, key=lambda c: (c[0] << 16) | (c[1] << 8) | c[2])[:5]  # the five lowest as 0xRRGGBB
    assert f"its colours {lowest} are not in the palette of domain 'shapes'" in message
    assert "save them as a single-channel PNG" in message and "\n" not in message
    with pytest.raises(LabelError, match=r"indexed-colour .* there is no palette of domain 'plain' to read them"):
        ManifestDomain("plain", shapes.class_names).labels_from_bytes(foreign.read_bytes(), "label")
    rgb = tmp_path / "rgb.png"  # the same colours as RGB pixels: the colour message, nothing of palettes
    write_png(rgb, read_rgb(foreign))
    with pytest.raises(LabelError, match=r"colours \[.*\] are not in the palette of domain 'shapes'") as caught:
        shapes.read_label(rgb)
    assert "indexed" not in str(caught.value)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_a_grey_label_map_of_1_2_or_4_bits_holds_the_ids_stored(tmp_path, depth):
    """optipng and oxipng store a label map of few classes so; OpenCV stretches the values (4-bit 1 -> 17),
    which read faces' skin as its neck. A picture of the same bits is stretched to 0..255 as it should be."""
    ids = np.random.default_rng(depth).integers(0, 1 << depth, size=(5, 13)).astype(np.uint8)
    ids[0, :2] = 0, (1 << depth) - 1
    path = tmp_path / f"ids{depth}.png"
    path.write_bytes(png_file(13, 5, 0, depth, packed_grey_rows(ids, depth)))
    got = read_ids(path)
    assert got.dtype == np.uint8 and np.array_equal(got, ids), got
    grey = ids.astype(np.uint16) * 255 // ((1 << depth) - 1)
    assert np.array_equal(read_rgb(path), np.repeat(grey[:, :, None], 3, axis=2).astype(np.uint8))
