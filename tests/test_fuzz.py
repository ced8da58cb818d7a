"""Property-based fuzzing of every loader: random label and image arrays, image file bytes, manifests,
model / run configs and training-state JSON. Each either gives a valid result or raises a SeanError with
a one-line message; never another exception type, never a non-finite output.

Bounded: a fixed number of examples per property (derandomized, so CI runs the same cases every time),
about 15 s in all on a 2-core machine.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sean_core.domains import get_domain
from sean_core.errors import SeanError
from sean_core.imageio import read_raw, read_rgb
from sean_runtime.package import load_package
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import tiny_run_config, write_package

SHAPES = get_domain("shapes")
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


def refused_in_one_line(call, *args: Any) -> Any:
    """call(*args), or None when it raised a SeanError whose message is one non-empty line."""
    try:
        return call(*args)
    except SeanError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, f"not one line: {message!r}"
        return None


@pytest.fixture(scope="module")
def synth(tiny_synth) -> Synthesizer:
    return tiny_synth


@pytest.fixture(scope="module")
def styles(synth) -> Styles:
    return synth.encode(*SHAPES.sample(0, "test"))


DTYPES = st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "int64", "uint64", "float32", "float64",
                          "bool"])  # fmt: skip
SHAPES_ND = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


def arrays(dtype=DTYPES, shape=SHAPES_ND):
    return dtype.flatmap(lambda d: hnp.arrays(np.dtype(d), shape))


small_ids = hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9),
                       elements=st.integers(-2, 10))  # fmt: skip


@pytest.mark.slow
@FUZZ
@given(labels=st.one_of(arrays(), small_ids, hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6),
                                                                            st.integers(1, 4)))))  # fmt: skip
def test_label_arrays_give_valid_ids_and_finite_images_or_one_line(synth, styles, labels):
    ids = refused_in_one_line(synth.read_labels, labels)
    if ids is None:
        return
    assert ids.dtype == np.int32 and ids.shape[1:] == (64, 64) and ids.shape[0] >= 1
    assert ids.min() >= 0 and ids.max() < synth.package.num_classes
    out = synth.synthesize(ids, styles)
    assert out.dtype == np.uint8 and out.shape == (len(ids), 64, 64, 3)
    assert np.isfinite(synth.render(ids[:1], styles)).all()


@FUZZ
@given(image=arrays(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_image_arrays_give_finite_codes_or_one_line(synth, image):
    label = np.zeros(image.shape[:2] if image.ndim >= 2 else (1, 1), np.int64)
    encoded = refused_in_one_line(synth.encode, image, label)
    if encoded is not None:
        assert np.isfinite(encoded.codes).all() and encoded.batch_size >= 1


def valid_files() -> list[bytes]:
    labels = SHAPES.sample(1, "test")[1].astype(np.uint8)
    colour = cv2.cvtColor(SHAPES.labels_to_colors(labels), cv2.COLOR_RGB2BGR)
    return [cv2.imencode(ext, array, params)[1].tobytes() for ext, array, params in (
        (".png", labels, []), (".png", colour, []), (".jpg", colour, []), (".bmp", colour, []), (".tif", labels, []),
        (".webp", colour, [cv2.IMWRITE_WEBP_QUALITY, 101]), (".webp", colour, [cv2.IMWRITE_WEBP_QUALITY, 70]),
    )]  # fmt: skip


VALID_FILES = valid_files()


@st.composite
def image_bytes(draw) -> bytes:
    """A valid file damaged: bytes flipped, cut short, or a header field overwritten; a PNG whose (valid)
    header claims another size, up to gigapixels; or random bytes."""
    kind = draw(st.sampled_from(["random", "claim", "damaged"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "claim":
        width, height = draw(st.integers(0, 2**17)), draw(st.integers(0, 2**17))
        png = VALID_FILES[0]  # signature, IHDR length, then "IHDR" width height (5 more bytes) CRC at 12..33
        ihdr = png[12:16] + struct.pack(">II", width, height) + png[24:29]
        return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, min(len(data) - 1, 80)))  # mostly in the header
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))]) if draw(st.booleans()) else bytes(data)


@FUZZ
@given(data=image_bytes())
def test_image_files_decode_to_sane_arrays_or_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "file.png"
    path.write_bytes(data)
    rgb = refused_in_one_line(read_rgb, path)
    if rgb is not None:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0
    raw = refused_in_one_line(read_raw, path)
    if raw is not None:
        assert raw.ndim in (2, 3) and raw.size > 0
    labels = refused_in_one_line(SHAPES.read_label, path)
    if labels is not None:
        assert labels.ndim == 2 and labels.min() >= 0 and labels.max() < SHAPES.num_classes


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def replace_at(document: Any, path: list[int], value: Any) -> Any:
    """`document` with the node that the index path picks (through dicts and lists) replaced by value."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = replace_at(document[key], path[1:], value)
    return copy


