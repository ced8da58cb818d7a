"""fp16 packages: mixed-precision graphs for strongly typed TensorRT builds, validated against fp32."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from sean_export.fp16 import FLOAT, HALF, convert_to_mixed_fp16, precision_histogram
from sean_export.graphs import graph_spec
from sean_export.onnx_export import save_onnx
from sean_export.onnx_types import tensor_types
from sean_export.tensorrt_ops import check_tensorrt_ops
from sean_export.validate import MIN_FP16_PSNR_DB, ValidationError, check_model_file, compare_fp16
from sean_train.checkpoint import save_checkpoint
from sean_train.config import ModelConfig
from tests.helpers import TINY, make_random_model


@pytest.fixture(scope="module")
def fp16_graphs(tiny_package, tmp_path_factory):
    """The tiny package's fp32 graphs converted to mixed precision: {name: (model, path)}."""
    folder = tmp_path_factory.mktemp("fp16")
    graphs = {}
    for name in ("encoder", "generator"):
        model = convert_to_mixed_fp16(onnx.load(str(tiny_package / f"{name}.onnx")), name)
        (path,) = save_onnx(model, folder / f"{name}.onnx")
        graphs[name] = (onnx.load(str(path)), path)
    return graphs


def _input_types(model: onnx.ModelProto, op_type: str) -> list[int]:
    types = tensor_types(model)
    return [types[node.input[0]] for node in model.graph.node if node.op_type == op_type]


def test_convs_run_in_fp16_and_reductions_in_fp32(fp16_graphs):
    for name, (model, path) in fp16_graphs.items():
        check_model_file(path, name)
        check_tensorrt_ops(model, name)
        weights = precision_histogram(model)
        assert weights["fp16"] > 50 * weights["fp32"], weights  # only BN stats, noise scales, blends stay fp32
        assert set(_input_types(model, "Conv")) == {HALF}
        # The interface is unchanged: float32 / int32 in and out.
        for info in (*model.graph.input, *model.graph.output):
            assert info.type.tensor_type.elem_type in (FLOAT, onnx.TensorProto.INT32)
    encoder, _ = fp16_graphs["encoder"]
    assert set(_input_types(encoder, "InstanceNormalization")) == {FLOAT}
    assert set(_input_types(encoder, "MatMul")) == {FLOAT}  # region pooling
    assert set(_input_types(encoder, "ReduceSum")) == {FLOAT}
    generator, _ = fp16_graphs["generator"]
    assert "BatchNormalization" not in {node.op_type for node in generator.graph.node}  # folded at export
    assert FLOAT in set(_input_types(generator, "Mul"))  # the modulation (x + noise v) G + B
    assert set(_input_types(generator, "MatMul")) == {HALF}


@pytest.mark.slow
def test_fp16_graphs_stay_close_to_fp32_without_nan(fp16_graphs, tiny_package, tiny_config):
    figures = {}
    for name, (_, path) in fp16_graphs.items():
        figures.update(compare_fp16(graph_spec(tiny_config, name), tiny_config, tiny_package / f"{name}.onnx", path))
    print(f"fp16 vs fp32: {figures}")
    assert figures["image_psnr_db"] >= MIN_FP16_PSNR_DB
    assert figures["codes_max_abs"] < 1e-2 and figures["area_max_abs"] == 0


def test_an_fp16_overflow_is_reported(fp16_graphs, tiny_package, tiny_config, tmp_path):
    model, _ = fp16_graphs["generator"]
    fc = next(t for t in model.graph.initializer if t.name.endswith("generator.fc.weight"))
    assert fc.data_type == HALF
    # Every output of the first conv sums >= 4 taps of 6e4: beyond fp16's largest value, 65504.
    huge = np.full(onnx.numpy_helper.to_array(fc).shape, 6e4, dtype=np.float16)
    fc.CopyFrom(onnx.numpy_helper.from_array(huge, fc.name))
    broken = tmp_path / "generator.onnx"
    onnx.save(model, str(broken))
    # tanh squashes the infinities to +-1 at the output: the check must look inside the graph.
    with pytest.raises(ValidationError, match=r"overflows: its fp16 tensor .* holds NaN or Inf"):
        compare_fp16(graph_spec(tiny_config, "generator"), tiny_config, tiny_package / "generator.onnx", broken)


@pytest.mark.slow
def test_cli_exports_an_fp16_package_and_prints_the_figures(tmp_path):
    """End to end, with every style conv factorized and an extra mask channel (the generator's `extra`)."""
    from sean_export.commands import export

    config = ModelConfig(**TINY, style_conv="factorized", extra_mask_channels=1)
    checkpoint = save_checkpoint(make_random_model(config, scale=0.1), tmp_path / "ckpt")
    out = tmp_path / "fp16"
    result = CliRunner().invoke(export, [str(checkpoint), "-o", str(out), "--precision", "fp16", "-q"])
    assert result.exit_code == 0, result.output
    print(result.output)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["precision"] == "fp16"
    assert [t["name"] for t in manifest["graphs"]["generator"]["inputs"]] == ["labels", "codes", "noise", "extra"]
    assert manifest["validation"]["generator"]["batch_3_max_abs"] <= 1e-4
    assert manifest["validation"]["generator"]["fp16_image_psnr_db"] >= MIN_FP16_PSNR_DB
    assert "fp16_image_psnr_db" in result.output and "batch_3_max_abs" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["encoder.onnx", "generator.onnx", "manifest.json"]
    props = {p.key: p.value for p in onnx.load(str(out / "generator.onnx")).metadata_props}
    assert props["sean.precision"] == "fp16"
