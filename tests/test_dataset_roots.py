"""A wrong dataset root is refused with the folders expected, and the subfolder to pass when the dataset
sits one level down (the folder above ADEChallengeData2016/, above cityscapes/, ...)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from sean_core.domains import DatasetError, get_domain

# domain -> (the folders its root holds, a file that makes each a non-empty dataset folder)
LAYOUTS = {
    "ade20k": ("images/training", "annotations/training"),
    "cityscapes": ("leftImg8bit/train/aachen", "gtFine/train/aachen"),
    "cityscapes-noinst": ("leftImg8bit/train/aachen", "gtFine/train/aachen"),
    "faces": ("CelebA-HQ-img", "CelebAMask-HQ-mask-anno/0"),
    # the generated domains' written splits (their --data is optional; it read "no image/label pairs found")
    "landscapes": ("train/images", "train/labels"),
    "shapes": ("train/images", "train/labels"),
}
EXPECTED = {
    "ade20k": "images/ + annotations/ directly inside it",
    "cityscapes": "leftImg8bit/ + gtFine/ directly inside it",
    "cityscapes-noinst": "leftImg8bit/ + gtFine/ directly inside it",
    "faces": "either the prepared layout (train/images/*.jpg + train/labels/*.png, test/...) or the CelebAMask-HQ "
    "release (CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/)",
    "landscapes": "train/images/ + train/labels/ or test/images/ + test/labels/ directly inside it",
    "shapes": "train/images/ + train/labels/ or test/images/ + test/labels/ directly inside it",
}


def make_layout(root: Path, domain: str) -> Path:
    for folder in LAYOUTS[domain]:
        (root / folder).mkdir(parents=True)
    return root


@pytest.mark.parametrize("domain", sorted(LAYOUTS))
def test_the_folder_above_the_dataset_is_refused_with_the_subfolder_to_pass(domain, tmp_path):
    dataset = make_layout(tmp_path / "downloads" / "the-dataset", domain)
    (tmp_path / "downloads" / "an-unrelated-folder").mkdir()
    with pytest.raises(DatasetError) as raised:
        get_domain(domain).list_pairs(tmp_path / "downloads", "train")
    message = str(raised.value)
    assert message.startswith(
        f"{tmp_path / 'downloads'} is not a dataset of the {domain} domain: expected {EXPECTED[domain]}"
    )
    assert message.endswith(f"; the dataset seems to be one level down: pass {dataset}")


@pytest.mark.parametrize("domain", sorted(LAYOUTS))
def test_a_folder_inside_the_dataset_is_refused_with_the_dataset_to_pass(domain, tmp_path):
    """ADEChallengeData2016/images/, cityscapes/leftImg8bit/train/, faces/CelebA-HQ-img/ given for the dataset:
    the message names the dataset folder it is in, to pass instead."""
    dataset = make_layout(tmp_path / "the-dataset", domain)
    with pytest.raises(DatasetError) as raised:
        get_domain(domain).list_pairs(dataset / LAYOUTS[domain][0], "train")
    assert str(raised.value).endswith(f"; it seems to be a folder inside the dataset: pass {dataset.resolve()}")


@pytest.mark.parametrize("domain", sorted(LAYOUTS))
def test_a_folder_without_the_dataset_names_what_is_expected(domain, tmp_path):
    (tmp_path / "images").mkdir()  # only half of ADE20K's pair, and nothing of the others
    with pytest.raises(DatasetError) as raised:
        get_domain(domain).list_pairs(tmp_path, "train")
    assert str(raised.value).startswith(
        f"{tmp_path} is not a dataset of the {domain} domain: expected {EXPECTED[domain]}"
    )
    assert "one level down" not in str(raised.value)
    with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'nowhere'} does not exist: expected")):
        get_domain(domain).list_pairs(tmp_path / "nowhere", "train")


def test_ade20k_names_its_class_list_file_as_the_release_does():
    import sean_domains.ade20k as ade20k

    assert "objectInfo150.txt" in ade20k.__doc__
    assert "objectInfo150.csv" not in inspect.getsource(ade20k)


@pytest.mark.parametrize("domain", sorted(LAYOUTS))
def test_a_folder_beside_the_dataset_that_cannot_be_looked_into_is_passed_over(domain, tmp_path, monkeypatch):
    """Another user's 0700 folder among the downloads: each domain's own test of a folder (its `holds`) raises
    PermissionError in it, and the guess goes on to the dataset. (Simulated: the tests run as root.)"""
    dataset = make_layout(tmp_path / "downloads" / "the-dataset", domain)
    (tmp_path / "downloads" / "0-private" / "images").mkdir(parents=True)
    is_dir = Path.is_dir

    def refused_inside_private(path: Path) -> bool:
        if "0-private" in path.parts and path.name != "0-private":
            raise PermissionError(13, "Permission denied", str(path))
        return is_dir(path)

    monkeypatch.setattr(Path, "is_dir", refused_inside_private)
    with pytest.raises(DatasetError) as raised:
        get_domain(domain).list_pairs(tmp_path / "downloads", "train")
    assert str(raised.value).endswith(f"; the dataset seems to be one level down: pass {dataset}")
