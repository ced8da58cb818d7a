"""Evaluation measures and `sean eval` on a tiny split."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sean_core.checkpoint_files import resolve_model_dir
from sean_core.domains import get_domain
from sean_train.checkpoint import CheckpointError
from sean_train.evaluate import choose_swaps, evaluate_model, swap_codes, texture_measures
from sean_train.metrics import change_inside_outside, psnr_255, region_colour_error, region_detail, rmse, ssim, to_255
from sean_train.networks.ops import one_hot
from tests.helpers import make_random_model


def test_psnr_and_rmse_of_a_constant_offset():
    a = torch.full((2, 3, 16, 16), 100.0)
    b = a + 5.0
    assert rmse(a, b).tolist() == pytest.approx([5.0, 5.0])
    assert psnr_255(a, b)[0].item() == pytest.approx(10 * math.log10(255**2 / 25.0))
    assert psnr_255(a, a)[0].item() == pytest.approx(100.0)


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g) * 255
    assert ssim(a, a).tolist() == pytest.approx([1.0, 1.0])
    small = (a + torch.randn(a.shape, generator=g) * 5).clamp(0, 255)
    large = (a + torch.randn(a.shape, generator=g) * 40).clamp(0, 255)
    s_small, s_large = ssim(a, small), ssim(a, large)
    assert torch.all(s_small < 1) and torch.all(s_large < s_small)
    torch.testing.assert_close(ssim(a, small), ssim(small, a))


def test_ssim_matches_a_direct_windowed_reference():
    """Every 11x11 window position (valid ones) with the 2-D gaussian weights, in numpy, against ssim()."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (2, 3, 24, 20))
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def windows(image):  # [C, H - 10, W - 10, 11, 11]
        return np.lib.stride_tricks.sliding_window_view(image, (11, 11), axis=(1, 2))

    expected = []
    for i in range(2):
        wa, wb = windows(a[i]), windows(b[i])
        mu_a, mu_b = (wa * window).sum((-1, -2)), (wb * window).sum((-1, -2))
        var_a = (wa**2 * window).sum((-1, -2)) - mu_a**2
        var_b = (wb**2 * window).sum((-1, -2)) - mu_b**2
        cov = (wa * wb * window).sum((-1, -2)) - mu_a * mu_b
        index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        expected.append(index.mean())
    assert ssim(torch.from_numpy(a), torch.from_numpy(b)).tolist() == pytest.approx(expected, abs=1e-10)


def test_ssim_of_a_brightness_shift_follows_the_luminance_term():
    # Flat images: variance and covariance are 0, so SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
    a, b = torch.full((1, 3, 16, 16), 100.0), torch.full((1, 3, 16, 16), 120.0)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b).item() == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_region_colour_error_is_per_present_region():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, :4] = 2
    classes = one_hot(labels, 4)
    style = torch.full((1, 3, 8, 8), 50.0)
    recon = style.clone()
    recon[0, 0, :4] += 30.0  # class 2 region: red off by 30 -> mean over RGB 10
    errors, present = region_colour_error(recon, style, classes)
    assert present[0].tolist() == [True, False, True, False]
    assert errors[0, 2].item() == pytest.approx(10.0) and errors[0, 0].item() == pytest.approx(0.0)


def test_region_detail_measures_texture_inside_regions_not_at_their_borders():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, :, 4:] = 1  # left half class 0, right half class 1
    classes = one_hot(labels, 3)
    flat = torch.where(labels[:, None] == 0, 0.0, 200.0).expand(1, 3, 8, 8)  # two flat colours
    detail, measured = region_detail(flat, classes)
    assert measured[0].tolist() == [True, True, False]
    assert detail[0].tolist() == [0.0, 0.0, 0.0]  # the 200-level border between them is no texture
    checker = flat.clone()
    checker[0, :, :, 4:] += 20.0 * ((torch.arange(8)[:, None] + torch.arange(4)[None]) % 2)  # right half textured
    detail, _ = region_detail(checker, classes)
    assert detail[0, 0].item() == 0.0 and detail[0, 1].item() == pytest.approx(20.0)


def test_texture_correlation_follows_the_style_images_detail_not_its_level():
    style = torch.tensor([1.0, 4.0, 2.0, 8.0], dtype=torch.float64)
    follows = texture_measures(style, 3.0 * style + 5.0)  # more detail everywhere, in the same order
    assert follows["correlation"] == pytest.approx(1.0) and follows["ratio"] == pytest.approx(3.0 + 20.0 / 15.0)
    assert texture_measures(style, style.flip(0))["correlation"] < 0
    flat = texture_measures(style, torch.full_like(style, 2.0))  # the same output whatever the style
    assert flat["correlation"] == 0.0 and flat["error"] == pytest.approx(2.25)


