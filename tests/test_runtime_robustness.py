"""Hostile input at the Python API and in package folders: a one-line SeanError, or a right result.

Every case here once passed silently with a wrong result or ended in a traceback of another type.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import sean_core.errors as errors
from sean_core.domains import get_domain
from sean_core.errors import InputError, PackageError
from sean_core.files import sha256_file
from sean_runtime.package import load_package
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import write_package

SHAPES = get_domain("shapes")


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    return SHAPES.sample(0, "test")


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message, f"not one line: {message!r}"
    return message


# --- label and image arrays -----------------------------------------------------------------------

def test_an_hxwx1_label_map_is_one_map_never_a_batch_of_columns(tiny_synth, sample):
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    expected = tiny_synth.synthesize(labels, styles, seed=4)
    single = tiny_synth.synthesize(labels[..., None], styles, seed=4)
    assert single.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(single, expected)
    batch = tiny_synth.synthesize(np.stack([labels, labels])[..., None], styles, seed=4)
    assert batch.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(batch[0], expected[0])


def test_an_hxwx2_label_map_is_refused_not_taken_as_a_batch_of_columns(tiny_synth, sample):
    """Ids with an alpha channel were a batch of 64 maps, each 64 x 2, stretched to 64 images."""
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    for array in (np.stack([labels, labels], -1), np.stack([labels, labels], -1)[None]):
        with pytest.raises(InputError, match=r"got 2 channels \(ids with alpha\?\); pass labels\[\.\.\., 0\]"):
            tiny_synth.synthesize(array, styles)


@pytest.mark.parametrize("shape", [(0, 0), (64, 0), (0, 64), (0, 0, 3)])
def test_empty_label_maps_and_images_are_refused(tiny_synth, sample, shape):
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    empty = np.zeros(shape, np.uint8 if len(shape) == 3 else np.int64)
    with pytest.raises(InputError, match=r"is empty \(shape"):
        tiny_synth.synthesize(empty, styles)
    with pytest.raises(InputError, match=r"is empty \(shape"):
        tiny_synth.encode(np.zeros((*shape[:2], 3), np.uint8), labels)


def test_a_batch_of_zero_is_refused(tiny_synth, sample):
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    with pytest.raises(InputError, match=r"no label map given \(a batch of 0"):
        tiny_synth.synthesize(np.zeros((0, 64, 64), np.int64), styles)
    with pytest.raises(InputError, match=r"no image given \(a batch of 0"):
        tiny_synth.encode(np.zeros((0, 64, 64, 3), np.uint8), np.zeros((0, 64, 64), np.int64))


def test_seeds_must_keep_every_image_below_2_63(tiny_synth, sample):
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    pair = np.stack([labels, labels])
    with pytest.raises(InputError, match=r"seed 9223372036854775807 with 2 image\(s\) reaches 9223372036854775808"):
        tiny_synth.synthesize(pair, styles, seed=2**63 - 1)
    assert tiny_synth.synthesize(pair, styles, seed=2**63 - 2).shape == (2, 64, 64, 3)
    for bad in (True, -1, 1.5, "3"):
        with pytest.raises(InputError, match="seed must be a non-negative integer"):
            tiny_synth.synthesize(labels, styles, seed=bad)


# --- style edits and non-finite values ------------------------------------------------------------

def test_interpolation_weights_are_numbers_in_the_documented_range(tiny_synth, sample):
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    other = tiny_synth.encode(*SHAPES.sample(1, "test"))
    for alpha in ("abc", 1e30, float("nan"), float("inf"), -1.5, 2.01, True, [0.5, 0.5], [[0.5]], None):
        with pytest.raises(InputError, match=r"alpha must be a number in \[-1, 2\]") as caught:
            styles.interpolate(other, alpha)
        one_line(caught.value)
    for alpha in (-1, 0, 0.3, 1, 2, [0.25], np.float64(1.5)):
        assert np.isfinite(styles.interpolate(other, alpha).codes).all()


def test_codes_far_outside_the_encoders_range_fail_loudly_not_as_a_black_image(tiny_synth, sample):
    image, labels = sample
    styles = tiny_synth.encode(image, labels)
    huge = Styles(styles.codes * np.float32(1e29), styles.present, styles.class_names)
    with pytest.raises(errors.NonFiniteError, match=r"the generator produced NaN or infinite values for image"):
        tiny_synth.synthesize(labels, huge)
    with pytest.raises(errors.NonFiniteError):
        tiny_synth.render(labels, huge)
    with pytest.raises(InputError, match="NaN or infinite"):
        Styles(np.full_like(styles.codes, np.nan), styles.present, styles.class_names)


def _with_nan_weight(package: Path, out: Path, graph: str) -> Path:
    """A copy of a package whose graph has one weight set to NaN (as a diverged model exported with
    --no-validate would have), with the manifest's hash updated so that it loads."""
    import onnx
    from onnx import numpy_helper

    shutil.copytree(package, out)
    path = out / f"{graph}.onnx"
    model = onnx.load(str(path))
    weight = next(w for w in model.graph.initializer if w.data_type == onnx.TensorProto.FLOAT and len(w.dims) == 4)
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] = np.nan
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(model, str(path))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"][path.name] = sha256_file(path)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("graph", ["encoder", "generator"])
def test_a_package_with_a_nan_weight_fails_loudly(tiny_package, tmp_path, sample, graph):
    image, labels = sample
    broken = Synthesizer.load(_with_nan_weight(tiny_package, tmp_path / "nan", graph), backend="onnxruntime")
    with pytest.raises(errors.NonFiniteError, match=rf"the {graph} produced NaN or infinite values") as caught:
        broken.synthesize(labels, broken.encode(image, labels))
    assert "re-export it from a checkpoint with finite weights" in one_line(caught.value)
    with pytest.raises(errors.NonFiniteError):
        broken.reconstruct(image, labels)


