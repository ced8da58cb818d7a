"""`sean demo`: the README's main job, torch-free in its own process, exporting only when needed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sean_runtime.commands.demo import WEIGHTS, package_matches, shipped_checkpoint

OUTPUTS = ("contact_sheet.png", "interpolation.png", "reconstructions/00.png", "swaps/blob.png", "swaps/ground.png")


def run_demo_without_torch(*args: str) -> subprocess.CompletedProcess:
    """`sean demo ARGS` in a child whose own imports of torch fail (an export would run in a grandchild)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        from sean_runtime.cli import main
        main({list(args)!r})
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_package_matches_only_an_intact_package_of_the_same_weights(tiny_package, tiny_export_checkpoint, tmp_path):
    copy = Path(shutil.copytree(tiny_package, tmp_path / "package"))
    assert package_matches(copy, Path(tiny_export_checkpoint))
    other = Path(shutil.copytree(tiny_export_checkpoint, tmp_path / "other"))
    (other / WEIGHTS).write_bytes((other / WEIGHTS).read_bytes() + b" ")
    assert not package_matches(copy, other)
    (copy / "encoder.onnx").write_bytes(b"damaged")
    assert not package_matches(copy, Path(tiny_export_checkpoint))
    assert not package_matches(tmp_path / "missing", Path(tiny_export_checkpoint))


@pytest.mark.slow
def test_demo_reuses_a_matching_package_and_never_imports_torch(tiny_package, tiny_export_checkpoint, tmp_path):
    out = tmp_path / "demo-out"
    shutil.copytree(tiny_package, out / "package")
    result = run_demo_without_torch("demo", "-o", str(out), "--checkpoint", str(tiny_export_checkpoint))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already exported from this model" in result.stdout
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    for step in ("reconstructions", "region swaps", "interpolation", "contact sheet"):
        assert f"  {step}: " in result.stdout  # each step prints its time
    assert str(out / "contact_sheet.png") in result.stdout


def test_demo_without_a_model_says_what_to_do(tmp_path):
    empty = tmp_path / "ckpt"
    empty.mkdir()
    result = run_demo_without_torch("demo", "-o", str(tmp_path / "o"), "--checkpoint", str(empty))
    assert result.returncode == 1
    assert f"Error: no model at {empty} ({WEIGHTS} missing)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_readme_demo_from_the_shipped_model_in_under_two_minutes(tmp_path):
    if not (shipped_checkpoint() / WEIGHTS).is_file():
        pytest.skip(f"the shipped model is not in {shipped_checkpoint()} yet")
    out = tmp_path / "demo-out"
    sean = Path(sys.executable).with_name("sean")
    start = time.perf_counter()
    result = subprocess.run([str(sean), "demo", "-o", str(out)], capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stdout + result.stderr
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    manifest = json.loads((out / "package" / "manifest.json").read_text())
    assert manifest["domain"] == "shapes"
    assert seconds < 120, f"sean demo took {seconds:.0f} s"