def test_change_inside_outside():
    before = torch.zeros(1, 3, 4, 4)
    after = before.clone()
    after[:, :, :2] = 6.0
    after[:, :, 3, 3] = 3.0
    region = torch.zeros(1, 4, 4, dtype=torch.bool)
    region[0, :2] = True
    inside, outside = change_inside_outside(before, after, region)
    assert inside.item() == pytest.approx(6.0) and outside.item() == pytest.approx(3.0 / 8)


def test_swaps_pick_classes_present_in_both_images():
    labels = torch.zeros(3, 8, 8, dtype=torch.long)
    labels[0, :4] = 1
    labels[1, :4] = 1
    labels[1, 4:] = 2
    labels[2, :, :4] = 2
    classes = one_hot(labels, 3)
    area = classes.sum(dim=(2, 3))
    partner, chosen = choose_swaps(classes, area)
    assert partner.tolist() == [1, 2, 0]
    for i in range(3):
        k = chosen[i].item()
        assert k >= 0 and area[i, k] > 0 and area[partner[i], k] > 0
    codes = torch.arange(3 * 3 * 2, dtype=torch.float32).view(3, 3, 2)
    swapped = swap_codes(codes, partner, chosen)
    for i in range(3):
        k = chosen[i].item()
        assert torch.equal(swapped[i, k], codes[partner[i], k])
        others = [j for j in range(3) if j != k]
        assert torch.equal(swapped[i, others], codes[i, others])
    assert choose_swaps(classes[:1], area[:1])[1].tolist() == [-1]  # one image: nothing to swap with


def test_evaluate_model_on_a_tiny_generated_split(tiny_config):
    from sean_train.data import open_source

    source = open_source(get_domain("shapes"), None, "test", 64, 64, 6)
    results = evaluate_model(make_random_model(tiny_config), source, batch_size=3, progress=False)
    assert results["images"] == 6
    assert results["locality"]["swaps"] == 6
    assert 0 < results["ssim"] < 1 and results["rmse"] > 0 and results["region_colour_error"] > 0
    assert results["locality"]["change_inside"] > 0


def test_perfect_reconstruction_scores_perfectly(tiny_config):
    """A stand-in model whose generator returns the style image exactly."""
    from sean_train.data import open_source

    class Echo(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.inner = model
            self.config = model.config
            self.generator = model.generator
            self.encoded = {}  # batch size -> the images last encoded (a batch, or a swap partner alone)

        def encode(self, image, mask):
            self.encoded[image.shape[0]] = image
            return self.inner.encode(image, mask)

        def generate(self, mask, codes, noise):
            return self.encoded[mask.shape[0]]

    source = open_source(get_domain("shapes"), None, "test", 64, 64, 4)
    results = evaluate_model(Echo(make_random_model(tiny_config)), source, batch_size=4, progress=False)
    assert results["psnr_db"] == pytest.approx(100.0)
    assert results["ssim"] == pytest.approx(1.0)
    assert results["rmse"] == 0 and results["region_colour_error"] == 0
    assert results["texture"]["ratio"] == pytest.approx(1.0) and results["texture"]["error"] == 0
    assert results["texture"]["correlation"] == pytest.approx(1.0)
    assert results["texture"]["style_detail"] > 0  # the shapes domain's regions are textured


def test_to_255_rounds_like_the_runtime():
    x = torch.tensor([-1.0, 1.0, 0.0, 2.0])
    assert to_255(x).tolist() == [0.0, 255.0, 128.0, 255.0]


@pytest.mark.slow
def test_sean_eval_cli_on_a_folder_split_matches_the_generated_split(tiny_checkpoint, tmp_path):
    """Also: the untrained baseline is measured only when asked for (--untrained), so the default is fast."""
    from sean_train.commands.evaluate import evaluate

    get_domain("shapes").write_split(tmp_path / "data", "test", 4, progress=False)
    runner = CliRunner()
    folder = runner.invoke(evaluate, [str(tiny_checkpoint), "--data", str(tmp_path / "data"), "--quiet", "--untrained",
                                      "--device", "cpu", "--batch-size", "4", "--json", str(tmp_path / "a.json")])
    assert folder.exit_code == 0, folder.output
    assert "untrained" in folder.output and "PSNR" in folder.output
    generated = runner.invoke(evaluate, [str(tiny_checkpoint), "--limit", "4", "--quiet", "--device", "cpu",
                                         "--batch-size", "4", "--json", str(tmp_path / "b.json")])
    assert generated.exit_code == 0, generated.output
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert a["results"]["trained"]["images"] == 4
    # PNG files hold the generated samples losslessly, so both paths see the same pixels.
    assert a["results"]["trained"]["psnr_db"] == pytest.approx(b["results"]["trained"]["psnr_db"], abs=1e-9)
    assert set(a["results"]) == {"untrained", "trained"}
    assert a["results"]["untrained"]["psnr_db"] != a["results"]["trained"]["psnr_db"]
    assert set(b["results"]) == {"trained"} and "untrained" not in generated.output


def test_resolve_model_dir_errors_are_clear(tmp_path, tiny_checkpoint):
    assert resolve_model_dir(tiny_checkpoint) == tiny_checkpoint
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        resolve_model_dir(tmp_path)
    # a run killed before its first checkpoint: "train first" said nothing of the --restart it needs
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match=rf"is a training run without a checkpoint yet .*`sean train --resume "
                                              rf"{tmp_path} --restart`"):
        resolve_model_dir(tmp_path)
    with pytest.raises(CheckpointError, match=r"best\.json"):
        resolve_model_dir(tmp_path, "best")
    spaced = tmp_path / "my run"  # the advice is a command to paste: a path with a space is quoted
    (spaced / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError) as refused:
        resolve_model_dir(spaced)
    assert f"`sean train --resume '{spaced}' --restart`" in str(refused.value)