def test_styles_print_short(tiny_synth, sample):
    styles = tiny_synth.encode(np.stack([sample[0]] * 3), np.stack([sample[1]] * 3))
    text = repr(styles)
    present = [n for n, p in zip(styles.class_names, styles.present[0], strict=True) if p]
    assert text == (f"Styles(batch=3, code length=16, classes present={len(present)}/8: {', '.join(present)})")
    assert len(text) < 200 and str(styles) == text


# --- package folders ------------------------------------------------------------------------------

def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def test_a_manifest_nested_200000_deep_is_a_package_error(tmp_path):
    root = write_package(tmp_path / "pkg")
    (root / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(PackageError, match="not valid JSON \\(nested too deeply\\)") as caught:
        load_package(root)
    one_line(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"height": 0}, "'height' is 0, not a positive integer"),
        ({"width": -3}, "'width' is -3, not a positive integer"),
        ({"height": 8.0}, "'height' is 8.0, not a whole number"),
        ({"noise": {"input": "noise", "numel": True}}, 'malformed "noise" entry'),
        ({"format_version": True}, "invalid format_version True"),
        ({"precision": "int4"}, "precision 'int4' is not one of"),
        ({"class_names": "abc"}, "'class_names' is 'abc', not a list"),
        ({"num_classes": True}, "'num_classes' is True, not a whole number"),
    ],
)
def test_manifest_fields_are_type_checked(tmp_path, changes, message):
    root = write_package(tmp_path / "pkg", **changes)
    with pytest.raises(PackageError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        load_package(root)
    one_line(caught.value)


def test_a_graph_file_linking_outside_the_package_is_refused(tmp_path):
    root = write_package(tmp_path / "pkg")
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(root / "encoder.onnx", outside)
    (root / "encoder.onnx").symlink_to(outside)
    with pytest.raises(PackageError, match=r"encoder\.onnx is a symbolic link to .*elsewhere\.onnx, outside the"):
        load_package(root)
    (root / "encoder.onnx").unlink()
    shutil.move(outside, root / "encoder.real")
    (root / "encoder.onnx").symlink_to("encoder.real")  # a link inside the package is fine
    assert load_package(root).encoder.file.name == "encoder.onnx"


@pytest.mark.slow
def test_graph_io_is_compared_with_the_graph_file_itself(tiny_package, tmp_path):
    """A generator exported with a fixed batch of 2 has the manifest's names but not its shapes."""
    import onnx

    root = shutil.copytree(tiny_package, tmp_path / "static-batch")
    path = root / "generator.onnx"
    model = onnx.load(str(path))
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim.ClearField("dim_param")
    dim.dim_value = 2
    onnx.save(model, str(path))
    manifest = _manifest(root)
    manifest["files"]["generator.onnx"] = sha256_file(path)
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match=r"generator\.onnx has inputs .*labels int32 \[2, 64, 64\].* but the "
                                           r"manifest declares .*labels int32 \['batch', 64, 64\]") as caught:
        Synthesizer.load(root, backend="onnxruntime")
    one_line(caught.value)
    with pytest.raises(PackageError, match=r"labels int32 \[2, 64, 64\]"):
        Synthesizer.load(root, backend="openvino")



