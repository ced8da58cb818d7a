"""Import of the official latest_net_G.pth: key layout, exact math, and clear errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sean_train.checkpoint import CheckpointError, load_checkpoint
from sean_train.config import ModelConfig
from sean_train.convert_official import OfficialCheckpointError, convert_official
from sean_train.networks.ops import one_hot
from sean_train.spectral import fold_spectral_weight
from tests.official_reference import official_forward, official_key_shapes, random_official_state

# Keys, shapes and dtypes of the released CelebA-HQ latest_net_G.pth (facts only, vendored with the tests).
TSV = Path(__file__).resolve().parent / "data" / "official_sean_celebahq_state_dict.tsv"
TINY_OFFICIAL = dict(k=5, s=8, ngf=2, enc=2, hidden=4)


def read_tsv() -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in TSV.read_text().splitlines():
        key, shape, dtype = line.split("\t")
        rows.append((key, tuple(int(d) for d in shape.split(",")) if shape else (), dtype))
    return rows


def test_reference_key_generator_reproduces_the_released_manifest():
    assert official_key_shapes(19, 512, 64, 32, 128) == read_tsv()


def test_spectral_fold_equals_torch_eval_mode_spectral_norm():
    torch.manual_seed(0)
    conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    x = torch.randn(2, 6, 7, 7)
    conv.train()
    for _ in range(3):  # move u, v away from their initial values
        conv(x)
    conv.eval()
    with torch.no_grad():
        expected = conv(x)
        folded = fold_spectral_weight(conv.weight_orig, conv.weight_u, conv.weight_v)
        actual = torch.nn.functional.conv2d(x, folded, conv.bias, padding=1)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


def _save(state, path: Path) -> Path:
    torch.save(state, path)
    return path


@pytest.mark.parametrize("layout,size", [("normal", (64, 64)), ("more", (64, 128))])
def test_converted_model_computes_the_official_math(tmp_path, layout, size):
    # Spectral vectors as training leaves them: the output stays out of tanh's saturation, where a wrong
    # conversion would hide (|x| = 1 there, whatever the weights).
    state = random_official_state(official_key_shapes(**TINY_OFFICIAL), seed=3, dtype=torch.float64,
                                  trained_spectral_vectors=True)
    path = _save(state, tmp_path / "latest_net_G.pth")
    model = convert_official(path, height=size[0], width=size[1], layout=layout).double()
    assert model.config.num_classes == 5 and model.config.style_dim == 8 and model.config.ngf == 2
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, *size), generator=g)  # class 4 absent
    labels[0, :8, :8] = 3
    seg = one_hot(labels, 5).double()
    image = torch.rand(2, 3, *size, generator=g, dtype=torch.float64) * 2 - 1
    latent = model.config.latent_size
    with torch.no_grad():
        ours = model(image, seg, model.generator.zero_noise(2).double())
        reference = official_forward(state, image, seg, latent, layout)
    assert (reference.abs() > 0.999).double().mean().item() < 0.01  # hardly a pixel saturated
    # The converted checkpoint holds float32 weights (spectral norms divided out), ~1e-7 from the float64
    # reference; a wrong key, layout or fold moves unsaturated pixels by 1e-3 and more.
    assert (ours - reference).abs().max().item() < 1e-5


def test_cli_writes_a_loadable_checkpoint(tmp_path):
    from sean_train.commands.convert import convert_official as command

    state = random_official_state(official_key_shapes(**{**TINY_OFFICIAL, "k": 8}), seed=1)
    path = _save(state, tmp_path / "latest_net_G.pth")
    args = [str(path), "-o", str(tmp_path / "ckpt"), "--height", "64", "--width", "64", "--domain", "shapes"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    model = load_checkpoint(tmp_path / "ckpt")
    assert model.config.num_classes == 8 and model.config.domain == "shapes"
    assert model.config.class_names[2] == "blob"
    assert "8 classes" in result.output
    # A domain whose class count differs from the file is refused with both numbers.
    five = _save(random_official_state(official_key_shapes(**TINY_OFFICIAL)), tmp_path / "five.pth")
    result = CliRunner().invoke(command, [str(five), "-o", str(tmp_path / "x"), "--domain", "shapes"])
    assert result.exit_code == 1
    assert "5 classes" in result.output and "has 8" in result.output
    assert not (tmp_path / "x").exists()


def test_cli_never_overwrites_a_training_checkpoint_and_replaces_a_model_folder_only_with_force(tmp_path):
    """It wrote over any folder: a run's checkpoint got the converted weights beside its optimizer state."""
    from sean_train.commands.convert import convert_official as command

    path = _save(random_official_state(official_key_shapes(**{**TINY_OFFICIAL, "k": 8}), seed=1), tmp_path / "g.pth")
    args = ["--height", "64", "--width", "64", "--domain", "shapes"]
    step = tmp_path / "run" / "checkpoints" / "step_00000032"
    step.mkdir(parents=True)
    for name, data in (("config.json", b"{}"), ("model.safetensors", b"trained"), ("training.json", b"{}")):
        (step / name).write_bytes(data)
    for force in ([], ["--force"]):
        result = CliRunner().invoke(command, [str(path), "-o", str(step), *args, *force])
        assert result.exit_code == 2 and "training.json" in result.output, result.output
    assert (step / "model.safetensors").read_bytes() == b"trained"
    out = tmp_path / "model"
    assert CliRunner().invoke(command, [str(path), "-o", str(out), *args]).exit_code == 0
    again = CliRunner().invoke(command, [str(path), "-o", str(out), *args])
    assert again.exit_code == 2 and "--force" in again.output, again.output
    assert CliRunner().invoke(command, [str(path), "-o", str(out), *args, "--force"]).exit_code == 0
    assert load_checkpoint(out).config.num_classes == 8
    inside = CliRunner().invoke(command, [str(path), "-o", str(tmp_path), *args, "--force"])
    assert inside.exit_code == 2 and "holds the input" in inside.output, inside.output