@pytest.fixture(scope="module")
def package_root(tmp_path_factory) -> Path:
    return write_package(tmp_path_factory.mktemp("fuzz") / "pkg")


@FUZZ
@given(path=st.lists(st.integers(0, 30), max_size=5), value=JSON, whole=st.booleans())
def test_manifests_load_or_are_refused_in_one_line(package_root, path, value, whole):
    manifest_file = package_root / "manifest.json"
    original = manifest_file.read_text()
    manifest = value if whole else replace_at(json.loads(original), path, value)
    try:
        manifest_file.write_text(json.dumps(manifest, allow_nan=True))
        package = refused_in_one_line(load_package, package_root)
        if package is not None:
            assert package.num_classes == len(package.class_names) >= 1
            assert package.height >= 1 and package.width >= 1 and package.noise_numel >= 1
    finally:
        manifest_file.write_text(original)


@FUZZ
@given(path=st.lists(st.integers(0, 30), max_size=3), value=JSON)
def test_run_and_model_configs_build_or_are_refused_in_one_line(path, value):
    from sean_train.config import ModelConfig
    from sean_train.train_config import RunConfig

    config = replace_at(tiny_run_config(), path, value)
    run = refused_in_one_line(RunConfig.from_dict, config)
    if run is not None:
        assert run.train.batch_size >= 1 and run.model.num_classes >= 1
    refused_in_one_line(ModelConfig.from_dict, config.get("model") if isinstance(config, dict) else config)


@FUZZ
@given(document=JSON)
def test_run_state_files_are_checked_or_refused_in_one_line(tmp_path_factory, document):
    from sean_core.checkpoint_files import read_best
    from sean_train.checkpoint import read_config
    from sean_train.commands.train import read_run
    from sean_train.state import load_training_checkpoint

    folder = tmp_path_factory.mktemp("state")
    text = json.dumps(document)
    for name in ("run.json", "best.json", "training.json", "config.json"):
        (folder / name).write_text(text)
    refused_in_one_line(read_run, folder)
    best = refused_in_one_line(read_best, folder)
    assert best is None or isinstance(best["step"], int)
    refused_in_one_line(load_training_checkpoint, folder)
    refused_in_one_line(read_config, folder)


@FUZZ
@given(alpha=st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.text(max_size=3), JSON,
                       st.lists(st.floats(-3, 3), max_size=3)),
       seed=st.one_of(st.integers(-5, 2**64), st.booleans(), st.floats(), st.text(max_size=2)))  # fmt: skip
def test_style_edits_and_seeds_give_finite_images_or_one_line(synth, styles, alpha, seed):
    other = styles.swap("blob", styles)
    mixed = refused_in_one_line(styles.interpolate, other, alpha)
    if mixed is not None:
        assert np.isfinite(mixed.codes).all()
        image = refused_in_one_line(synth.render, SHAPES.sample(0, "test")[1], mixed, seed)
        assert image is None or np.isfinite(image).all()