# --- API misuse ----------------------------------------------------------------------------------------

def test_providers_given_as_one_string_are_named_not_split_into_letters(tiny_package):
    for providers in ("CPUExecutionProvider", [1], 5):
        with pytest.raises(InputError, match=r"providers must be a list of provider names, e\.g\. \['CPUExec"):
            Synthesizer.load(tiny_package, backend="onnxruntime", providers=providers)
    Synthesizer.load(tiny_package, backend="onnxruntime", providers=["CPUExecutionProvider"]).close()


@pytest.mark.parametrize(("codes", "names", "words"), [
    ("abc", ("a",), "style codes must be numbers"),
    ([[[1.0]], [[1.0, 2.0]]], ("a",), "style codes must be numbers"),
    (np.zeros((1, 1, 2)), "a", "class_names must be a list of names, got 'a'"),
])
def test_styles_of_text_ragged_lists_or_a_name_string_are_input_errors(codes, names, words):
    with pytest.raises(InputError, match=words) as caught:
        Styles(codes, np.ones((1, 1), bool), names)
    one_line(caught.value)


def test_a_closed_onnxruntime_backend_says_it_was_closed(tiny_package, sample):
    labels = sample[1]
    synth = Synthesizer.load(tiny_package, backend="onnxruntime")
    backend = synth.backend  # as a thread still holding it when another closes the Synthesizer
    synth.close()
    with pytest.raises(errors.BackendError, match="the encoder graph was closed") as caught:
        backend.encode_generate(np.zeros((1, 3, 64, 64), np.float32), labels[None].astype(np.int32),
                                np.zeros((1, synth.package.noise_numel), np.float32), None)
    one_line(caught.value)
    with pytest.raises(errors.BackendError, match="the generator graph was closed"):
        backend.generate(labels[None].astype(np.int32), np.zeros((1, 8, 16), np.float32), None, None)


def test_indexing_styles_by_something_other_than_image_numbers_is_named(tiny_synth, sample):
    styles = tiny_synth.encode(*sample)
    for index in (True, np.bool_(False), "a", [[0]], 1.5):
        with pytest.raises(InputError, match="Styles") as caught:
            styles[index]
        one_line(caught.value)
    assert styles[0].batch_size == 1 and styles[[0, 0]].batch_size == 2 and styles[-1:].batch_size == 1
    with pytest.raises(IndexError):  # as a sequence's: iteration stops there
        styles[5]
    assert [s.batch_size for s in styles] == [1]


