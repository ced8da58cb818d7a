"""Images and label maps into graph tensors: accepted forms, nearest resizing, and every bad input's message."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sean_core.domains import LabelError, get_domain
from sean_core.errors import ImageReadError, InputError
from sean_core.imageio import write_png
from sean_runtime.inputs import (
    ManifestDomain,
    check_pairs,
    load_extra,
    load_images,
    load_labels,
    read_images,
    resolve_domain,
)
from tests.helpers import with_exif_orientation

SHAPES = get_domain("shapes")


def test_id_maps_are_resized_with_nearest_neighbour():
    labels = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    ids, sizes = load_labels(labels, SHAPES, 4, 4)
    assert ids.dtype == np.int32 and ids.shape == (1, 4, 4)
    expected = np.repeat(np.repeat(labels, 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(ids[0], expected)
    assert sizes == [(2, 2)]


def test_colour_masks_files_batches_and_lists_give_the_same_ids(tmp_path):
    _, labels = SHAPES.sample(0, "test")
    colours = SHAPES.labels_to_colors(labels)
    write_png(tmp_path / "ids.png", labels.astype(np.uint8))
    write_png(tmp_path / "colours.png", colours)
    h, w = labels.shape
    for source in (labels, colours, tmp_path / "ids.png", str(tmp_path / "colours.png"), [labels]):
        ids, _ = load_labels(source, SHAPES, h, w)
        np.testing.assert_array_equal(ids[0], labels)
    batch, _ = load_labels(np.stack([labels, labels]), SHAPES, h, w)
    assert batch.shape == (2, h, w)
    colour_batch, _ = load_labels(np.stack([colours, colours, colours]), SHAPES, h, w)
    assert colour_batch.shape == (3, h, w)


def test_label_values_outside_the_classes_are_named():
    labels = np.zeros((8, 8), np.int64)
    labels[0, 0] = 9
    with pytest.raises(LabelError, match=r"values \[9\] are outside the 8 classes"):
        load_labels(labels, SHAPES, 8, 8)


def test_label_dtype_and_channel_errors():
    with pytest.raises(LabelError, match="must be integers"):
        load_labels(np.zeros((8, 8), np.float32), SHAPES, 8, 8)
    with pytest.raises(InputError, match="3 channels"):
        load_labels(np.zeros((8, 8, 4), np.uint8), SHAPES, 8, 8)
    with pytest.raises(InputError, match="uint8"):
        load_labels(np.zeros((8, 8, 3), np.float32), SHAPES, 8, 8)
    with pytest.raises(LabelError, match="not in the palette"):
        load_labels(np.full((8, 8, 3), 17, np.uint8), SHAPES, 8, 8)
    with pytest.raises(InputError, match="file path, a numpy array"):
        load_labels(42, SHAPES, 8, 8)


def test_images_become_float_tensors_in_minus_one_to_one():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    tensor, sizes, stored = load_images(rgb, 8, 12)
    assert tensor.shape == (1, 3, 8, 12) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, 0], 1.0)
    np.testing.assert_allclose(tensor[0, 1:], -1.0)
    assert sizes == [(4, 6)] and stored == [None]


def test_image_dtype_shape_and_channel_errors():
    with pytest.raises(InputError, match="uint8 RGB, got dtype float32"):
        load_images(np.zeros((8, 8, 3), np.float32), 8, 8)
    with pytest.raises(InputError, match="grey image"):
        load_images(np.zeros((8, 8), np.uint8), 8, 8)
    with pytest.raises(InputError, match="drop the alpha channel"):
        load_images(np.zeros((8, 8, 4), np.uint8), 8, 8)


def pil_image(mode: str) -> object:
    """Stands in for a PIL image (PIL is no dependency): its class lives in a PIL module, numpy converts it."""
    cls = type("PngImageFile", (), {"__module__": "PIL.PngImagePlugin", "mode": mode,
                                    "__array__": lambda self, *args, **kwargs: np.zeros((8, 8), np.uint8)})
    return cls()


@pytest.mark.parametrize("as_list", [False, True])
def test_a_pil_image_or_another_array_like_is_told_its_conversion(as_list):
    def given(item: object) -> object:
        return [item] if as_list else item

    rgb = r'convert the PIL image with np\.asarray\(x\.convert\("RGB"\)\)$'
    with pytest.raises(InputError, match="PngImageFile; .*" + rgb):
        load_images(given(pil_image("RGBA")), 8, 8)
    with pytest.raises(InputError, match=r"PngImageFile; .*convert the PIL image with np\.asarray\(x\)$"):
        load_labels(given(pil_image("L")), SHAPES, 8, 8)
    with pytest.raises(InputError, match=rgb):
        load_labels(given(pil_image("P")), SHAPES, 8, 8)  # its file is read as the palette's colours
    tensor = type("Tensor", (), {"__array__": lambda self, *args, **kwargs: np.zeros((8, 8), np.uint8)})()
    with pytest.raises(InputError, match=r"Tensor; .*convert it with np\.asarray\(x\)$"):
        load_labels(given(tensor), SHAPES, 8, 8)


def test_a_label_map_as_nested_lists_is_told_to_become_an_array():
    with pytest.raises(InputError, match=r"^label map #0 is a list; .*a list is a batch of label maps: .*np\.asarray"):
        load_labels(np.zeros((8, 8), np.int64).tolist(), SHAPES, 8, 8)


def test_unreadable_truncated_and_missing_files(tmp_path):
    image, _ = SHAPES.sample(1, "test")
    write_png(tmp_path / "good.png", image)
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="truncated"):
        load_images(tmp_path / "truncated.png", 64, 64)
    with pytest.raises(ImageReadError, match="not a readable image"):
        load_images(tmp_path / "text.png", 64, 64)
    with pytest.raises(ImageReadError, match="empty"):
        load_images(tmp_path / "empty.png", 64, 64)
    with pytest.raises(ImageReadError, match="no such file"):
        load_images(tmp_path / "missing.png", 64, 64)
    with pytest.raises(LabelError, match="truncated"):
        load_labels(tmp_path / "truncated.png", SHAPES, 64, 64)


def test_image_and_label_sizes_must_match():
    check_pairs("a.png", [(64, 64)], "a_label.png", [(64, 64)])
    with pytest.raises(InputError, match=r"image a.png is 64x48 but its label map b.png is 64x64"):
        check_pairs("a.png", [(48, 64)], "b.png", [(64, 64)])
    with pytest.raises(InputError, match="2 style image"):
        check_pairs(None, [(8, 8), (8, 8)], None, [(8, 8)])
    check_pairs("a", [(1024, 1024)], "b", [(512, 512)], scaled_ok=True)  # CelebA-HQ: labels at half size
    with pytest.raises(InputError, match="aspect ratio"):
        check_pairs("a", [(1024, 768)], "b", [(512, 512)], scaled_ok=True)


@pytest.mark.parametrize("kind", [".jpg", ".png"])
def test_an_image_turned_by_its_exif_orientation_keeps_its_stored_size(tmp_path, kind):
    """Orientations 5 to 8 swap width and height on reading; the size the file stores is kept for messages."""
    ok, encoded = cv2.imencode(kind, np.zeros((16, 24, 3), np.uint8))  # stored: 24 wide, 16 high
    assert ok
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}{kind}"
        path.write_bytes(with_exif_orientation(encoded.tobytes(), orientation))
        (picture,) = read_images(path)
        turned = orientation >= 5
        assert picture.rgb.shape[:2] == ((24, 16) if turned else (16, 24)), orientation
        assert picture.stored == ((16, 24) if turned else None), orientation
        _, sizes, stored = load_images([path], 8, 8)
        assert sizes == [picture.rgb.shape[:2]] and stored == [picture.stored]
    square = tmp_path / f"square{kind}"  # turned, but of the same size either way: nothing to say
    square.write_bytes(with_exif_orientation(cv2.imencode(kind, np.zeros((16, 16, 3), np.uint8))[1].tobytes(), 6))
    assert read_images(square)[0].stored is None


def test_a_size_mismatch_of_a_turned_image_gives_both_sizes_and_the_fix(tmp_path):
    encoded = cv2.imencode(".jpg", np.zeros((16, 24, 3), np.uint8))[1]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(with_exif_orientation(encoded.tobytes(), 6))
    _, sizes, stored = load_images(photo, 8, 8)
    as_stored = "photo_label.png"  # drawn on the pixels as stored, 24x16
    with pytest.raises(InputError) as caught:
        check_pairs(photo, sizes, as_stored, [(16, 24)], stored_sizes=stored)
    message = str(caught.value)
    assert f"image {photo} is 16x24 after its EXIF orientation (stored 24x16) but its label map" in message
    assert "turn the label map as the orientation turns the image, or remove the image's Orientation tag" in message
    assert "\n" not in message
    with pytest.raises(InputError, match=r"\(stored 24x16\) but its label map other.png is 9x9 .*; resize one"):
        check_pairs(photo, sizes, "other.png", [(9, 9)], stored_sizes=stored)
    with pytest.raises(InputError) as caught:  # an image as stored (no turn) says nothing of orientations
        check_pairs("a.png", [(16, 24)], "b.png", [(9, 9)], stored_sizes=[None])
    assert "orientation" not in str(caught.value).lower()
    check_pairs(photo, sizes, "turned_label.png", [(24, 16)], stored_sizes=stored)  # drawn on the turned image


def test_without_the_domain_plugin_ids_still_work_and_colour_masks_explain_why_not():
    domain = resolve_domain("not-installed", ["a", "b", "c"])
    assert isinstance(domain, ManifestDomain)
    ids, _ = load_labels(np.array([[0, 2]], np.uint8), domain, 1, 2)
    np.testing.assert_array_equal(ids, [[[0, 2]]])
    with pytest.raises(LabelError, match="outside the 3 classes"):
        load_labels(np.array([[3]], np.uint8), domain, 1, 1)
    with pytest.raises(LabelError, match="neither an installed plugin nor the package provides"):
        load_labels(np.zeros((2, 2, 3), np.uint8), domain, 2, 2)
    assert resolve_domain("shapes", SHAPES.class_names) is SHAPES


def test_without_the_plugin_a_package_palette_reads_colour_masks():
    """Format-2 packages carry their palette, so colour masks work where the plugin is not installed."""
    domain = resolve_domain("not-installed", ["a", "b", "c"], [[0, 0, 0], [255, 0, 0], [0, 0, 255]])
    mask = np.array([[[255, 0, 0], [0, 0, 255]], [[0, 0, 0], [255, 0, 0]]], np.uint8)
    ids, _ = load_labels(mask, domain, 2, 2)
    np.testing.assert_array_equal(ids, [[[1, 2], [0, 1]]])
    with pytest.raises(LabelError, match=r"colours \[\(9, 9, 9\)\] are not in the palette"):
        load_labels(np.full((1, 1, 3), 9, np.uint8), domain, 1, 1)
    assert isinstance(resolve_domain("shapes", ["x"] * 8), ManifestDomain)  # classes disagree: ids only


def test_extra_mask_channels():
    assert load_extra(None, 2, 0, 4, 4) is None
    with pytest.raises(InputError, match="takes no extra"):
        load_extra(np.zeros((2, 1, 4, 4)), 2, 0, 4, 4)
    with pytest.raises(InputError, match="takes 1 extra mask channel"):
        load_extra(None, 2, 1, 4, 4)
    with pytest.raises(InputError, match=r"must be \[2, 1, 4, 4\]"):
        load_extra(np.zeros((2, 2, 4, 4)), 2, 1, 4, 4)
    assert load_extra(np.zeros((2, 1, 4, 4)), 2, 1, 4, 4).dtype == np.float32


# --- a file's bytes: an upload given as it came --------------------------------------------------------
def _as_given(path: Path) -> Iterator:
    """The forms of a file's contents an application has at hand, and the file opened for reading."""
    data = path.read_bytes()
    yield from (data, bytearray(data), memoryview(data), io.BytesIO(data))
    with open(path, "rb") as file:
        yield file


