"""bf16 emulation: the rounding, where it applies, and the `sean bf16-check` report."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from sean_tools.bf16.check import bf16_check
from sean_tools.bf16.emulation import (
    INFERENCE_VARIANT,
    bf16_emulation,
    bf16_quality,
    reconstruct,
    round_bf16,
    synthetic_cases,
)
from sean_train.checkpoint import load_checkpoint
from sean_train.networks.inference import fold_for_inference


def test_round_bf16_is_round_to_nearest_even_and_leaves_other_dtypes():
    one = torch.tensor([1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-9, -(1.0 + 3 * 2**-9)])
    # bf16 keeps 7 fraction bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 and goes to the even one (1).
    expected = torch.tensor([1.0, 1.0, 1.0 + 2**-6, 1.0, -(1.0 + 2**-7)])
    torch.testing.assert_close(round_bf16(one), expected, rtol=0, atol=0)
    ids = torch.tensor([3, 5])
    assert round_bf16(ids) is ids
    assert round_bf16("text") == "text"


def test_matrix_ops_read_bf16_operands_and_every_op_stores_bf16():
    torch.manual_seed(0)
    x, w, b = torch.randn(1, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(5)
    layer = nn.Conv2d(4, 5, 3, padding=1)
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)
        with bf16_emulation(layer):
            emulated = layer(x)
            summed = x + 2**-12  # an elementwise op: result stored in bf16
        expected = round_bf16(F.conv2d(round_bf16(x), round_bf16(w), b, padding=1))
    torch.testing.assert_close(emulated, expected, rtol=0, atol=0)
    assert not torch.equal(emulated, F.conv2d(x, w, b, padding=1))
    torch.testing.assert_close(summed, round_bf16(x + 2**-12), rtol=0, atol=0)
    assert torch.equal(x @ x.transpose(-1, -2), torch.matmul(x, x.transpose(-1, -2)))  # mode gone after the block


def test_keep_fp32_modules_run_unrounded_and_hooks_are_removed():
    torch.manual_seed(1)
    norm = nn.InstanceNorm2d(3)
    model = nn.Sequential(norm)
    x = round_bf16(torch.randn(2, 3, 8, 8) * 3 + 1)
    with bf16_emulation(model, keep_fp32=(nn.InstanceNorm2d,)):
        kept = model(x)
    with bf16_emulation(model):
        rounded = model(x)
    torch.testing.assert_close(kept, norm(x), rtol=0, atol=0)
    torch.testing.assert_close(rounded, round_bf16(rounded), rtol=0, atol=0)
    assert not torch.equal(kept, rounded)
    assert not norm._forward_hooks and not norm._forward_pre_hooks


@pytest.mark.slow
def test_quality_of_a_tiny_model_is_finite_close_and_not_identical(tiny_export_checkpoint):
    model = load_checkpoint(tiny_export_checkpoint)
    cases = synthetic_cases(model.config)
    assert {c.name for c in cases} >= {"random 1-px blocks", "class 0 everywhere", "every class in stripes"}
    result = bf16_quality(model, cases, progress=False)
    assert set(result) == {"bf16", "bf16, fp32 norms", INFERENCE_VARIANT}
    for variant in result.values():
        assert variant["all_finite"] and len(variant["cases"]) == len(cases)
        assert 30.0 < variant["worst_psnr_db"] < 120.0  # bf16 moves the image, but only a little
        assert 0.0 < variant["codes_max_abs"] < 0.05


def test_the_inference_form_variant_draws_with_the_folded_generator(tiny_export_checkpoint):
    model = load_checkpoint(tiny_export_checkpoint).eval()
    folded = fold_for_inference(model.generator)
    case = synthetic_cases(model.config)[0]
    with torch.no_grad():
        codes, image = reconstruct(model, case)
        folded_codes, folded_image = reconstruct(model, case, folded)
    torch.testing.assert_close(folded_codes, codes, rtol=0, atol=0)
    torch.testing.assert_close(folded_image, image, rtol=0, atol=1e-5)
    with torch.no_grad(), bf16_emulation(model):  # bf16 numerics reach the folded generator's products too
        assert not torch.equal(reconstruct(model, case, folded)[1], folded_image)


@pytest.mark.slow
def test_bf16_check_command_reports_and_writes_json(tiny_export_checkpoint, tmp_path):
    out = tmp_path / "bf16.json"
    result = CliRunner().invoke(bf16_check, [str(tiny_export_checkpoint), "--count", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "worst PSNR dB" in result.output and "bf16, fp32 norms" in result.output
    data = json.loads(out.read_text())
    synthetic = len(synthetic_cases(load_checkpoint(tiny_export_checkpoint).config))
    assert [len(v["cases"]) for v in data["variants"].values()] == [synthetic + 2] * 3  # + 2 generated samples
    assert data["variants"]["bf16"]["cases"][-1]["case"] == "shapes test #1"


@pytest.mark.parametrize("args", [[], ["--official-size", "CKPT"]])
def test_bf16_check_needs_exactly_one_model(args, tiny_export_checkpoint):
    args = [str(tiny_export_checkpoint) if a == "CKPT" else a for a in args]
    result = CliRunner().invoke(bf16_check, args)
    assert result.exit_code == 2 and "CHECKPOINT folder or --official-size" in result.output