def test_values_a_trained_generator_cannot_hold_are_named(tmp_path):
    """NaN weights and a spectral norm of 0 converted into a checkpoint that every later load called a
    diverged training run; a 0-d weight_orig was an IndexError; a stray norm key was dropped unnoticed."""
    base = random_official_state(official_key_shapes(**TINY_OFFICIAL))
    nan = dict(base)
    nan["conv_img.weight"] = nan["conv_img.weight"].clone()
    nan["conv_img.weight"][0, 0, 0, 0] = float("nan")
    cases = {
        "nan": (nan, r"conv_img\.weight holds NaN or infinite values"),
        "zero": (dict(base, **{"head_0.conv_0.weight_orig": torch.zeros_like(base["head_0.conv_0.weight_orig"])}),
                 r"head_0\.conv_0: .* spectral norm of 0"),
        "flat": (dict(base, **{"head_0.conv_0.weight_orig": torch.tensor(1.0)}),
                 r"head_0\.conv_0\.weight_orig has shape \(\), not a layer's"),
        "stray": (dict(base, **{"head_0.ace_0.Spade.param_free_norm.weight": torch.ones(3)}), r"unexpected keys"),
    }
    for name, (state, message) in cases.items():  # OfficialCheckpointError is a CheckpointError
        with pytest.raises(CheckpointError, match=message):
            convert_official(_save(state, tmp_path / f"{name}.pth"), height=64, width=64)