def test_transfer_takes_the_classes_a_reference_has_and_scores_against_its_own_regions():
    from sean_train.evaluate import transfer_classes, transfer_colour_error

    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[0, :, 4:] = 1  # image 0: classes 0 (left) and 1 (right)
    labels[1, :2] = 1  # image 1 (the reference of 0): class 1 at the top, class 2 below
    labels[1, 2:] = 2
    classes = one_hot(labels, 3).float()
    partner = torch.tensor([1, 0])
    taken = transfer_classes(classes, classes.sum(dim=(2, 3)), partner)
    assert taken.tolist() == [[False, True, False], [False, True, False]]  # only class 1 is in both
    reference = torch.zeros(2, 3, 8, 8)
    reference[1, :, :2] = torch.tensor([200.0, 100.0, 0.0])[:, None, None]  # class 1's colour in image 1
    reference[0, :, :, 4:] = 50.0
    result = torch.zeros(2, 3, 8, 8)
    result[0, :, :, 4:] = torch.tensor([200.0, 100.0, 0.0])[:, None, None]  # image 0's class 1 in that colour
    result[1, :, :2] = torch.tensor([50.0, 50.0, 20.0])[:, None, None]
    error, pairs = transfer_colour_error(result, classes, reference[partner], classes[partner], taken)
    assert pairs == 2 and error == pytest.approx(0.0 + (0 + 0 + 30) / 3)


def test_evaluation_reports_the_transfer_from_another_layout(tiny_config):
    from sean_train.data import open_source

    source = open_source(get_domain("shapes"), None, "test", 64, 64, 4)
    results = evaluate_model(make_random_model(tiny_config), source, batch_size=2, progress=False)
    assert results["transfer"]["regions"] > 0 and results["transfer"]["colour_error"] > 0


def test_style_measures_do_not_depend_on_the_batch_size(tiny_config):
    """Swap partners were the next image within each batch, so --batch-size changed locality and transfer
    (8.2 against 9.5 on one split); the next image of the whole split is each one's partner now."""
    from sean_train.data import open_source

    source = open_source(get_domain("shapes"), None, "test", 64, 64, 5)
    model = make_random_model(tiny_config)
    runs = [evaluate_model(model, source, batch_size=size, progress=False) for size in (2, 3, 5)]
    for results in runs[1:]:
        assert results["locality"]["swaps"] == runs[0]["locality"]["swaps"] > 0
        assert results["transfer"]["regions"] == runs[0]["transfer"]["regions"] > 0
        for section, key in (("locality", "change_inside"), ("locality", "change_outside"),
                             ("transfer", "colour_error")):
            assert results[section][key] == pytest.approx(runs[0][section][key], rel=1e-4), (section, key)


def test_a_split_of_one_image_reports_no_swap_measures_not_perfect_ones(tiny_config):
    from sean_train.data import open_source
    from sean_train.evaluate import NO_SWAP, evaluation_table

    source = open_source(get_domain("shapes"), None, "test", 64, 64, 1)
    results = evaluate_model(make_random_model(tiny_config), source, batch_size=4, progress=False)
    assert results["locality"] == {"swaps": 0, "change_inside": None, "change_outside": None, "ratio": None,
                                   "ratio_note": NO_SWAP}
    assert results["transfer"] == {"regions": 0, "colour_error": None}
    rows = {line.split("  ")[0]: line for line in evaluation_table({"trained": results}).splitlines()}
    assert rows["swap locality ratio inside/outside (higher better)"].split()[-1] == "n/a*"
    assert rows[f"* trained: the locality ratio does not apply: {NO_SWAP}"]
    assert results["psnr_db"] > 0


