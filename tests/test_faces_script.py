"""scripts/faces.sh, the README's path from the two downloads to faces in the editor, on fixtures laid out
exactly like them: an official-layout generator state dict (19 classes, tiny widths) and a CelebAMask-HQ
release folder. Its package loads, reconstructs, and serves the prepared test split as samples."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.official_reference import official_key_shapes, random_official_state
from tests.test_faces import TEST_IDS, write_raw_release

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "faces.sh"


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_missing_arguments_and_files_are_one_line_errors(tmp_path):
    usage = run_script(cwd=tmp_path)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: bash scripts/faces.sh")
    absent = run_script(str(tmp_path / "latest_net_G.pth"), str(tmp_path), cwd=tmp_path)
    assert absent.returncode == 2 and "is not a file" in absent.stderr


@pytest.mark.slow
def test_two_downloads_become_a_package_with_face_samples(tmp_path):
    from sean_runtime import Synthesizer
    from sean_runtime.serve.service import load_samples

    weights = tmp_path / "CelebA-HQ_pretrained" / "latest_net_G.pth"
    weights.parent.mkdir()
    torch.save(random_official_state(official_key_shapes(k=19, s=8, ngf=2, enc=2, hidden=4)), weights)
    raw = write_raw_release(tmp_path / "CelebAMask-HQ")
    done = run_script(str(weights), str(raw), "out", "--height", "64", "--width", "64", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    serve = shlex.split(done.stdout.strip().splitlines()[-1])
    assert serve[:3] == ["sean", "serve", "out/package"] and serve[3] == "--samples"
    with Synthesizer.load(tmp_path / "out" / "package") as synth:
        assert synth.package.domain == "faces" and synth.resolution == (64, 64)
        samples = load_samples(synth, tmp_path / serve[4], "test", 16)
        assert len(samples) == len(TEST_IDS)
        from sean_core.domains import get_domain

        image, labels = get_domain("faces").load_pair(get_domain("faces").list_pairs(tmp_path / serve[4], "test")[0],
                                                      size=(64, 64))[:2]
        out = synth.reconstruct(image, labels, seed=0)
        assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    again = run_script(str(weights), str(raw), "out", "--height", "64", "--width", "64", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # a second run finds every step done
