"""`sean export`: checkpoint -> validated ONNX package (docs/package-format.md)."""

from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from sean_core.files import replace_folder, sha256_file
from sean_export import onnx_export, validate
from sean_export.graphs import graph_module, graph_spec
from sean_export.onnx_export import ExportError, export_to_onnx, save_onnx
from sean_export.package import check_destination, export_package
from sean_export.tensorrt_ops import FORBIDDEN, SUPPORTED_TYPES, UnsupportedOperatorError, check_tensorrt_ops
from sean_export.validate import ValidationError, compare_with_torch, random_inputs, random_labels
from sean_runtime.backends.openvino import compile_config, new_core
from sean_train.checkpoint import load_checkpoint
from sean_train.config import ModelConfig
from sean_train.networks.generator import block_specs, noise_layout
from sean_train.networks.ops import one_hot
from tests.helpers import OPENVINO_MISSING, TINY, make_random_model


def _manifest(package) -> dict:
    return json.loads((package / "manifest.json").read_text())


def test_manifest_describes_the_graphs_and_hashes_every_file(tiny_package, tiny_config):
    manifest = _manifest(tiny_package)
    assert manifest["format"] == "sean-package" and manifest["precision"] == "fp32"
    assert manifest["class_names"] == list(tiny_config.class_names)
    assert manifest["noise"]["numel"] == noise_layout(tiny_config).numel
    assert set(manifest["files"]) == {"encoder.onnx", "generator.onnx"}  # small model: no external data
    for name, digest in manifest["files"].items():
        assert sha256_file(tiny_package / name) == digest
    for name in ("encoder", "generator"):
        model = onnx.load(str(tiny_package / f"{name}.onnx"))
        entry = manifest["graphs"][name]
        assert [i.name for i in model.graph.input] == [t["name"] for t in entry["inputs"]]
        assert [o.name for o in model.graph.output] == [t["name"] for t in entry["outputs"]]
        # Only the batch axis is symbolic.
        for info in (*model.graph.input, *model.graph.output):
            symbolic = [d.dim_param for d in info.type.tensor_type.shape.dim if d.dim_param]
            assert symbolic == ["batch"], (info.name, symbolic)
        figures = manifest["validation"][name]
        assert set(figures) == {"batch_1_max_abs", "batch_3_max_abs"}
        assert all(0 <= v <= 1e-4 for v in figures.values()), figures


def test_metadata_props_carry_the_manifest_facts(tiny_package):
    manifest = _manifest(tiny_package)
    for name in ("encoder", "generator"):
        props = {p.key: p.value for p in onnx.load(str(tiny_package / f"{name}.onnx")).metadata_props}
        assert props["sean.graph"] == name
        assert props["sean.precision"] == "fp32"
        assert props["sean.source_checkpoint_sha256"] == manifest["source_checkpoint"]["sha256"]
        assert json.loads(props["sean.class_names"]) == manifest["class_names"]
        assert json.loads(props["sean.model_config"]) == manifest["model_config"]
    generator = {p.key: p.value for p in onnx.load(str(tiny_package / "generator.onnx")).metadata_props}
    assert json.loads(generator["sean.noise"]) == manifest["noise"]


def test_graphs_use_only_static_tensorrt_operators(tiny_package, tiny_config):
    for name in ("encoder", "generator"):
        model = onnx.load(str(tiny_package / f"{name}.onnx"))
        ops = check_tensorrt_ops(model, name)
        assert not set(ops) & {*FORBIDDEN, "NonZero", "Einsum"}
        assert set(ops) <= set(SUPPORTED_TYPES)
        assert ops["MatMul"] >= 1  # region pooling / style broadcast as masked products
        # The one-hot built in the graph: once (encoder), once per resolution that reads it (generator).
        resolutions = {(spec.height, spec.width) for spec in block_specs(tiny_config)} | {tiny_config.latent_size}
        assert 1 <= ops["Equal"] <= (1 if name == "encoder" else len(resolutions))


