"""`sean inspect`: config, learned numbers per part and the branch mix (alpha_gamma, alpha_beta) of each SEAN
layer, from a checkpoint (torch) and from a package's manifest (no torch); the Fig. 6 style picture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.format import BranchMix, branch_mix_from_manifest, parameters_from_manifest
from sean_core.imageio import read_rgb
from tests.helpers import write_package

ROOT = Path(__file__).resolve().parents[1]


def _mix_rows(output: str) -> dict[str, tuple[float, float]]:
    """layer -> (alpha_gamma, alpha_beta) from the printed branch-mix table."""
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and "." in parts[0] and parts[0].split(".")[1].startswith("norm_"):
            rows[parts[0]] = (float(parts[1]), float(parts[2]))
    return rows


def test_checkpoint_report_gives_each_style_layers_sigmoid_alphas_and_all_parameters(tiny_checkpoint, tmp_path):
    import torch

    from sean_train.checkpoint import load_checkpoint
    from sean_train.commands.inspect_model import inspect_model

    done = CliRunner().invoke(inspect_model, [str(tiny_checkpoint), "--plot", str(tmp_path / "mix.png")])
    assert done.exit_code == 0, done.output
    model = load_checkpoint(tiny_checkpoint)
    rows = _mix_rows(done.output)
    assert next(iter(rows)) == "head_0.norm_0" and len(rows) == 15 and not any(k.startswith("up_3") for k in rows)
    for layer, (a_gamma, a_beta) in rows.items():
        block, norm = layer.split(".")
        module = getattr(model.generator.blocks[block], norm)
        assert a_gamma == pytest.approx(torch.sigmoid(module.blending_gamma).item(), abs=5e-4)
        assert a_beta == pytest.approx(torch.sigmoid(module.blending_beta).item(), abs=5e-4)
    total = sum(p.numel() for p in model.parameters())
    (total_line,) = [line for line in done.output.splitlines() if line.startswith("total ")]
    assert f"{total:,}" in total_line
    assert "style_encoder: unified" in done.output and "left_dot" in done.output
    image = read_rgb(tmp_path / "mix.png")
    assert image.shape[0] > 100 and (tmp_path / "mix.png").stat().st_size < 100_000


def test_a_package_is_inspected_from_its_manifest_without_torch(tmp_path):
    mix = [BranchMix("head_0.norm_0", 0.25, 0.75).to_manifest(), BranchMix("up_2.norm_1", 0.6, 0.4).to_manifest()]
    package = write_package(tmp_path / "pkg", branch_mix=mix, parameters={"encoder": 10, "generator.fc": 30},
                            model_config={"style_encoder": "unified", "num_classes": 3, "style_dim": 4})
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # importing torch now fails\n"
        "from sean_core.cli import main\n"
        f"main(['inspect', {str(package)!r}, '--plot', {str(tmp_path / 'mix.png')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert _mix_rows(done.stdout) == {"head_0.norm_0": (0.25, 0.75), "up_2.norm_1": (0.6, 0.4)}
    assert "25.0%" in done.stdout and "75.0%" in done.stdout  # encoder 10 of 40, generator.fc 30 of 40
    assert (tmp_path / "mix.png").is_file()


def test_a_package_without_the_sections_says_so_and_a_broken_one_is_one_line(tmp_path):
    from sean_train.commands.inspect_model import inspect_model

    old = CliRunner().invoke(inspect_model, [str(write_package(tmp_path / "old"))])
    assert old.exit_code == 0 and old.output.count("not recorded in this package") == 2
    broken = write_package(tmp_path / "broken", branch_mix=[{"layer": "x", "alpha_gamma": 2, "alpha_beta": 0.5}])
    done = CliRunner().invoke(inspect_model, [str(broken)])
    assert done.exit_code == 1 and "alphas lie in 0..1" in done.output and len(done.output.splitlines()) == 1
    plot = CliRunner().invoke(inspect_model, [str(tmp_path / "old"), "--plot", str(tmp_path / "x.png")])
    assert plot.exit_code == 1 and "records no branch mix" in plot.output


def test_a_package_is_inspected_from_one_reading_of_its_manifest(tmp_path, monkeypatch):
    # the facts and the load's check read manifest.json apart: a file replaced between them went unnoticed
    from sean_runtime import package as runtime_package
    from sean_train.commands.inspect_model import inspect_model

    reads = []
    read_manifest = runtime_package.read_manifest
    monkeypatch.setattr(runtime_package, "read_manifest", lambda root: reads.append(root) or read_manifest(root))
    package = write_package(tmp_path / "pkg")
    done = CliRunner().invoke(inspect_model, [str(package)])
    assert done.exit_code == 0, done.output
    assert len(reads) == 1


@pytest.mark.parametrize("damage", ["truncated", "deleted", "manifest edited"])
def test_a_package_whose_files_do_not_match_its_manifest_is_an_error_after_its_facts(tmp_path, damage):
    # sean inspect read the manifest alone: a package that every load refuses was shown as sound (exit 0)
    from sean_train.commands.inspect_model import inspect_model

    package = write_package(tmp_path / "pkg")
    if damage == "truncated":
        (package / "generator.onnx").write_bytes(b"gen")
    elif damage == "deleted":
        (package / "generator.onnx").unlink()
    else:
        manifest = json.loads((package / "manifest.json").read_text())
        manifest["height"] *= 2
        (package / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(inspect_model, [str(package)])
    assert result.exit_code == 1 and result.output.startswith(f"package {package}")
    last = result.output.splitlines()[-1]
    assert last.startswith("Error: ") and "re-export it with `sean export CHECKPOINT -o PKG`" in last
    if damage != "manifest edited":
        assert "does not match its manifest: generator.onnx" in last


def test_the_pies_show_alpha_as_the_style_branchs_share():
    from sean_train.branch_plot import HEADER_H, MASK_RGB, STYLE_RGB, TILE_W, draw_branch_mix

    canvas = draw_branch_mix([BranchMix("head_0.norm_0", 0.8, 0.3)], "t")[HEADER_H:]  # below the legend
    shares = []
    for pie in (canvas[:, : TILE_W // 2], canvas[:, TILE_W // 2 : TILE_W]):  # gamma left, beta right
        style = np.all(pie == STYLE_RGB, axis=2).sum()
        mask = np.all(pie == MASK_RGB, axis=2).sum()
        shares.append(style / (style + mask))
    assert shares[0] == pytest.approx(0.8, abs=0.05)  # antialiased edges count as neither
    assert shares[1] == pytest.approx(0.3, abs=0.05)


@pytest.mark.slow
def test_export_records_the_checkpoints_branch_mix_and_parameters(tiny_package, tiny_export_checkpoint):
    from sean_train.checkpoint import load_checkpoint
    from sean_train.model_report import branch_mix, parameter_counts

    manifest = json.loads((tiny_package / "manifest.json").read_text())
    model = load_checkpoint(tiny_export_checkpoint)
    assert list(branch_mix_from_manifest(manifest)) == branch_mix(model)
    counts = parameters_from_manifest(manifest)
    assert list(counts.items()) == list(parameter_counts(model).items())  # in forward order, as the model has them
    assert list(counts)[:3] == ["encoder", "generator.fc", "generator.head_0"]
    assert list(counts)[-1] == "generator.conv_img"
    assert sum(counts.values()) == sum(p.numel() for p in model.parameters())
    # a package exported before the list form holds an object, read as it is
    older = {"generator.fc": 3, "encoder": 2}
    assert parameters_from_manifest({"parameters": older}) == older
    with pytest.raises(ValueError, match="must list"):
        parameters_from_manifest({"parameters": [{"part": "encoder", "parameters": -1}]})


@pytest.mark.parametrize("command", ["inspect", "export", "synth"])
def test_a_package_without_its_manifest_is_named_as_an_incomplete_package(tmp_path, command):
    # the graphs copied without manifest.json: inspect and export said "holds no checkpoint ...: train first"
    from sean_core.cli import main

    package = tmp_path / "pkg"
    package.mkdir()
    for name in ("encoder.onnx", "generator.onnx"):
        (package / name).write_bytes(b"graph")
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    args = {"inspect": ["inspect", str(package)], "export": ["export", str(package), "-o", str(tmp_path / "out")],
            "synth": ["synth", str(package), "--label", str(image), "--style", str(image),
                      "-o", str(tmp_path / "o.png")]}
    result = CliRunner().invoke(main, args[command])
    assert result.exit_code != 0
    assert "train first" not in result.output
    assert ("is an exported package" if command == "export" else "holds a package's graphs without it") in result.output


def test_which_best_on_a_checkpoint_folder_or_a_package_is_refused_and_latest_is_not(tiny_checkpoint, tmp_path):
    # --which best was ignored without a word: the folder itself was read, as with --which latest
    from sean_core.cli import main

    package = write_package(tmp_path / "pkg")
    fix = "one model with no scores: leave --which out, or pass the run folder"
    for args, what in (
        (["inspect", str(package)], "an exported package"),
        (["inspect", str(tiny_checkpoint)], "a model checkpoint folder"),
        (["export", str(tiny_checkpoint), "-o", str(tmp_path / "out")], "a model checkpoint folder"),
        (["export", str(tiny_checkpoint), "--best", "-o", str(tmp_path / "out")], "a model checkpoint folder"),
    ):
        path = args[1]
        which = [] if "--best" in args else ["--which", "best"]
        done = CliRunner().invoke(main, [*args, *which])
        assert done.exit_code != 0
        assert done.output == (f"Error: --which best picks a checkpoint of a run folder of `sean train`, and {path} "
                               f"is {what}, {fix}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    for path in (package, tiny_checkpoint):
        done = CliRunner().invoke(main, ["inspect", str(path), "--which", "latest"])
        assert done.exit_code == 0, done.output