def test_a_files_bytes_in_every_form_read_as_the_file_itself(tmp_path):
    """bytes, bytearray, memoryview and binary file objects were refused ("must be a file path, a numpy array
    ..."); they are read by the same readers as the file, EXIF orientation and palette colours included."""
    _, labels = SHAPES.sample(0, "test")
    image, _ = SHAPES.sample(1, "test")
    write_png(tmp_path / "ids.png", labels.astype(np.uint8))
    write_png(tmp_path / "colours.png", SHAPES.labels_to_colors(labels))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(with_exif_orientation(cv2.imencode(".jpg", image[:, :48])[1].tobytes(), 6))
    for path in (tmp_path / "ids.png", tmp_path / "colours.png"):
        expected = load_labels(path, SHAPES, 32, 32)
        for given in _as_given(path):
            ids, sizes = load_labels(given, SHAPES, 32, 32)
            np.testing.assert_array_equal(ids, expected[0])
            assert sizes == expected[1] == [(64, 64)]
    tensors, sizes, stored = load_images(photo, 16, 16)
    assert sizes == [(48, 64)] and stored == [(64, 48)]  # turned by its orientation, as the file is
    for given in _as_given(photo):
        got = load_images(given, 16, 16)
        np.testing.assert_array_equal(got[0], tensors)
        assert got[1:] == (sizes, stored)
    ids_png = (tmp_path / "ids.png").read_bytes()
    ids, _ = load_labels([ids_png, tmp_path / "ids.png", labels, io.BytesIO(ids_png)], SHAPES, 64, 64)
    assert ids.shape == (4, 64, 64) and all((each == labels).all() for each in ids)
    assert [p.name for p in read_images([photo, photo.read_bytes()])] == [str(photo), "image #1"]


