"""Segmenters: a style image without its label map (a photo) is labelled by the package's ONNX
segmenter in the Python API, `sean synth` and `sean serve`; without one it is refused in one line; a
model that breaks the contract is refused at load. The segmenters are tiny ONNX models made here
(tests/segmenters.py) that label each pixel with the nearest palette colour, so their labels are known."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.domains import get_domain
from sean_core.errors import BackendError, InputError
from sean_core.imageio import read_ids, read_rgb, resize_image, write_png
from sean_runtime.segmenter import SEGMENTER_ENV, segmenter_choice
from sean_runtime.synthesizer import Synthesizer
from tests.segmenters import painted, palette_segmenter

pytest.importorskip("onnx", reason="the test segmenters are built with onnx.helper (the 'export' extra)")

SHAPES = get_domain("shapes")
PALETTE = SHAPES.palette_array()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("segmenters")


@pytest.fixture(scope="module")
def scores_model(models) -> Path:
    return palette_segmenter(models / "scores.onnx", PALETTE)


@pytest.fixture(scope="module")
def photo(shapes_split) -> tuple[np.ndarray, np.ndarray]:
    """(picture uint8 [64, 64, 3] painted from sample 00001's label map, that label map)."""
    labels = read_ids(shapes_split / "labels/00001.png").astype(np.int64)
    return painted(labels, PALETTE), labels


@pytest.fixture(scope="module")
def seg_synth(tiny_package, scores_model):
    with Synthesizer.load(tiny_package, backend="onnxruntime", segmenter=scores_model) as synth:
        yield synth


def test_encode_without_labels_is_encode_with_the_segmenters_labels(seg_synth, photo, shapes_split):
    picture, labels = photo
    np.testing.assert_array_equal(seg_synth.segment(picture)[0], labels)  # the nearest palette colour
    alone = seg_synth.encode(picture)
    given = seg_synth.encode(picture, labels)
    np.testing.assert_array_equal(alone.codes, given.codes)
    np.testing.assert_array_equal(alone.present, given.present)
    # a list with a missing label map: that image is segmented, the other keeps its own map
    other = (shapes_split / "images/00002.png", shapes_split / "labels/00002.png")
    mixed = seg_synth.encode([picture, other[0]], [None, other[1]])
    np.testing.assert_array_equal(mixed.codes[0], given.codes[0])
    np.testing.assert_array_equal(mixed.codes[1], seg_synth.encode(*other).codes[0])
    assert seg_synth.info()["segmenter"].endswith("scores.onnx")


@pytest.mark.parametrize(
    "variant", [dict(output="ids"), dict(input_form="nhwc", output="ids"), dict(input_form="nhwc")]
)
def test_every_form_of_the_contract_gives_the_same_labels(tiny_package, models, photo, variant):
    picture, labels = photo
    model = palette_segmenter(models / f"{'-'.join(variant.values())}.onnx", PALETTE, **variant)
    with Synthesizer.load(tiny_package, backend="onnxruntime", segmenter=model) as synth:
        np.testing.assert_array_equal(synth.segment(picture)[0], labels)


def test_a_fixed_size_segmenter_sees_the_resized_image_and_its_labels_come_back_at_the_package_size(
    tiny_package, models, photo
):
    picture, labels = photo
    model = palette_segmenter(models / "fixed.onnx", PALETTE, size=(32, 48))
    with Synthesizer.load(tiny_package, backend="onnxruntime", segmenter=model) as synth:
        ids = synth.segment(resize_image(picture, 96, 80))[0]  # another size than both
    assert ids.shape == (64, 64)
    assert (ids == labels).mean() > 0.9  # nearest-neighbour round trips through 32x48 lose the edges only


def test_without_a_segmenter_a_photo_is_refused_in_one_line(tiny_synth, photo, shapes_split):
    with pytest.raises(InputError) as caught:
        tiny_synth.encode(photo[0])
    message = str(caught.value)
    assert "\n" not in message and "without its label map" in message
    assert "give the label map" in message and "--segmenter PATH" in message and SEGMENTER_ENV in message
    # The image by its name: its path, or its place for an array (the message said "style image image #0").
    assert message.startswith("style image #0 comes without")
    with pytest.raises(InputError, match=r"^style image #1 comes without its label map"):
        tiny_synth.encode([np.zeros((64, 64, 3), np.uint8)] * 2, [np.zeros((64, 64), np.int32), None])
    picture = shapes_split / "images/00001.png"
    with pytest.raises(InputError, match=f"^style image {re.escape(str(picture))} comes without"):
        tiny_synth.encode(picture)


def test_the_environment_and_the_domain_plugin_name_a_segmenter_and_an_explicit_path_wins(
    tiny_package, scores_model, photo, monkeypatch, tmp_path
):
    picture, labels = photo
    monkeypatch.setattr(SHAPES, "segmenter", scores_model)  # the plugin's own configuration
    with Synthesizer.load(tiny_package, backend="onnxruntime") as synth:
        np.testing.assert_array_equal(synth.segment(picture)[0], labels)
    monkeypatch.setenv(SEGMENTER_ENV, str(tmp_path / "nothing.onnx"))  # the variable comes before the plugin
    with pytest.raises(BackendError, match=f"nothing.onnx \\(from {SEGMENTER_ENV}\\) does not exist"):
        Synthesizer.load(tiny_package, backend="onnxruntime")
    with Synthesizer.load(tiny_package, backend="onnxruntime", segmenter=scores_model) as synth:
        assert synth.segmenter is not None and synth.segmenter.file == scores_model


@pytest.mark.parametrize("given", [3, ["parser.onnx"]])
def test_a_segmenter_given_as_no_path_is_refused_in_one_line(given):
    with pytest.raises(BackendError, match=r"^segmenter must be a path \(str or os.PathLike\), got (int|list) "):
        segmenter_choice(given, SHAPES)


@pytest.mark.parametrize("empty", ["", b""])
def test_an_empty_segmenter_path_is_none_given_in_str_and_bytes_alike(empty, tmp_path, monkeypatch):
    """segmenter="" leaves the choice to $SEAN_SEGMENTER and the domain (an unset setting); b"", a bytes path as
    open() takes them, does the same rather than naming the working folder as the segmenter."""
    monkeypatch.setenv(SEGMENTER_ENV, str(tmp_path / "parser.onnx"))
    choice = segmenter_choice(empty, SHAPES)
    assert choice is not None and choice.origin == SEGMENTER_ENV and choice.file == tmp_path / "parser.onnx"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: palette_segmenter(d / "five.onnx", PALETTE[:5]), "scores 5 classes, the package has 8"),
        (lambda d: palette_segmenter(d / "pooled.onnx", PALETTE, output="pooled"), "its output 'flat' is"),
        (lambda d: palette_segmenter(d / "nine.onnx", np.vstack([PALETTE, [[9, 9, 9]]]), output="ids"), None),
        (lambda d: d / "broken.onnx", "ONNX Runtime cannot load it"),
    ],
)
def test_a_segmenter_that_breaks_the_contract_is_refused_at_load(tiny_package, tmp_path, make, words):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    model = make(tmp_path)
    if words is None:  # ids of a 9-colour palette: legal at load (the probe is black: class 0), not on white
        with Synthesizer.load(tiny_package, backend="onnxruntime", segmenter=model) as synth:
            with pytest.raises(BackendError, match=r"gave class ids 0\.\.8, outside the package's 0\.\.7"):
                synth.segment(np.pad(np.full((8, 8, 3), 9, np.uint8), ((0, 0), (0, 8), (0, 0))))
        return
    with pytest.raises(BackendError) as caught:
        Synthesizer.load(tiny_package, backend="onnxruntime", segmenter=model)
    message = str(caught.value)
    assert words in message and "a segmenter takes one input" in message and "\n" not in message