@pytest.mark.slow
def test_missing_unexpected_and_misshaped_keys_are_named(tmp_path):
    base = random_official_state(official_key_shapes(**TINY_OFFICIAL))

    missing = dict(base)
    del missing["up_1.ace_0.conv_beta.bias"]
    with pytest.raises(CheckpointError, match=r"missing keys.*up_1\.norm_0\.conv_beta\.bias"):
        convert_official(_save(missing, tmp_path / "a.pth"), height=64, width=64)

    extra = dict(base, **{"up_1.ace_0.mystery": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"unexpected keys.*up_1\.norm_0\.mystery"):
        convert_official(_save(extra, tmp_path / "b.pth"), height=64, width=64)

    unknown_block = dict(base, **{"decoder.weight": torch.zeros(3)})
    with pytest.raises(OfficialCheckpointError, match=r"decoder\.weight"):
        convert_official(_save(unknown_block, tmp_path / "c.pth"), height=64, width=64)

    wrong = dict(base)
    wrong["head_0.ace_1.noise_var"] = torch.zeros(7)
    with pytest.raises(CheckpointError, match=r"shape mismatches.*head_0\.norm_1\.noise_var"):
        convert_official(_save(wrong, tmp_path / "d.pth"), height=64, width=64)

    short_fc = {k: v for k, v in base.items() if ".fc_mu4." not in k}
    with pytest.raises(OfficialCheckpointError, match="fc_mu"):
        convert_official(_save(short_fc, tmp_path / "e.pth"), height=64, width=64)


def test_truncated_or_foreign_files_are_clear_errors(tmp_path):
    state = random_official_state(official_key_shapes(**TINY_OFFICIAL))
    good = _save(state, tmp_path / "good.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(OfficialCheckpointError, match="truncated"):
        convert_official(truncated)
    with pytest.raises(OfficialCheckpointError, match="no such file"):
        convert_official(tmp_path / "absent.pth")
    torch.save({"epoch": 3}, tmp_path / "foreign.pth")
    with pytest.raises(OfficialCheckpointError, match="state dict of tensors"):
        convert_official(tmp_path / "foreign.pth")
    with zipfile.ZipFile(tmp_path / "zip.pth", "w") as archive:  # a zip, but not PyTorch's: its reason, whole
        archive.writestr("archive/data.pkl", b"garbage")
    with pytest.raises(OfficialCheckpointError) as caught:
        convert_official(tmp_path / "zip.pth")
    assert "(RuntimeError: " in str(caught.value) and "Could this error message be improved" not in str(caught.value)
    assert str(caught.value).endswith("check its size (about 1.07 GB for CelebA-HQ)")
    # a web page saved in the file's place was said to be a pickle that "holds other Python objects"
    (tmp_path / "page.pth").write_text("<!DOCTYPE html><html>Not Found</html>")
    with pytest.raises(OfficialCheckpointError, match=r"page\.pth is not a PyTorch \.pth file \(neither a zip "
                                                      r"archive nor a pickle: it starts with b'<!DO'\)"):
        convert_official(tmp_path / "page.pth")
    legacy = tmp_path / "legacy.pth"  # the legacy pickle format still reads
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert convert_official(legacy).config.num_classes == TINY_OFFICIAL["k"]


@pytest.mark.slow
def test_full_size_random_checkpoint_from_the_manifest_converts_and_runs(tmp_path, all_threads):
    """982 keys, 267 M parameters: built from the TSV, converted, loaded strictly, one forward pass; the
    folded inference form that `sean export` ships (region form on the large maps, dense on the others)
    gives the same image on a face layout. (The all-dense form, TensorRT's graph, lookups in place of
    the one-hot convolutions, and the fold's arithmetic to 1e-12 in float64 are proven at small sizes,
    tests/test_networks.py: the fold's arithmetic does not depend on the widths.)

    The random state's spectral vectors are a trained checkpoint's, so the image
    stays out of tanh's saturation and every pixel is compared. In float32 the two forms differ by ~3e-6;
    a wrong edge row, tap order, noise or bias moves the image by 3e-4 or more.
    """
    from sean_tools.bench.inputs import face_labels
    from sean_train.networks.inference import fold_for_inference

    rows = read_tsv()
    path = _save(random_official_state(rows, seed=0, trained_spectral_vectors=True), tmp_path / "latest_net_G.pth")
    model = convert_official(path)
    assert model.config == ModelConfig()
    # A face layout: the region form's interiors and edges, and every dense layer's convolutions.
    labels = torch.from_numpy(face_labels(np.random.default_rng(0), 1, 19, 256, 256)).long()
    noise = torch.randn(1, model.generator.noise_layout.numel)
    image = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.inference_mode():
        mask = one_hot(labels, 19)
        codes = model.encode(image, mask)
        out = model.generate(mask, codes, noise)
        assert out.shape == (1, 3, 256, 256)
        assert torch.isfinite(out).all() and out.std() > 0.01
        assert (out.abs() > 0.99).float().mean() < 0.01  # out of tanh's saturation
        folded = fold_for_inference(model.generator, style_mode="auto", region_mode="auto")
        assert {norm.form for norm in folded.modules() if hasattr(norm, "forms")} == {"regions", "dense"}
        assert (folded(labels, codes, noise) - out).abs().max().item() < 1e-4


@pytest.mark.slow
def test_round_trip_through_the_official_layout(tmp_path):
    """to_official_state is the exact inverse: same key set as the release, same weights back."""
    from sean_train.convert_official import to_official_state
    from tests.helpers import make_random_model

    config = ModelConfig(num_classes=5, style_dim=8, ngf=2, encoder_ngf=2, spade_hidden=4, height=64, width=64)
    model = make_random_model(config, seed=4)
    official = to_official_state(model)
    expected = {key: shape for key, shape, _ in official_key_shapes(**TINY_OFFICIAL)}
    assert {k: tuple(v.shape) for k, v in official.items()} == expected
    back = convert_official(_save(official, tmp_path / "rt.pth"), height=64, width=64)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value, rtol=1e-6, atol=1e-7, msg=key)