def _model_with(op_type: str, domain: str = "") -> onnx.ModelProto:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    nodes = [
        onnx.helper.make_node("Relu", ["x"], ["r"], name="fine"),
        onnx.helper.make_node(op_type, ["r"], ["y"], name="culprit", domain=domain),
    ]
    opsets = [onnx.helper.make_opsetid("", 20)] + ([onnx.helper.make_opsetid(domain, 1)] if domain else [])
    return onnx.helper.make_model(onnx.helper.make_graph(nodes, "g", [x], [y]), opset_imports=opsets)


@pytest.mark.parametrize(
    "op_type,domain,message",
    [
        ("Unique", "", "not supported by the TensorRT ONNX parser"),
        ("NonZero", "", "data-dependent output shape"),
        ("RandomNormalLike", "", "noise must be a graph input"),
        ("Einsum", "", "use MatMul"),
        ("BlurPool", "com.example", "custom domain"),
        ("NotAnOperator", "", "not in the TensorRT ONNX operator list"),
    ],
)
def test_an_unsupported_operator_is_named(op_type, domain, message):
    with pytest.raises(UnsupportedOperatorError) as info:
        check_tensorrt_ops(_model_with(op_type, domain), "toy")
    text = str(info.value)
    assert f"{op_type} (node culprit)" in text and message in text
    assert "Relu" not in text


def test_an_unsupported_element_type_is_named():
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.INT32, [4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.INT32, [4])
    model = onnx.helper.make_model(
        onnx.helper.make_graph([onnx.helper.make_node("Sin", ["x"], ["y"], name="s")], "g", [x], [y]),
        opset_imports=[onnx.helper.make_opsetid("", 20)],
    )
    with pytest.raises(UnsupportedOperatorError, match=r"Sin .*not INT32"):
        check_tensorrt_ops(model)