def test_the_locality_ratio_of_a_model_that_ignores_its_styles_does_not_apply(tiny_config):
    """A swap that changes its own region by less than one grey level made the ratio rounding noise over
    rounding noise (any number from 0 to thousands); it is null with the reason, in the JSON and the table."""
    from sean_train.data import open_source
    from sean_train.evaluate import STYLES_IGNORED, evaluation_table

    class Deaf(torch.nn.Module):
        """The tiny model with its style codes all but ignored: a swap moves the image by a hair."""

        def __init__(self, model):
            super().__init__()
            self.inner = model
            self.config = model.config
            self.generator = model.generator

        def encode(self, image, mask):
            return self.inner.encode(image, mask)

        def generate(self, mask, codes, noise):
            return self.inner.generate(mask, codes * 1e-3, noise)

    source = open_source(get_domain("shapes"), None, "test", 64, 64, 4)
    model = make_random_model(tiny_config)
    hearing = evaluate_model(model, source, batch_size=4, progress=False)
    assert hearing["locality"]["ratio"] > 0 and hearing["locality"]["ratio_note"] is None
    results = evaluate_model(Deaf(model), source, batch_size=4, progress=False)
    locality = results["locality"]
    assert locality["swaps"] > 0 and 0 < locality["change_inside"] < 1, locality
    assert locality["ratio"] is None and locality["ratio_note"] == STYLES_IGNORED
    lines = evaluation_table({"trained": hearing, "deaf": results}).splitlines()
    row = next(line for line in lines if line.startswith("swap locality ratio")).split()
    assert row[-1] == "n/a*" and row[-2] != "n/a*", row
    assert lines[-1] == f"* deaf: the locality ratio does not apply: {STYLES_IGNORED}"


def test_eval_on_a_domain_with_other_classes_is_refused(tiny_checkpoint, tmp_path):
    """It printed a full table for an 8-class model on 7-class label maps."""
    from sean_train.commands.evaluate import evaluate

    result = CliRunner().invoke(evaluate, [str(tiny_checkpoint), "--domain", "landscapes", "--limit", "2",
                                           "--quiet", "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 2 and "domain landscapes has 7 classes" in result.output, result.output
    assert "the checkpoint's model 8" in result.output and not (tmp_path / "e.json").exists()


def test_sean_eval_leaves_out_an_unreadable_sample_names_it_and_measures_the_rest(tiny_checkpoint, tmp_path):
    """An unreadable file does not stop the evaluation: it is named in a note that says what to do (and in
    the JSON's left_out), and every other sample is measured."""
    from sean_train.commands.evaluate import evaluate

    shapes = get_domain("shapes")
    data = shapes.write_split(tmp_path / "data", "test", 4, progress=False)
    victim = shapes.list_pairs(data, "test")[1].image
    victim.write_bytes(victim.read_bytes()[:60])  # cut short
    out = tmp_path / "e.json"
    result = CliRunner().invoke(evaluate, [str(tiny_checkpoint), "--data", str(data), "--quiet", "--device", "cpu",
                                           "--batch-size", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    (note,) = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert note.startswith("note: 1 'test' sample(s) cannot be used and are left out of the evaluation (") and \
        f"{victim}: " in note and note.endswith("replace them with readable files of the same names to include them")
    assert "(3 images, 1 left out: they cannot be read)" in result.output
    written = json.loads(out.read_text())
    assert written["results"]["trained"]["images"] == 3
    (line,) = written["left_out"]
    assert line.startswith(f"{victim}: ")


def test_sean_eval_of_a_split_of_unreadable_samples_says_what_to_do(tiny_checkpoint, tmp_path):
    from sean_train.commands.evaluate import evaluate

    shapes = get_domain("shapes")
    data = shapes.write_split(tmp_path / "data", "test", 2, progress=False)
    for pair in shapes.list_pairs(data, "test"):
        pair.label.write_bytes(b"not a png")
    result = CliRunner().invoke(evaluate, [str(tiny_checkpoint), "--data", str(data), "--quiet", "--device", "cpu",
                                           "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 1, result.output
    assert "no sample can be evaluated: 2 'test' sample(s) cannot be used" in result.output, result.output
    assert "replace them with readable files" in result.output and not (tmp_path / "e.json").exists()