# --- sean synth -----------------------------------------------------------------------------------------
def synth_cli(*args: object):
    return CliRunner().invoke(main, ["synth", *map(str, args)])


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, photo) -> tuple[Path, Path]:
    """(the picture as a PNG with no label map anywhere near it, its label map in another folder)."""
    root = tmp_path_factory.mktemp("photos")
    (root / "pictures").mkdir()
    (root / "maps").mkdir()
    write_png(root / "pictures/photo.png", photo[0])
    write_png(root / "maps/photo-labels.png", photo[1].astype(np.uint8))
    return root / "pictures/photo.png", root / "maps/photo-labels.png"


@pytest.mark.slow  # four runs of sean synth
def test_sean_synth_labels_a_photo_with_the_segmenter_as_its_label_map_would(
    tiny_package, scores_model, photo_files, shapes_split, tmp_path
):
    picture, labels = photo_files
    target = shapes_split / "labels/00000.png"
    common = [tiny_package, "--label", target, "--no-noise"]
    given = synth_cli(*common, "--style", picture, "--style-label", labels, "-o", tmp_path / "given.png")
    assert given.exit_code == 0, given.output
    alone = synth_cli(*common, "--segmenter", scores_model, "--style", picture, "-o", tmp_path / "alone.png")
    assert alone.exit_code == 0, alone.output
    np.testing.assert_array_equal(read_rgb(tmp_path / "alone.png"), read_rgb(tmp_path / "given.png"))
    # a swap from the photo: IMAGE without :LABEL
    own = ["--style", shapes_split / "images/00000.png"]
    swap = synth_cli(*common, *own, "--swap", f"blob,ground={picture}:{labels}", "-o", tmp_path / "swap-given.png")
    assert swap.exit_code == 0, swap.output
    swap = synth_cli(*common, *own, "--segmenter", scores_model, "--swap", f"blob,ground={picture}",
                     "-o", tmp_path / "swap-alone.png")  # fmt: skip
    assert swap.exit_code == 0, swap.output
    np.testing.assert_array_equal(read_rgb(tmp_path / "swap-alone.png"), read_rgb(tmp_path / "swap-given.png"))
    assert not np.array_equal(read_rgb(tmp_path / "swap-alone.png"), read_rgb(tmp_path / "given.png"))