def _ort(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_runtime_matches_pytorch_on_fresh_inputs(tiny_package, tiny_export_checkpoint, batch):
    model = load_checkpoint(tiny_export_checkpoint)
    config = model.config
    rng = np.random.default_rng(1000 + batch)
    labels = random_labels(rng, batch, config)
    labels[0, :, :] = np.where(labels[0] == 2, 1, labels[0])  # class 2 absent from image 0
    image = rng.uniform(-1, 1, (batch, 3, config.height, config.width)).astype(np.float32)
    noise = rng.standard_normal((batch, noise_layout(config).numel)).astype(np.float32)

    codes, area = _ort(tiny_package / "encoder.onnx").run(None, {"image": image, "labels": labels})
    mask = one_hot(torch.from_numpy(labels), config.num_classes)
    with torch.no_grad():
        expected_codes = model.encode(torch.from_numpy(image), mask).numpy()
    assert codes.shape == (batch, config.num_classes, config.style_dim)
    assert np.abs(codes - expected_codes).max() <= 1e-4
    assert np.all(codes[0, 2] == 0) and area[0, 2] == 0
    assert np.array_equal(area.sum(axis=1), np.full(batch, (config.height // 2) * (config.width // 2)))

    (image_out,) = _ort(tiny_package / "generator.onnx").run(None, {"labels": labels, "codes": codes, "noise": noise})
    with torch.no_grad():
        expected = model.generate(mask, torch.from_numpy(codes), torch.from_numpy(noise)).numpy()
    assert image_out.shape == (batch, 3, config.height, config.width)
    assert np.abs(image_out - expected).max() <= 1e-4


def test_the_validation_sessions_keep_no_memory_arena(tiny_package):
    """An arena keeps the largest run's memory (gigabytes at full size, batch 3) while PyTorch computes the
    reference beside it: it set a full-size export's peak memory (the README gives the figures)."""
    sess = validate.session(tiny_package / "generator.onnx")
    assert sess.get_session_options().enable_cpu_mem_arena is False


def test_large_graphs_keep_their_weights_beside_them(tiny_package, tiny_config, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_THRESHOLD", 0)
    files = save_onnx(onnx.load(str(tiny_package / "generator.onnx")), tmp_path / "generator.onnx")
    assert [f.name for f in files] == ["generator.onnx", "generator.onnx.data"]
    assert files[0].stat().st_size < files[1].stat().st_size
    feeds = random_inputs(graph_spec(tiny_config, "generator"), tiny_config, 1, np.random.default_rng(3))
    (inline,) = _ort(tiny_package / "generator.onnx").run(None, feeds)
    (external,) = _ort(files[0]).run(None, feeds)
    assert np.array_equal(inline, external)


def test_validation_rejects_a_graph_that_differs_from_pytorch(tiny_package, tiny_export_checkpoint, tmp_path):
    model = onnx.load(str(tiny_package / "generator.onnx"))
    conv = next(t for t in model.graph.initializer if t.name.endswith("conv_img.weight"))
    conv.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(conv) * 1.01, conv.name))
    broken = tmp_path / "generator.onnx"
    onnx.save(model, str(broken))
    reference = load_checkpoint(tiny_export_checkpoint)
    with pytest.raises(ValidationError, match="output 'image' differs from PyTorch"):
        compare_with_torch(reference, graph_spec(reference.config, "generator"), broken)


def test_package_is_readable_by_others(tiny_package):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(tiny_package.stat().st_mode) == 0o777 & ~umask
    for path in tiny_package.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name


def test_destination_must_be_new_empty_or_a_package(tmp_path, tiny_package):
    check_destination(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_destination(tmp_path / "empty")
    check_destination(tiny_package)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ExportError, match=r"not a SEAN package.*refusing"):
        check_destination(tmp_path / "photos")
    with pytest.raises(ExportError, match="is not a folder"):
        check_destination(tmp_path / "photos" / "holiday.jpg")
    checkpoint = tmp_path / "run" / "checkpoints" / "step_00000100"
    checkpoint.mkdir(parents=True)
    for out, words in ((checkpoint / "package", "lies inside the input folder"), (tmp_path / "run", "holds the input")):
        with pytest.raises(ExportError, match=words):
            check_destination(out, [checkpoint])
    check_destination(tmp_path / "run" / "package", [checkpoint])  # beside the checkpoints: fine


def test_export_refuses_bad_requests_before_any_work(tmp_path, tiny_export_checkpoint):
    with pytest.raises(ExportError, match="precision must be one of"):
        export_package(tiny_export_checkpoint, tmp_path / "p", precision="int8")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep me")
    with pytest.raises(ExportError, match="refusing to replace"):
        export_package(tiny_export_checkpoint, tmp_path / "notes")
    assert (tmp_path / "notes" / "a.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]  # no temporary folder left behind


def test_replace_folder_swaps_a_previous_package(tmp_path, tiny_package):
    old = tmp_path / "pkg"
    shutil.copytree(tiny_package, old)
    (old / "stale.plan").write_bytes(b"old engine")
    built = tmp_path / ".pkg.build"
    built.mkdir()
    (built / "manifest.json").write_text('{"format": "sean-package"}')
    replace_folder(built, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    assert sorted(p.name for p in old.iterdir()) == ["manifest.json"]


def test_random_inputs_leave_some_classes_absent():
    config = ModelConfig(**TINY)
    spec = graph_spec(config, "generator")
    feeds = random_inputs(spec, config, 16, np.random.default_rng(0))
    present = [np.unique(labels).size for labels in feeds["labels"]]
    assert min(present) < config.num_classes and max(present) > 1
    absent = ~np.isin(np.arange(config.num_classes), feeds["labels"][0])
    assert np.all(feeds["codes"][0][absent] == 0)


@pytest.mark.slow
def test_the_direct_style_conv_form_exports_and_validates(tmp_path):
    """tiny_package mixes both forms ("auto"); here every layer is direct. The all-factorized form is
    exported end to end in test_export_fp16.py."""
    config = ModelConfig(**TINY, style_conv="direct")
    model = make_random_model(config, scale=0.1)
    spec = graph_spec(config, "generator")
    feeds = random_inputs(spec, config, 2, np.random.default_rng(0))
    example = [torch.from_numpy(feeds[name]) for name in spec.input_names]
    proto = export_to_onnx(graph_module(model, "generator"), spec, example, 20)
    check_tensorrt_ops(proto, "generator")
    (path,) = save_onnx(proto, tmp_path / "generator.onnx")
    figures = compare_with_torch(model, spec, path)
    print(f"direct: {figures}")
    assert max(figures.values()) <= 1e-4


@pytest.fixture(scope="module")
def lookup_generator(tmp_path_factory):
    """A tiny generator with 48 classes (above costs.LOOKUP_COST) exported in the inference form:
    (model, graph path, number of lookups in the folded model)."""
    from sean_train.networks.inference import FoldedNorm, fold_for_inference

    config = ModelConfig(**{**TINY, "num_classes": 48, "style_dim": 64, "extra_mask_channels": 1})
    model = make_random_model(config, scale=0.08)
    norms = [m for m in fold_for_inference(model.generator).modules() if isinstance(m, FoldedNorm)]
    lookups = [m for n in norms for m in (n.shared, n.style) if m is not None and m.form == "lookup"]
    assert len(lookups) > len(norms)  # every mask branch and some style products
    spec = graph_spec(config, "generator")
    feeds = random_inputs(spec, config, 2, np.random.default_rng(0))
    example = [torch.from_numpy(feeds[name]) for name in spec.input_names]
    proto = export_to_onnx(graph_module(model, "generator", inference=True), spec, example, 20)
    (path,) = save_onnx(proto, tmp_path_factory.mktemp("lookup") / "generator.onnx")
    return model, path, len(lookups)


@pytest.mark.slow
def test_the_lookup_forms_export_and_validate_at_any_batch(lookup_generator):
    """Gather + ReduceSum with per-image rows offset by the dynamic batch index: TensorRT's operator
    list accepts them and ONNX Runtime matches PyTorch at batch 1 and 3."""
    model, path, lookups = lookup_generator
    ops = check_tensorrt_ops(onnx.load(str(path)), "generator")
    assert ops["ReduceSum"] == lookups  # one 9-tap sum per lookup
    figures = compare_with_torch(model, graph_spec(model.config, "generator"), path)
    assert max(figures.values()) <= 1e-4


@pytest.mark.slow
def test_openvino_reads_the_lookup_graph_with_its_input_names(lookup_generator):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    model, path, _ = lookup_generator
    spec = graph_spec(model.config, "generator")
    # f32 explicitly: OpenVINO's default on AVX-512 BF16 / AMX CPUs is bf16 (the backend's own rule)
    compiled = new_core().compile_model(str(path), "CPU", compile_config("f32", "LATENCY", None))
    assert sorted(port.get_any_name() for port in compiled.inputs) == sorted(spec.input_names)
    feeds = random_inputs(spec, model.config, 2, np.random.default_rng(5))
    request = compiled.create_infer_request()
    request.infer(feeds)
    (expected,) = _ort(path).run(None, feeds)
    assert np.abs(request.get_output_tensor(0).data - expected).max() <= 1e-4


@pytest.mark.slow
def test_an_export_releases_the_training_model_before_torch_onnx_export(tiny_export_checkpoint, tmp_path,
                                                                         monkeypatch):
    """The training model's weights stayed alive beside the folded generator and torch.onnx.export's copies of
    it: 5.7 GB peak at full size (README). Each graph's module is released once exported, too."""
    import weakref

    import sean_export.package as package

    models, modules, alive = [], [], []

    def load(*args, **kwargs):
        model = load_checkpoint(*args, **kwargs)
        models.append(weakref.ref(model))
        return model

    def module(*args, **kwargs):
        result = graph_module(*args, **kwargs)
        modules.append(weakref.ref(result))
        return result

    def export(*args, **kwargs):
        alive.append(("export", models[0]() is not None))
        return export_to_onnx(*args, **kwargs)

    def compare(spec, *args, **kwargs):
        alive.append(("validate", [ref() is not None for ref in modules]))
        return validate.compare_with_references(spec, *args, **kwargs)

    monkeypatch.setattr(package, "load_checkpoint", load)
    monkeypatch.setattr(package, "graph_module", module)
    monkeypatch.setattr(package, "export_to_onnx", export)
    monkeypatch.setattr(package, "compare_with_references", compare)
    export_package(tiny_export_checkpoint, tmp_path / "pkg", progress=False)
    assert alive == [("export", False), ("validate", [False, True]), ("export", False), ("validate", [False, False])]
