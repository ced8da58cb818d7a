"""ADE20K (ADEChallengeData2016) on a tiny fixture in the release's layout and encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sean_core.domains import DatasetError, LabelError, get_domain
from sean_core.imageio import write_jpg, write_png

STEMS = {"training": ("ADE_train_00000001", "ADE_train_00000002", "ADE_train_00000010"),
         "validation": ("ADE_val_00000001",)}  # fmt: skip


def write_sample(root: Path, split: str, stem: str, labels: np.ndarray, image_hw=None) -> None:
    h, w = image_hw or labels.shape
    image = np.random.default_rng(len(stem)).integers(0, 256, (h, w, 3), dtype=np.uint8)
    write_jpg(root / "images" / split / f"{stem}.jpg", image)
    write_png(root / "annotations" / split / f"{stem}.png", labels)


def sample_labels(seed: int) -> np.ndarray:
    labels = np.random.default_rng(seed).integers(0, 151, (24, 40)).astype(np.uint8)
    labels[0, 0], labels[0, 1] = 0, 150  # "other" and the last class both occur
    return labels


@pytest.fixture
def ade_root(tmp_path) -> Path:
    root = tmp_path / "ADEChallengeData2016"
    for split, stems in STEMS.items():
        for i, stem in enumerate(stems):
            write_sample(root, split, stem, sample_labels(i))
    return root


def test_benchmark_classes_and_palette():
    ade = get_domain("ade20k")
    assert ade.num_classes == 151 and len(ade.palette) == 151
    assert ade.class_names[:6] == ("other", "wall", "building", "sky", "floor", "tree")
    assert ade.class_id("person") == 13 and ade.class_id("flag") == 150
    assert ade.palette[0] == (0, 0, 0) and ade.palette[1] == (120, 120, 120) and ade.palette[150] == (92, 0, 255)
    assert ade.palette[ade.class_id("road")] == ade.palette[ade.class_id("skyscraper")]
    assert len(set(ade.palette)) == 150, "only road and skyscraper share a colour"
    assert (ade.resolution, ade.layout, ade.extra_mask_channels) == ((256, 256), "normal", 0)


def test_pairs_and_split_aliases(ade_root):
    ade = get_domain("ade20k")
    train = ade.list_pairs(ade_root, "training")
    assert [p.image.stem for p in train] == list(STEMS["training"])
    assert ade.list_pairs(ade_root, "train") == train
    assert [p.label.stem for p in ade.list_pairs(ade_root, "test")] == list(STEMS["validation"])


def test_labels_keep_spade_ids_0_to_150(ade_root):
    ade = get_domain("ade20k")
    for i, pair in enumerate(ade.list_pairs(ade_root, "train")):
        image, labels, extra = ade.load_pair(pair)
        assert np.array_equal(labels, sample_labels(i)) and labels.dtype == np.int64
        assert image.shape == (24, 40, 3) and extra is None


def test_value_outside_the_classes_names_the_file(ade_root):
    labels = sample_labels(0)
    labels[3, 3] = 151
    write_png(ade_root / "annotations" / "validation" / "ADE_val_00000001.png", labels)
    (pair,) = get_domain("ade20k").list_pairs(ade_root, "val")
    with pytest.raises(LabelError, match=r"ADE_val_00000001\.png: values \[151\] are outside the 151 classes"):
        get_domain("ade20k").load_pair(pair)


def test_missing_annotation_names_the_image(ade_root):
    (ade_root / "annotations" / "training" / "ADE_train_00000002.png").unlink()
    with pytest.raises(DatasetError, match=r"images without a label: .*ADE_train_00000002\.jpg"):
        get_domain("ade20k").list_pairs(ade_root, "train")


def test_image_and_annotation_of_different_sizes(ade_root):
    write_sample(ade_root, "validation", "ADE_val_00000001", sample_labels(0), image_hw=(24, 41))
    (pair,) = get_domain("ade20k").list_pairs(ade_root, "val")
    with pytest.raises(DatasetError, match=r"ADE_val_00000001\.jpg is 41x24 but .*ADE_val_00000001\.png is 40x24"):
        get_domain("ade20k").load_pair(pair)


def test_training_samples_are_resized_to_286_cropped_to_256_then_flipped(ade_root):
    """SPADE's resize_and_crop (the ade20k config's train.load_size); crop offsets vary like the flips."""
    import dataclasses

    from sean_train.data import RawSample, crop_sample, flip_sample, to_tensors, training_data
    from sean_train.train_config import load_run_config

    ade = get_domain("ade20k")
    config = load_run_config("ade20k")
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=1))
    samples, order = training_data(config, ade, ade_root)
    assert order.crop_margin == (30, 30)
    draws = [draw for step in range(order.steps_per_epoch * 4) for draw in order.batch(step)]
    assert {d.flip for d in draws} == {True, False} and len({(d.top, d.left) for d in draws}) > 1
    pairs = ade.list_pairs(ade_root, "train")
    for draw in draws[:6]:
        image, labels, _ = ade.load_pair(pairs[draw.index], size=(286, 286))
        expected = crop_sample(RawSample(image, labels, None), draw.top, draw.left, 256, 256)
        if draw.flip:
            expected = flip_sample(expected, ade.flip_permutation())
        item, want = samples[draw], to_tensors(expected)
        assert item["image"].shape == (3, 256, 256)
        assert (item["labels"] == want["labels"]).all() and (item["image"] == want["image"]).all()


def test_macos_copies_are_no_samples_and_an_upper_case_jpg_is_one(ade_root, tmp_path):
    """An archive unpacked on a Mac leaves `._<name>` AppleDouble copies (with the data file's suffix) and
    .DS_Store beside every file, and a zip's __MACOSX/ beside the dataset; none of them is a sample."""
    for folder in (ade_root / "images" / "training", ade_root / "annotations" / "training"):
        for path in list(folder.iterdir()):
            (folder / f"._{path.name}").write_bytes(b"\x00\x05\x16\x07AppleDouble")
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    first = ade_root / "images" / "training" / f"{STEMS['training'][0]}.jpg"
    first.rename(first.with_suffix(".JPG"))
    pairs = get_domain("ade20k").list_pairs(ade_root, "train")
    assert [p.image.stem for p in pairs] == list(STEMS["training"])
    (ade_root.parent / "__MACOSX" / ade_root.name / "images").mkdir(parents=True)
    (ade_root.parent / "__MACOSX" / ade_root.name / "annotations").mkdir(parents=True)
    with pytest.raises(DatasetError, match=rf"pass {ade_root}$"):  # not the __MACOSX copy, which sorts first
        get_domain("ade20k").list_pairs(ade_root.parent, "train")
