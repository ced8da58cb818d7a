"""The analytic FLOP counts match the official model's known breakdown and the identity's saving."""

from __future__ import annotations

import pytest

from sean_train.config import ModelConfig
from sean_train.flops import encoder_macs, generator_macs
from sean_train.networks.generator import block_specs


def gflop(macs: int) -> float:
    return 2 * macs / 1e9


def test_official_size_breakdown_matches_the_measured_profile():
    # Issue 7: of 642 GFLOP, 360 are conv_gamma/conv_beta, 198 the mask branch, 84 the ResBlk convs.
    direct = generator_macs(ModelConfig(), "direct")
    assert abs(gflop(direct["style_convs"]) - 360) < 2
    assert abs(gflop(direct["mask_branch"]) - 198) < 1
    assert abs(gflop(direct["resblk_convs"]) - 84) < 1
    assert abs(gflop(sum(direct.values())) - 642) < 3


def test_factorized_form_cuts_style_convs_about_twentyfold_at_19_classes():
    direct = generator_macs(ModelConfig(), "direct")["style_convs"]
    factorized = generator_macs(ModelConfig(), "factorized")["style_convs"]
    assert 15 < direct / factorized < 30


def test_auto_is_never_worse_than_either_form():
    for k in (19, 151):
        cfg = ModelConfig(num_classes=k)
        auto = sum(generator_macs(cfg).values())
        assert auto <= sum(generator_macs(cfg, "direct").values())
        assert auto <= sum(generator_macs(cfg, "factorized").values())


def test_encoder_count_grows_with_resolution():
    small, large = ModelConfig(height=128, width=128), ModelConfig()
    assert 3.9 < encoder_macs(large) / encoder_macs(small) <= 4.0


def test_inference_form_counts_follow_the_folded_modules():
    """The modulation rows and the chosen forms of the count are those of the folded model itself."""
    from sean_train.flops import inference_generator_macs
    from sean_train.networks import SEANModel
    from sean_train.networks.inference import FoldedNorm, fold_for_inference
    from tests.conftest import TINY

    config = ModelConfig(**{**TINY, "num_classes": 48})  # above the lookup cost: some layers look up
    folded = fold_for_inference(SEANModel(config).eval().generator, region_mode="dense")
    modulation = onehot = lookups = 0
    for spec in folded.specs:
        pixels = spec.height * spec.width
        for norm in (m for m in folded.blocks[spec.name].modules() if isinstance(m, FoldedNorm)):
            conv = norm.modulation
            modulation += conv.out_channels * conv.in_channels * 9 * pixels
            if norm.shared.form == "lookup":
                lookups += 1
                onehot += norm.shared.table.shape[1] * 9 * pixels  # nine table rows per pixel
            else:
                onehot += norm.shared.conv.weight.numel() * pixels
    counted = inference_generator_macs(config, region_mode="dense")
    assert lookups > 0
    assert counted["modulation"] == modulation
    assert counted["onehot_conv"] == onehot


def test_inference_form_is_cheaper_and_flat_in_the_class_count():
    from sean_train.flops import inference_generator_macs

    official = ModelConfig()
    training = sum(generator_macs(official).values())
    inference = sum(inference_generator_macs(official, region_mode="dense").values())
    assert inference < 0.95 * training
    # The shortcut's B rows go through conv_s: fout instead of fin rows in the up blocks' norm_s.
    dense = inference_generator_macs(official, "conv", region_mode="dense")
    saved = generator_macs(official)["mask_branch"] - dense["modulation"]
    assert saved == dense["onehot_conv"] + sum(
        (spec.fin - spec.fout) * official.spade_hidden * 9 * spec.height * spec.width
        for spec in block_specs(official) if spec.learned_shortcut
    )
    many = sum(inference_generator_macs(ModelConfig(num_classes=151), region_mode="dense").values())
    assert many / inference < 1.02  # training form: 495 / 300 GFLOP


@pytest.mark.parametrize("edges", ["rows", "windows"])
def test_region_form_counts_the_edge_windows_of_the_labels(edges):
    """Modulation MACs of the region form, as the folded model's own region maps find them; without labels
    every pixel counts. Edge form "rows": each layer's rows x hidden x 9 per activation row (class rows and
    the distinct 3x3 windows of the near pixels) and rows x 9 tap sums per distinct 5x5 window of the edge
    pixels; "windows": rows x hidden x 9 per distinct 5x5 window."""
    import numpy as np
    import torch

    from sean_tools.bench.inputs import face_labels
    from sean_train.flops import inference_generator_macs
    from sean_train.networks import SEANModel
    from sean_train.networks.inference import FoldedNorm, fold_for_inference, label_maps
    from sean_train.networks.regions import activation_table_rows
    from tests.conftest import TINY

    config = ModelConfig(**{**TINY, "height": 128, "width": 128})  # region form from forms.REGION_MIN_PIXELS
    folded = fold_for_inference(SEANModel(config).eval().generator, edge_mode=edges)
    labels = torch.from_numpy(face_labels(np.random.default_rng(0), 2, config.num_classes, 128, 128))
    expected = every_pixel = regions = 0
    for spec in folded.specs:
        maps = label_maps(labels, None, config.num_classes, spec.height, spec.width, folded.blocks[spec.name].needs)
        pixels = spec.height * spec.width
        for norm in (m for m in folded.blocks[spec.name].modules() if isinstance(m, FoldedNorm)):
            if norm.form == "regions":
                regions += 1
                assert norm.regions.edges == edges
                weights = norm.regions.weight.numel()  # [hidden, 9 R] or [9 hidden, R]
                near = maps.regions.near_taps.shape[0] / len(labels)  # distinct 3x3 windows
                edge = maps.regions.edge_patches.shape[0] / len(labels)  # distinct 5x5 windows
                if edges == "rows":
                    tap_sums = norm.regions.bias.numel() * 9 * edge
                    expected += weights * (activation_table_rows(config.num_classes) + near) + tap_sums
                    every_pixel += weights * (activation_table_rows(config.num_classes) + pixels)
                    every_pixel += norm.regions.bias.numel() * 9 * pixels
                else:
                    expected += weights * edge
                    every_pixel += weights * pixels
            else:
                weights = norm.modulation.weight.numel()
                expected += weights * pixels
                every_pixel += weights * pixels
    assert regions > 0
    counted = inference_generator_macs(config, labels=labels, edge_mode=edges)["modulation"]
    assert counted == pytest.approx(expected, rel=1e-3)
    assert inference_generator_macs(config, edge_mode=edges)["modulation"] == every_pixel > 1.2 * expected
