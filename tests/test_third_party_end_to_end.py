"""A third-party domain plugin, installed outside this repository, trained, exported and served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.test_domains import PLUGIN_MODULE, write_distribution


def sean(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sean_core.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_train_export_and_synthesize_with_a_third_party_domain(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "acme-leaves", {"leaves": "acme_leaves:LeavesDomain"}, PLUGIN_MODULE)
    assert sean(["prepare", "leaves", str(tmp_path), "-o", str(tmp_path / "data")], site).returncode == 0

    config = {
        "model": dict(domain="leaves", num_classes=3, style_dim=8, ngf=2, encoder_ngf=2, spade_hidden=4,
                      height=32, width=32),
        "discriminator": {"ndf": 4},
        "train": dict(batch_size=2, epochs=1, epochs_decay=0, lambda_vgg=0.0, checkpoint_every=1, keep_last=1,
                      sample_every=100, val_samples=1),
    }
    (tmp_path / "leaves.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    trained = sean(["train", "--config", str(tmp_path / "leaves.yaml"), "--data", str(tmp_path / "data"),
                    "--out", str(run), "--device", "cpu", "--threads", "1"], site)
    assert trained.returncode == 0, trained.stderr[-2000:]
    checkpoint = sorted((run / "checkpoints").iterdir())[-1]

    exported = sean(["export", str(checkpoint), "-o", str(tmp_path / "pkg"), "-q"], site)
    assert exported.returncode == 0, exported.stderr[-2000:]

    label = tmp_path / "data" / "test" / "seg" / "leaf1.png"
    style = tmp_path / "data" / "test" / "img" / "leaf2.png"
    style_label = tmp_path / "data" / "test" / "seg" / "leaf2.png"  # the style image's own label map
    out = tmp_path / "out.png"
    synth = sean(["synth", str(tmp_path / "pkg"), "--label", str(label), "--style", str(style),
                  "--style-label", str(style_label), "-o", str(out)], site)  # fmt: skip
    assert synth.returncode == 0, synth.stderr[-2000:]
    from sean_core.imageio import read_rgb

    image = read_rgb(out)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
