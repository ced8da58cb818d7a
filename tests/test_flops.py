"""The analytic FLOP counts match the official model's known breakdown and the identity's saving."""

from __future__ import annotations

from sean_train.config import ModelConfig
from sean_train.flops import encoder_macs, generator_macs


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