def test_bad_bytes_get_the_files_messages_naming_the_item(tmp_path, monkeypatch):
    """The checks of files apply to their bytes (format, lossless labels, the pixel limit), named as arrays are."""
    image, labels = SHAPES.sample(1, "test")
    png = cv2.imencode(".png", labels.astype(np.uint8))[1].tobytes()
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    with pytest.raises(LabelError, match=r"^label map #1: not a readable image \(corrupt, truncated"):
        load_labels([png, png[: len(png) // 3]], SHAPES, 64, 64)
    with pytest.raises(LabelError, match=r"^label map #0 is a JPEG file: lossy compression changes ids"):
        load_labels(io.BytesIO(jpeg), SHAPES, 64, 64)
    with pytest.raises(LabelError, match=r"^label map #0: the file is empty"):
        load_labels(b"", SHAPES, 64, 64)
    with pytest.raises(ImageReadError, match=r"^image #0: not a readable image"):
        load_images(b"GIF89a....", 64, 64)
    monkeypatch.setenv("SEAN_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageReadError, match=r"^image #0 is 64x64 pixels, more than the limit of 1000"):
        load_images(memoryview(jpeg), 64, 64)
    with pytest.raises(LabelError, match=r"^label map #0 is 64x64 pixels, more than the limit of 1000"):
        load_labels(bytearray(png), SHAPES, 64, 64)


def test_a_1d_uint8_array_is_pixels_never_a_files_bytes(tmp_path):
    """np.frombuffer(upload, np.uint8) and cv2.imencode give a file as a 1-D uint8 array: it is refused as an
    array of the wrong shape, not decoded, and the message says to pass its bytes."""
    _, labels = SHAPES.sample(0, "test")
    encoded = cv2.imencode(".png", labels.astype(np.uint8))[1]
    assert encoded.ndim == 1 and encoded.dtype == np.uint8
    fix = r"it holds a PNG file: pass the file's bytes with x\.tobytes\(\)"
    shape = rf"got shape \({encoded.size},\)"
    with pytest.raises(InputError, match=rf"^label map #0: expected a label map .* {shape}; {fix}"):
        load_labels(encoded, SHAPES, 64, 64)
    with pytest.raises(InputError, match=rf"^image #0: expected an RGB image .*; pass RGB \[H, W, 3\]; {fix}"):
        load_images(encoded, 64, 64)
    np.testing.assert_array_equal(load_labels(encoded.tobytes(), SHAPES, 64, 64)[0][0], labels)
    with pytest.raises(InputError) as caught:  # an array of other bytes: the shape error alone
        load_images(np.arange(12, dtype=np.uint8), 64, 64)
    assert "file" not in str(caught.value)


def test_file_objects_and_bytes_that_cannot_be_a_files_contents_are_told_the_fix(tmp_path):
    _, labels = SHAPES.sample(0, "test")
    path = tmp_path / "ids.png"
    write_png(path, labels.astype(np.uint8))
    written = io.BytesIO()
    written.write(path.read_bytes())  # as an image library's save(buffer) leaves it: at its end
    with pytest.raises(InputError, match=r"^label map #0: its file object gave no bytes: it stands at byte \d+, after "
                                         r"what was written; call \.seek\(0\) first"):
        load_labels(written, SHAPES, 64, 64)
    with open(path, encoding="latin-1") as text, pytest.raises(InputError, match=r"opened as text; .*'rb'"):
        load_labels(text, SHAPES, 64, 64)
    with open(path, "rb") as closed:
        pass
    with pytest.raises(InputError, match=r"^image #0: its file object cannot be read: read of closed file"):
        load_images(closed, 64, 64)
    with pytest.raises(InputError, match=r"^label map #1 is the bytes b'.*ids\.png', which name a file: pass a file "
                                         r"name as str or Path"):
        load_labels([path, bytes(path)], SHAPES, 64, 64)
    with pytest.raises(InputError, match=r"^image #1 is a int; pass file paths, files' bytes or numpy arrays"):
        load_images([path, 3], 64, 64)


# --- colour masks that are class ids in three channels, or BGR ----------------------------------------
GREY_IDS = (r"it looks like class ids saved as RGB .*: read it as one channel "
            r"\(cv2\.IMREAD_GRAYSCALE, or \[\.\.\., 0\]\) and pass that, or save it as a single-channel PNG")
BGR = r"it looks like BGR \(OpenCV's channel order: .*\): convert it to RGB with \[\.\.\., ::-1\]"


def test_an_id_map_in_three_channels_or_a_bgr_mask_is_told_what_it_looks_like(tmp_path):
    """cv2.imread gives an id map as three equal channels and a colour mask as BGR; both got the palette error
    with no word of why. Neither is read as what it seems to be: grey pixels are colours (shapes' palette has
    black and white, Cityscapes' (70, 70, 70)), so only the message changes."""
    _, labels = SHAPES.sample(0, "test")
    grey = np.repeat(labels.astype(np.uint8)[:, :, None], 3, axis=2)
    bgr = SHAPES.labels_to_colors(labels)[:, :, ::-1]
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "bgr.png"), np.ascontiguousarray(bgr[:, :, ::-1]))  # the file holds BGR colours
    for source, hint in ((grey, GREY_IDS), (tmp_path / "grey.png", GREY_IDS), (bgr, BGR),
                         ((tmp_path / "bgr.png").read_bytes(), BGR)):
        with pytest.raises(LabelError, match=rf"are not in the palette of domain 'shapes'; draw masks with the "
                                             rf"domain's palette \(or pass an id map\); {hint}$"):
            load_labels(source, SHAPES, 64, 64)
    for fixed in (grey[..., 0], bgr[..., ::-1]):  # as the hints say
        np.testing.assert_array_equal(load_labels(fixed, SHAPES, 64, 64)[0][0], labels)
    palette = resolve_domain("not-installed", SHAPES.class_names[:3], SHAPES.palette[:3])
    with pytest.raises(LabelError, match=BGR):  # a package's palette, without the plugin
        load_labels(palette.labels_to_colors(labels % 3)[:, :, ::-1], palette, 64, 64)


def test_colour_masks_that_look_like_neither_get_no_hint():
    _, labels = SHAPES.sample(0, "test")
    bgr_and_one_more = SHAPES.labels_to_colors(labels)[:, :, ::-1].copy()
    bgr_and_one_more[0, 0] = (1, 2, 3)
    high_greys = np.full((8, 8, 3), 200, np.uint8)  # grey, but no class ids (8 classes)
    for mask in (bgr_and_one_more, high_greys, np.full((8, 8, 3), (17, 0, 9), np.uint8)):
        with pytest.raises(LabelError) as caught:
            load_labels(mask, SHAPES, 8, 8)
        assert str(caught.value).endswith("draw masks with the domain's palette (or pass an id map)"), caught.value
