"""Golden test of the shipped models: fixed inputs, outputs held against a stored reference, so a
change that degrades a model (weights, network code, folding, export forms) fails here.

References: tests/data/shipped_<name>_golden.npz, written by `python -m tests.test_shipped_model --write
[NAME]` from the PyTorch model on a CPU (fp32). Only regenerate one for a deliberate change of that model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOISE_SEED = 7
# Another CPU's BLAS may round differently; a change to the model moves pixels by far more than this.
MAX_LEVELS, MEAN_LEVELS = 2, 0.05




@dataclass(frozen=True)
class Golden:
    name: str  # the shipped model, sean_core/pretrained/<name>, of the domain of that name
    samples: tuple[int, ...]  # `test` split indices
    swap_class: int  # the class whose style image 0 takes from image 1 (both images show it)

    @property
    def model(self) -> Path:
        return ROOT / "sean_core" / "pretrained" / self.name

    @property
    def reference(self) -> Path:
        return ROOT / "tests" / "data" / f"shipped_{self.name}_golden.npz"


GOLDENS = {
    "shapes": Golden("shapes", (0, 1, 2, 3), 1),  # ground
    "landscapes": Golden("landscapes", (1, 2), 4),  # grass
}


def golden_outputs(golden: Golden) -> dict[str, np.ndarray]:
    """uint8 [B, H, W, 3] images: zero-noise reconstructions, one with seeded noise, one region swap."""
    import torch

    from sean_core.domains import get_domain
    from sean_train.checkpoint import load_checkpoint
    from sean_train.networks.ops import one_hot

    torch.set_num_threads(1)
    domain = get_domain(golden.name)
    samples = golden.samples
    pairs = [domain.sample(i, "test") for i in samples]
    image = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    mask = one_hot(torch.from_numpy(np.stack([p[1] for p in pairs])), domain.num_classes)
    model = load_checkpoint(golden.model)
    with torch.no_grad():
        codes = model.encode(image, mask)
        zero = model.generator.zero_noise(len(samples), "cpu")
        noise = torch.randn(zero.shape, generator=torch.Generator().manual_seed(NOISE_SEED))
        swapped = codes[:1].clone()
        swapped[:, golden.swap_class] = codes[1, golden.swap_class]
        outputs = {
            "reconstruction": model.generate(mask, codes, zero),
            "with_noise": model.generate(mask[:1], codes[:1], noise[:1]),
            "swap": model.generate(mask[:1], swapped, zero[:1]),
        }
    return {
        name: ((value + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for name, value in outputs.items()
    }


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_the_shipped_model_gives_its_reference_images(name):
    pytest.importorskip("torch", reason="the golden test runs the PyTorch model (pip install '.[train]')")
    expected = np.load(GOLDENS[name].reference)
    got = golden_outputs(GOLDENS[name])
    assert set(got) == set(expected.files)
    for name, image in got.items():
        difference = np.abs(image.astype(np.int16) - expected[name].astype(np.int16))
        assert difference.max() <= MAX_LEVELS, (name, int(difference.max()))
        assert difference.mean() <= MEAN_LEVELS, (name, float(difference.mean()))


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_the_swap_changes_the_swapped_region_only(name):
    """The reference itself must show SEAN's point: the swap moves pixels of the class, not the rest."""
    golden = GOLDENS[name]
    expected = np.load(golden.reference)
    from sean_core.domains import get_domain

    labels = get_domain(name).sample(golden.samples[0], "test")[1]
    change = np.abs(expected["swap"][0].astype(np.int16) - expected["reconstruction"][0].astype(np.int16)).mean(-1)
    inside, outside = change[labels == golden.swap_class].mean(), change[labels != golden.swap_class].mean()
    assert inside > 4 * outside, (inside, outside)


if __name__ == "__main__" and "--write" in sys.argv:
    for chosen in sys.argv[sys.argv.index("--write") + 1:] or sorted(GOLDENS):
        np.savez_compressed(GOLDENS[chosen].reference, **golden_outputs(GOLDENS[chosen]))
        print(f"wrote {GOLDENS[chosen].reference}")