def test_sean_synth_without_a_segmenter_refuses_a_photo_in_one_line(tiny_package, photo_files, shapes_split, tmp_path):
    own = ["--label", shapes_split / "labels/00000.png", "--style", shapes_split / "images/00000.png"]
    result = synth_cli(tiny_package, *own, "--swap", f"blob={photo_files[0]}", "-o", tmp_path / "o.png")
    assert result.exit_code == 1 and not (tmp_path / "o.png").exists()
    line = result.output.strip().splitlines()[-1]  # the line before says which backend runs
    assert line.startswith("Error: ") and f"--swap: no label map found for {photo_files[0]}" in line, line
    assert "or label it with a segmenter: --segmenter PATH" in line, line


# --- sean serve -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seg_server(tiny_package, scores_model):
    from tests.test_serve import Server

    srv = Server(tiny_package, "--segmenter", scores_model)
    yield srv
    assert srv.stop() == 0


@pytest.mark.slow  # a server of its own
def test_the_service_labels_a_reference_sent_without_its_label_map(seg_server, seg_synth, photo, photo_files,
                                                                    shapes_split, tmp_path):  # fmt: skip
    from tests.test_serve import b64_file, call, decode_answer

    picture, labels = photo
    assert call(seg_server, "GET", "/v1/info")[2]["segmenter"] is True
    status, _, answer = call(seg_server, "POST", "/v1/encode", {"image": b64_file(photo_files[0])})
    assert status == 200, answer
    assert np.array_equal(read_ids_b64(answer["label"]), labels)  # the map it used, for the editor to show
    expected = seg_synth.encode(picture)
    np.testing.assert_array_equal(np.asarray(answer["styles"]["codes"], np.float32)[None], expected.codes)

    body = {"label": b64_file(shapes_split / "labels/00000.png"),
            "style_image": b64_file(shapes_split / "images/00000.png"),
            "swaps": [{"classes": ["blob", "ground"], "image": b64_file(photo_files[0])}], "seed": 4}  # fmt: skip
    status, _, alone = call(seg_server, "POST", "/v1/synthesize", body)
    assert status == 200, alone
    body["swaps"][0]["label"] = b64_file(photo_files[1])
    status, _, given = call(seg_server, "POST", "/v1/synthesize", body)
    assert status == 200, given
    np.testing.assert_array_equal(decode_answer(alone), decode_answer(given))
    # the same through `sean synth --url`, whose client leaves the labels to the server
    out = tmp_path / "remote.png"
    result = synth_cli("--url", seg_server.url, "--label", shapes_split / "labels/00000.png", "--style",
                       shapes_split / "images/00000.png", "--swap", f"blob,ground={photo_files[0]}", "--seed", 4,
                       "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(read_rgb(out), decode_answer(given))


@pytest.mark.slow  # a server of its own
def test_a_service_without_a_segmenter_refuses_a_reference_without_its_label_map(tiny_package, photo_files,
                                                                                  shapes_split):  # fmt: skip
    from tests.test_serve import Server, assert_error, b64_file, call

    srv = Server(tiny_package)
    try:
        assert call(srv, "GET", "/v1/info")[2]["segmenter"] is False
        status, _, answer = call(srv, "POST", "/v1/encode", {"image": b64_file(photo_files[0])})
        assert_error(status, answer, 400, "image comes without its label map", "give the label map", "--segmenter")
        own = shapes_split / "images/00000.png"  # under the request's own label map: no segmenter needed
        body = {"label": b64_file(shapes_split / "labels/00000.png"), "style_image": b64_file(own),
                "interpolate": {"alpha": 0.5, "image": b64_file(photo_files[0])}}  # fmt: skip
        status, _, answer = call(srv, "POST", "/v1/synthesize", body)
        assert_error(status, answer, 400, "interpolate.image comes without its label map")
        del body["interpolate"]
        assert call(srv, "POST", "/v1/synthesize", body)[0] == 200
    finally:
        assert srv.stop() == 0


def read_ids_b64(text: str) -> np.ndarray:
    from sean_core.imageio import ids_from_bytes
    from sean_runtime.serve.codec import b64_to_bytes

    return ids_from_bytes(b64_to_bytes(text, "label"), source="label")
