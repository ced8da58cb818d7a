"""The landscapes domain: deterministic scenes whose regions carry texture as well as colour."""

from __future__ import annotations

import numpy as np
import pytest

from sean_core.domains import get_domain
from sean_core.shipped import find_config

SKY, MOUNTAIN, WATER, SAND, GRASS, TREE, BUILDING = range(7)


@pytest.fixture(scope="module")
def domain():
    return get_domain("landscapes")


@pytest.fixture(scope="module")
def scenes(domain):
    return [domain.sample(i, "train") for i in range(40)]


def test_samples_are_deterministic_per_split_and_index(domain):
    image, labels = domain.sample(3, "test")
    again, same = domain.sample(3, "test")
    assert np.array_equal(image, again) and np.array_equal(labels, same)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and labels.dtype == np.int64
    assert not np.array_equal(domain.sample(3, "train")[0], image)
    assert domain.sample(3, "test", size=(64, 96))[0].shape == (64, 96, 3)


def test_scenes_are_laid_out_like_landscapes(scenes):
    """Sky at the top row, ground at the bottom row, and every class in some of the scenes."""
    seen = np.zeros(7, int)
    for _, labels in scenes:
        assert (labels[0] == SKY).mean() > 0.5  # the top row is mostly sky
        assert np.isin(labels[-1], [GRASS, TREE, BUILDING, SAND, WATER]).all()  # the bottom row is ground
        seen[np.unique(labels)] += 1
    assert (seen >= 4).all(), seen


def region_texture(image: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute difference of vertically neighbouring pixels inside a region (0: flat)."""
    grey = image.astype(np.float32).mean(axis=2)
    both = region[1:] & region[:-1]
    return float(np.abs(grey[1:] - grey[:-1])[both].mean()) if both.any() else 0.0


def test_a_regions_style_sets_its_texture_not_only_its_colour(scenes):
    """Within one class, scenes differ in how much the region's pixels vary (calm vs choppy water, short vs
    tall grass, clear vs cloudy sky) by far more than the colour alone would make them."""
    for class_id in (SKY, WATER, GRASS):
        textures = [region_texture(image, labels == class_id) for image, labels in scenes
                    if (labels == class_id).sum() > 300]
        assert len(textures) >= 5
        assert max(textures) > 3 * min(textures) + 0.5, (class_id, textures)


def test_regions_are_painted_from_their_own_style(domain, scenes):
    """Each class's pixels come from its own layer: a region's mean colour is not the image's mean."""
    image, labels = scenes[0]
    means = [image[labels == c].mean(axis=0) for c in np.unique(labels)]
    assert len(means) >= 3
    assert np.ptp(np.array(means), axis=0).max() > 30


def test_the_shipped_config_trains_this_domain_at_128(domain):
    import yaml

    config = yaml.safe_load(find_config("landscapes").read_text())
    assert config["model"]["domain"] == "landscapes" and config["model"]["num_classes"] == domain.num_classes
    assert (config["model"]["height"], config["model"]["width"]) == domain.resolution == (128, 128)


def test_a_written_split_reads_back_as_a_dataset(domain, tmp_path):
    domain.write_split(tmp_path, "test", 3, progress=False)
    pairs = domain.list_pairs(tmp_path, "test")
    assert [p.image.stem for p in pairs] == ["00000", "00001", "00002"]
    image, labels, _ = domain.load_pair(pairs[1])
    expected_image, expected_labels = domain.sample(1, "test")
    assert np.array_equal(image, expected_image) and np.array_equal(labels, expected_labels)
