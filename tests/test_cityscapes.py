"""Cityscapes (gtFine) on a tiny fixture in the release's layout: labelIds, 16-bit instanceIds, edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sean_domains.cityscapes import CityscapesDomain, CityscapesNoInstanceDomain

from sean_core.domains import DatasetError, LabelError, get_domain
from sean_core.imageio import read_raw, write_png
from tests.helpers import centre_pil

H, W = 32, 64
FRAMES = {"train": ("aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313"),
          "val": ("frankfurt_000000_000294",)}  # fmt: skip


def scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labelIds uint8, instanceIds uint16): road and building, two touching cars, a person."""
    labels = np.full((H, W), 7, np.uint8)  # road
    labels[: H // 3] = 11  # building
    instances = labels.astype(np.uint16)  # classes without instances keep their plain id
    offset = seed % 5
    labels[16:26, 10 + offset : 30 + offset] = 26  # car
    instances[16:26, 10 + offset : 20 + offset] = 26000  # first car
    instances[16:26, 20 + offset : 30 + offset] = 26001  # a second car touching the first
    labels[12:28, 44:50] = 24  # person
    instances[12:28, 44:50] = 24000
    labels[0, 0] = 0  # unlabeled
    instances[0, 0] = 0
    return labels, instances


def write_frame(root: Path, split: str, frame: str, seed: int, instances: bool = True) -> None:
    city = frame.split("_")[0]
    labels, ids = scene(seed)
    image = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    write_png(root / "leftImg8bit" / split / city / f"{frame}_leftImg8bit.png", image)
    gt = root / "gtFine" / split / city
    write_png(gt / f"{frame}_gtFine_labelIds.png", labels)
    if instances:
        write_png(gt / f"{frame}_gtFine_instanceIds.png", ids)
    write_png(gt / f"{frame}_gtFine_color.png", get_domain("cityscapes").labels_to_colors(labels))
    (gt / f"{frame}_gtFine_polygons.json").write_text("{}")


@pytest.fixture
def city_root(tmp_path) -> Path:
    root = tmp_path / "cityscapes"
    for split, frames in FRAMES.items():
        for seed, frame in enumerate(frames):
            write_frame(root, split, frame, seed)
    return root


def brute_force_edges(ids: np.ndarray) -> np.ndarray:
    """SPADE's rule pixel by pixel: 1 where any 4-neighbour has a different instance id."""
    h, w = ids.shape
    edges = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                ny, nx = y + dy, x + dx
                if 0 <= ny < h and 0 <= nx < w and ids[ny, nx] != ids[y, x]:
                    edges[y, x] = 1
    return edges


def test_label_ids_palette_and_size():
    city = get_domain("cityscapes")
    assert city.num_classes == 35 and len(city.palette) == 35
    assert city.class_id("road") == 7 and city.class_id("car") == 26 and city.class_id("bicycle") == 33
    assert city.palette[7] == (128, 64, 128) and city.palette[33] == (119, 11, 32)
    assert (city.resolution, city.layout, city.extra_mask_channels) == ((256, 512), "more", 1)
    assert CityscapesNoInstanceDomain().extra_mask_channels == 0


def test_pairs_match_on_city_sequence_frame(city_root):
    city = get_domain("cityscapes")
    train = city.list_pairs(city_root, "train")
    assert [p.image.name[: -len("_leftImg8bit.png")] for p in train] == sorted(FRAMES["train"])
    for pair in train:
        key = pair.image.name[:20]
        assert pair.label.name.startswith(key) and pair.label.name.endswith("_gtFine_labelIds.png")
        assert pair.instance.name == key + "_gtFine_instanceIds.png"
    assert len(city.list_pairs(city_root, "test")) == 1


def test_instance_ids_are_16_bit_and_edges_separate_touching_instances(city_root):
    city = get_domain("cityscapes")
    pair = city.list_pairs(city_root, "train")[0]
    ids = read_raw(pair.instance)
    assert ids.dtype == np.uint16 and 26001 in ids
    image, labels, extra = city.load_pair(pair)
    assert image.shape == (H, W, 3) and extra.shape == (1, H, W) and extra.dtype == np.float32
    assert np.array_equal(extra[0], brute_force_edges(ids))
    label_only = brute_force_edges(labels)
    assert (extra[0] > label_only).any(), "the border between the two cars is only in the instance map"


@pytest.mark.parametrize("size", [(H // 2, W // 2), (24, 40), (48, 80)])
def test_labels_and_instances_are_resized_by_pixel_centres_and_edges_computed_after(city_root, size):
    """Against PIL's centre sampling (tests.helpers.centre_pil), not the resize under test: halving takes
    the odd pixels, and non-integer ratios and upscaling sample where PIL does."""
    city = get_domain("cityscapes")
    pair = city.list_pairs(city_root, "train")[1]
    _, labels, extra = city.load_pair(pair, size=size)
    rows, cols = centre_pil(H, size[0]), centre_pil(W, size[1])
    small_ids = read_raw(pair.instance)[np.ix_(rows, cols)]
    assert labels.shape == size
    np.testing.assert_array_equal(labels, read_raw(pair.label)[np.ix_(rows, cols)])
    assert np.array_equal(extra[0], brute_force_edges(small_ids)), "one-pixel edges at the working size"


def test_macos_copies_beside_the_label_files_are_no_frames(city_root):
    """`._<frame>_gtFine_labelIds.png` (an AppleDouble copy an archive unpacked on a Mac leaves) matches the
    label glob; it is no frame of its own, nor are the _color / _polygons files beside the labelIds."""
    for path in list((city_root / "gtFine" / "train").glob("*/*")) + list((city_root / "leftImg8bit").glob("*/*/*")):
        (path.parent / f"._{path.name}").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    # a hidden folder beside the cities (the glob reaches its files) holds no frames either
    trash = city_root / "leftImg8bit" / "train" / ".Trashes"
    trash.mkdir()
    (trash / "aachen_000002_000019_leftImg8bit.png").write_bytes(b"a deleted frame")
    pairs = get_domain("cityscapes").list_pairs(city_root, "train")
    assert [p.label.name for p in pairs] == [f"{frame}_gtFine_labelIds.png" for frame in sorted(FRAMES["train"])]


def test_without_instance_channel(city_root):
    noinst = CityscapesNoInstanceDomain()
    pair = noinst.list_pairs(city_root, "train")[0]
    assert pair.instance is None
    assert noinst.load_pair(pair)[2] is None
    assert CityscapesDomain(instance_edges=False).extra_channels_from(np.zeros((4, 4)), None) is None


def test_missing_instance_map_names_the_label(city_root):
    write_frame(city_root, "val", "lindau_000000_000019", 3, instances=False)
    with pytest.raises(DatasetError, match=r"lindau_000000_000019_gtFine_labelIds\.png has no instance map"):
        get_domain("cityscapes").list_pairs(city_root, "val")
    assert len(CityscapesNoInstanceDomain().list_pairs(city_root, "val")) == 2


def test_missing_image_names_the_label(city_root):
    (city_root / "leftImg8bit" / "train" / "bochum" / "bochum_000000_000313_leftImg8bit.png").unlink()
    with pytest.raises(DatasetError, match=r"labels without an image: .*bochum_000000_000313_gtFine_labelIds"):
        get_domain("cityscapes").list_pairs(city_root, "train")


def test_label_id_outside_the_classes_names_the_file(city_root):
    frame = FRAMES["val"][0]
    labels, _ = scene(0)
    labels[5, 5] = 35
    write_png(city_root / "gtFine" / "val" / "frankfurt" / f"{frame}_gtFine_labelIds.png", labels)
    (pair,) = get_domain("cityscapes").list_pairs(city_root, "val")
    with pytest.raises(LabelError, match=rf"{frame}_gtFine_labelIds\.png: values \[35\]"):
        get_domain("cityscapes").load_pair(pair)


def test_instance_map_of_another_size_names_it(city_root):
    frame = FRAMES["val"][0]
    write_png(city_root / "gtFine" / "val" / "frankfurt" / f"{frame}_gtFine_instanceIds.png",
              np.zeros((H, W // 2), np.uint16))  # fmt: skip
    (pair,) = get_domain("cityscapes").list_pairs(city_root, "val")
    with pytest.raises(DatasetError, match=rf"{frame}_gtFine_instanceIds\.png is 32x32 but its label"):
        get_domain("cityscapes").load_pair(pair)


def test_upper_case_suffixes_are_the_same_files(city_root):
    """A copy through a tool that upper-cases suffixes (`..._gtFine_instanceIds.PNG`): each frame's files,
    its instance map included, are found under those names on a case-sensitive file system."""
    for path in list(city_root.rglob("*.png")):
        path.rename(path.with_suffix(".PNG"))
    pairs = get_domain("cityscapes").list_pairs(city_root, "train")
    assert [p.instance.name for p in pairs] == [f"{frame}_gtFine_instanceIds.PNG" for frame in sorted(FRAMES["train"])]
    assert get_domain("cityscapes").load_pair(pairs[0])[2].shape == (1, H, W)


def test_images_and_labels_unpacked_into_a_folder_each_are_named(city_root, tmp_path):
    """macOS's Archive Utility unpacks leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip into a folder
    each; the error for the folder above both, or for either one, names where leftImg8bit/ and gtFine/ are."""
    images = (tmp_path / "leftImg8bit_trainvaltest").mkdir() or (city_root / "leftImg8bit").rename(
        tmp_path / "leftImg8bit_trainvaltest" / "leftImg8bit")
    labels = (tmp_path / "gtFine_trainvaltest").mkdir() or (city_root / "gtFine").rename(
        tmp_path / "gtFine_trainvaltest" / "gtFine")
    for given in (tmp_path, images.parent):
        with pytest.raises(DatasetError) as raised:
            get_domain("cityscapes").list_pairs(given, "train")
        assert str(raised.value).endswith(
            f"; leftImg8bit/ and gtFine/ are in separate folders ({images}, {labels}): move them into one folder "
            f"and pass that"
        ), raised.value


def test_a_city_without_its_labels_is_counted_and_says_what_to_do(city_root):
    """A city in leftImg8bit/ whose gtFine/ folder is missing: the error counts its images beyond the five it
    names and says what to do."""
    for frame in range(7):
        write_png(city_root / "leftImg8bit" / "train" / "ulm" / f"ulm_000000_{frame:06d}_leftImg8bit.png",
                  np.zeros((2, 2, 3), np.uint8))  # fmt: skip
    with pytest.raises(DatasetError) as raised:
        get_domain("cityscapes").list_pairs(city_root, "train")
    message = str(raised.value)
    assert "images without a label: [" in message and "ulm_000000_000004_leftImg8bit.png'] and 2 more; " in message
    assert message.endswith("restore the missing ones from the download, or move the unpaired files out of the "
                            "dataset folder"), message


def test_a_folder_beside_the_dataset_that_cannot_be_read_is_passed_over(city_root, tmp_path, monkeypatch):
    """Looking for leftImg8bit/ and gtFine/ in folders beside the one given reaches other users' folders (0700 on
    a shared machine): the error is still the wrong dataset folder, not "<their folder>: Permission denied"."""
    wrong, private = tmp_path / "wrong", tmp_path / "0-private"  # looked into before the dataset's folder
    wrong.mkdir()
    private.mkdir()
    looked_up, listed = Path.is_dir, Path.iterdir

    def is_dir(path: Path) -> bool:
        if private in path.parents:  # the tests run as root, for whom no folder is unreadable
            raise PermissionError(13, "Permission denied", str(path))
        return looked_up(path)

    def iterdir(path: Path):
        if path == tmp_path.parent:
            raise PermissionError(13, "Permission denied", str(path))
        return listed(path)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    for given in (wrong, tmp_path / "missing", tmp_path):
        with pytest.raises(DatasetError, match=r"expected leftImg8bit/ \+ gtFine/ directly inside it"):
            get_domain("cityscapes").list_pairs(given, "train")