@pytest.mark.parametrize(("scale", "dtype", "advice"), [
    (1 / 255, np.float32, "(np.clip(x, 0, 1) * 255).round().astype(np.uint8)"),
    (1.0, np.float64, "its values lie in [0, 255]: convert with np.asarray(x).round()"),  # cv2 / numpy arithmetic
    (1.0, np.int64, "its values lie in [0, 255]: convert with np.asarray(x).round()"),
    (257.0, np.uint16, "outside [0, 255]: map them to [0, 255] first"),
])
def test_an_image_of_another_dtype_is_told_the_conversion_that_keeps_its_values(tiny_synth, sample, scale, dtype,
                                                                                advice):
    """Floats in [0, 255] were told to convert as [0, 1]: clip(x, 0, 1) * 255 made every pixel white."""
    image, label = sample
    with pytest.raises(InputError, match="images must be uint8 RGB") as exc:
        tiny_synth.encode((image.astype(np.float64) * scale).astype(dtype), label)
    assert advice in str(exc.value)


def test_extra_mask_channels_given_to_encode_are_refused_not_ignored(tiny_synth, sample):
    """The encoder reads only the image and its label map: an `extra` given to encode was silently dropped."""
    image, label = sample
    with pytest.raises(InputError, match="encoder takes no extra mask channels") as exc:
        tiny_synth.encode(image, label, extra=np.zeros((1, 1, *label.shape), np.float32))
    one_line(exc.value)


def test_a_path_given_to_the_constructor_points_to_load(tiny_package):
    """Synthesizer("pkg") raised "missing 1 required positional argument: 'backend'"."""
    with pytest.raises(TypeError, match=r"Synthesizer\.load\("):
        Synthesizer(str(tiny_package))


def test_styles_stay_read_only_when_pickled_or_copied(tiny_synth, sample):
    """numpy's pickling gave writable arrays: a copy of a Styles could be changed in place, as no Styles can."""
    import copy
    import pickle

    styles = tiny_synth.encode(*sample)
    for other in (pickle.loads(pickle.dumps(styles)), copy.deepcopy(styles), copy.copy(styles)):
        assert not other.codes.flags.writeable and not other.present.flags.writeable
        np.testing.assert_array_equal(other.codes, styles.codes)
        assert other.class_names == styles.class_names


def test_any_path_like_object_names_a_file(tiny_synth, shapes_split):
    """An os.PathLike that is no pathlib.Path (a path of another library) was refused as "not a file path"."""
    class OtherPath:
        def __init__(self, path):
            self.path = path

        def __fspath__(self) -> str:
            return str(self.path)

    image, label = shapes_split / "images/00000.png", shapes_split / "labels/00000.png"
    expected = tiny_synth.encode(image, label)
    np.testing.assert_array_equal(tiny_synth.encode(OtherPath(image), [OtherPath(label)]).codes, expected.codes)


def test_an_uploads_bytes_encode_and_synthesize_as_its_file(tiny_synth, shapes_split):
    """A file's bytes (an upload as a web framework gives it) were refused: "label map must be a file path, a
    numpy array or a list of them, not bytes"."""
    image, label = shapes_split / "images/00000.png", shapes_split / "labels/00000.png"
    expected = tiny_synth.encode(image, label)
    got = tiny_synth.encode(image.read_bytes(), io.BytesIO(label.read_bytes()))
    np.testing.assert_array_equal(got.codes, expected.codes)
    np.testing.assert_array_equal(got.present, expected.present)
    np.testing.assert_array_equal(tiny_synth.synthesize(memoryview(label.read_bytes()), expected, seed=1),
                                  tiny_synth.synthesize(label, expected, seed=1))
    np.testing.assert_array_equal(tiny_synth.reconstruct([bytearray(image.read_bytes())], [label.read_bytes()]),
                                  tiny_synth.reconstruct(image, label))
    narrow = cv2.imencode(".png", np.zeros((64, 48, 3), np.uint8))[1].tobytes()
    with pytest.raises(InputError, match=r"^image #0 is 48x64 but its label map #0 is 64x64 \(width x height\)"):
        tiny_synth.encode(narrow, label.read_bytes())
