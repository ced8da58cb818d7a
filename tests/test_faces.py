"""Faces (CelebAMask-HQ) on tiny fixtures in the release's and SEAN's exact layouts and encodings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import sean_domains.faces as faces_module
from click.testing import CliRunner
from sean_domains.faces import NUM_TRAIN, PART_NAMES, FacesDomain

from sean_core.cli import main as sean
from sean_core.domains import DatasetError, LabelError, get_domain
from sean_core.imageio import read_raw, write_jpg, write_png

MASK = 32  # the release's masks are 512², its images 1024²: the fixture keeps the 1:2 ratio
IMAGE = 64
TRAIN_IDS = (0, 1, 2001, 10)  # 2001 lies in mask folder 1; 10 sorts after 2 only naturally
TEST_IDS = (NUM_TRAIN, 29999)


def expected_labels(sample_id: int) -> np.ndarray:
    """The merged id map a face should get: skin, then features painted over it, then hair over the top."""
    rng = np.random.default_rng(sample_id)
    labels = np.zeros((MASK, MASK), np.uint8)
    labels[4:28, 6:26] = 1  # skin
    for class_id in rng.choice(np.arange(2, 19), size=6, replace=False):
        y, x = rng.integers(0, MASK - 6, 2)
        labels[y : y + 6, x : x + 6] = class_id
    labels[0:3, :] = 13  # hair
    return labels


def part_masks(labels: np.ndarray) -> dict[int, np.ndarray]:
    """One binary mask (0 / 255) per present part, each also covering the pixels that later parts paint over,
    so that only the class-order merge gives `labels` back."""
    masks = {}
    for class_id in range(1, 19):
        region = labels == class_id
        if not region.any():
            continue
        covered_later = labels > class_id
        masks[class_id] = np.where(region | covered_later, 255, 0).astype(np.uint8)
    return masks


def write_raw_release(root: Path, ids=TRAIN_IDS + TEST_IDS) -> Path:
    for sample_id in ids:
        image = np.random.default_rng(sample_id).integers(0, 256, (IMAGE, IMAGE, 3), dtype=np.uint8)
        write_jpg(root / "CelebA-HQ-img" / f"{sample_id}.jpg", image)
        for class_id, mask in part_masks(expected_labels(sample_id)).items():
            name = f"{sample_id:05d}_{PART_NAMES[class_id - 1]}.png"
            path = root / "CelebAMask-HQ-mask-anno" / str(sample_id // 2000) / name
            # some release masks are stored with three identical channels
            write_png(path, np.repeat(mask[..., None], 3, axis=2) if class_id % 2 else mask)
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text("not read\n")
    return root


@pytest.fixture
def raw_root(tmp_path) -> Path:
    return write_raw_release(tmp_path / "CelebAMask-HQ")


def test_classes_palette_and_flip_follow_sean():
    faces = get_domain("faces")
    assert isinstance(faces, FacesDomain)
    assert faces.class_names == ("background", *PART_NAMES) and faces.num_classes == 19
    assert faces.class_names[13] == "hair" and faces.class_names[18] == "cloth"
    assert faces.palette[0] == (0, 0, 0) and faces.palette[4] == (51, 51, 255) and faces.palette[18] == (0, 204, 0)
    perm = faces.flip_permutation()
    for left, right in (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")):
        assert perm[faces.class_id(left)] == faces.class_id(right)
    assert sum(perm != np.arange(19)) == 6
    assert (faces.resolution, faces.layout) == ((256, 256), "normal")


def test_raw_release_pairs_split_by_id_in_natural_order(raw_root):
    faces = FacesDomain()
    assert faces.layout_of(raw_root) == "raw"
    train = faces.list_pairs(raw_root, "train")
    assert [int(p.image.stem) for p in train] == sorted(TRAIN_IDS)
    assert [int(p.image.stem) for p in faces.list_pairs(raw_root, "test")] == list(TEST_IDS)
    pair = train[-1]  # id 2001
    assert all(path.parent.name == "1" for _, path in pair.label_parts)
    assert [c for c, _ in pair.label_parts] == sorted(np.unique(expected_labels(2001))[1:].tolist())


def test_raw_parts_merge_in_class_order(raw_root):
    faces = FacesDomain()
    for pair in faces.list_pairs(raw_root, "train"):
        image, labels, extra = faces.load_pair(pair)
        assert np.array_equal(labels, expected_labels(int(pair.image.stem)))
        assert image.shape == (MASK, MASK, 3), "the 2x image comes back at the label size"
        assert extra is None


def test_prepare_writes_the_prepared_layout_and_resumes(raw_root, tmp_path):
    out = tmp_path / "prepared"
    faces = FacesDomain()
    assert faces.prepare(raw_root, out, progress=False) == {"written": 6, "already there": 0, "left out": 0}
    for split, ids in (("train", TRAIN_IDS), ("test", TEST_IDS)):
        for sample_id in ids:
            label = read_raw(out / split / "labels" / f"{sample_id}.png")
            assert label.dtype == np.uint8 and label.ndim == 2
            assert np.array_equal(label, expected_labels(sample_id))
            image_bytes = (out / split / "images" / f"{sample_id}.jpg").read_bytes()
            assert image_bytes == (raw_root / "CelebA-HQ-img" / f"{sample_id}.jpg").read_bytes()
    assert faces.layout_of(out) == "prepared"
    prepared = faces.list_pairs(out, "train")
    raw = faces.list_pairs(raw_root, "train")
    for a, b in zip(prepared, raw, strict=True):
        (img_a, lab_a, _), (img_b, lab_b, _) = faces.load_pair(a, size=(16, 16)), faces.load_pair(b, size=(16, 16))
        assert np.array_equal(lab_a, lab_b) and np.array_equal(img_a, img_b)

    assert faces.prepare(raw_root, out, progress=False) == {"written": 0, "already there": 6, "left out": 0}
    (out / "test" / "labels" / f"{NUM_TRAIN}.png").unlink()
    assert faces.prepare(raw_root, out, progress=False) == {"written": 1, "already there": 5, "left out": 0}
    assert not list(out.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_sean_prepare_command(raw_root, tmp_path):
    result = CliRunner().invoke(sean, ["prepare", "faces", str(raw_root), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "6 written" in result.output
    assert len(list((tmp_path / "out" / "train" / "labels").glob("*.png"))) == len(TRAIN_IDS)
    again = CliRunner().invoke(sean, ["prepare", "faces", str(tmp_path / "out"), "-o", str(tmp_path / "x")])
    assert again.exit_code != 0 and "already in the prepared layout" in again.output
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(sean, ["prepare", "faces", str(tmp_path / "empty"), "-o", str(tmp_path / "y")])
    assert empty.exit_code == 1 and "expected the CelebAMask-HQ release" in empty.output
    assert "sean prepare" not in empty.output  # not the command just run as the fix
    generated = CliRunner().invoke(sean, ["prepare", "shapes", str(tmp_path / "empty"), "-o", str(tmp_path / "y")])
    assert generated.exit_code == 1 and "'shapes' draws its own samples: there is no dataset" in generated.output


def test_prepare_leaves_out_unusable_samples_and_lists_why(raw_root, tmp_path, capsys):
    """A partly unpacked or damaged release: the usable faces are prepared, each other one is named with its
    reason (printed and in left-out.txt); nothing unreadable is copied into the prepared layout."""
    images, masks = raw_root / "CelebA-HQ-img", raw_root / "CelebAMask-HQ-mask-anno"
    write_jpg(images / "7.jpg", np.zeros((IMAGE, IMAGE, 3), np.uint8))  # no masks
    (images / "1.jpg").unlink()  # masks without their image
    jpeg = (images / "10.jpg").read_bytes()
    (images / "10.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # a truncated download
    write_jpg(images / "2001.jpg", np.zeros((IMAGE, IMAGE // 2, 3), np.uint8))  # another aspect than its masks
    (masks / "14" / f"{NUM_TRAIN}_skin.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 2, "already there": 0, "left out": 5}
    assert sorted(p.name for p in out.rglob("*.jpg")) == ["0.jpg", "29999.jpg"]
    listed = (out / "left-out.txt").read_text().splitlines()
    for name, reason in (("7.jpg", "an image without its label"), ("00001_skin.png", "a label without its image"),
                         ("10.jpg", "not a readable image"), ("2001.jpg", "the same aspect ratio"),
                         (f"{NUM_TRAIN}_skin.png", "not a readable image")):
        assert any(name in line and reason in line for line in listed), (name, listed)
    assert capsys.readouterr().err.count("left out: ") == 6  # the five, and where the list is
    assert [p.image.stem for p in FacesDomain().list_pairs(out, "train")] == ["0"]
    # repaired, the next run writes what was left out and removes the list
    write_raw_release(raw_root)
    (images / "7.jpg").unlink()
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 4, "already there": 2, "left out": 0}
    assert not (out / "left-out.txt").exists()


def test_prepare_leaves_out_images_not_named_by_their_id(raw_root, tmp_path, capsys):
    """A messy download (a browser's `0 (1).jpg`, a `copy of 10.jpg`) does not stop the run: such images are left
    out with their reason, each listed once (not once per split), and the faces named by their id are prepared."""
    images = raw_root / "CelebA-HQ-img"
    (images / "0 (1).jpg").write_bytes((images / "0.jpg").read_bytes())
    (images / "copy of 10.jpg").write_bytes((images / "10.jpg").read_bytes())
    out = tmp_path / "out"
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 6, "already there": 0, "left out": 2}
    listed = (out / "left-out.txt").read_text().splitlines()
    assert len(listed) == 2, listed
    for name in ("0 (1).jpg", "copy of 10.jpg"):
        assert any(f"{images / name}: CelebA-HQ images are named <id>.jpg with a numeric id; rename or delete it"
                   == line for line in listed), (name, listed)
    assert capsys.readouterr().err.count("left out: ") == 3  # the two, and where the list is
    assert sorted(p.name for p in out.rglob("*.jpg")) == sorted(f"{i}.jpg" for i in TRAIN_IDS + TEST_IDS)


def test_prepare_leaves_out_a_face_with_a_mask_of_an_unknown_part(raw_root, tmp_path):
    """A mask of a part the domain does not know does not stop the run: its face is left out whole (the file may
    be one of its parts misnamed, and a face written without it would be kept by later runs), listed once with
    the reason, and prepared by the run after the file is dealt with."""
    stray = raw_root / "CelebAMask-HQ-mask-anno" / "0" / "00001_tail.png"
    write_png(stray, np.zeros((MASK, MASK), np.uint8))
    out = tmp_path / "out"
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 5, "already there": 0, "left out": 1}
    assert not (out / "train" / "images" / "1.jpg").exists() and not (out / "train" / "labels" / "1.png").exists()
    (line,) = (out / "left-out.txt").read_text().splitlines()  # face 1's image and masks are not listed apart
    assert line.startswith(f"{stray}: unknown part 'tail'; CelebAMask-HQ parts are skin, nose, ")
    assert line.endswith(": rename it to its part or delete it (face 1 is left out until then)")
    stray.unlink()
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 1, "already there": 5, "left out": 0}
    assert np.array_equal(read_raw(out / "train" / "labels" / "1.png"), expected_labels(1))
    assert not (out / "left-out.txt").exists()


def test_prepare_lists_masks_not_named_id_underscore_part(raw_root, tmp_path):
    """A mask named otherwise than <id>_<part>.png (`00001 hair.png`) is listed with its reason by list_pairs and
    prepare alike, and the face of the first number in its name is left out until it is dealt with, rather than
    prepared without that part (no hair); junk stays silent."""
    masks = raw_root / "CelebAMask-HQ-mask-anno"
    spaced = masks / "0" / "00001 hair.png"
    (masks / "0" / "00001_hair.png").rename(spaced)
    copy = masks / "1" / "copy of 02001_skin.png"
    copy.write_bytes((masks / "1" / "02001_skin.png").read_bytes())
    nameless = masks / "0" / "mask.png"
    write_png(nameless, np.zeros((MASK, MASK), np.uint8))
    (masks / "0" / "._00001 hair.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    with pytest.raises(DatasetError, match=r"00001 hair\.png: CelebAMask-HQ masks are named <id>_<part>\.png"):
        FacesDomain().list_pairs(raw_root, "test")
    out = tmp_path / "out"
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 4, "already there": 0, "left out": 3}
    assert not (out / "train" / "labels" / "1.png").exists() and not (out / "train" / "labels" / "2001.png").exists()
    rule = "CelebAMask-HQ masks are named <id>_<part>.png, such as 00001_skin.png: rename it so or delete it"
    assert sorted((out / "left-out.txt").read_text().splitlines()) == sorted([
        f"{spaced}: {rule} (face 1 is left out until then)", f"{copy}: {rule} (face 2001 is left out until then)",
        f"{nameless}: {rule}"])
    spaced.rename(masks / "0" / "00001_hair.png")
    copy.unlink()
    nameless.unlink()
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 2, "already there": 4, "left out": 0}
    assert np.array_equal(read_raw(out / "train" / "labels" / "1.png"), expected_labels(1))  # with its hair


def test_release_files_of_macos_and_windows_and_upper_case_names(raw_root, tmp_path):
    """What unpacking a release on a Mac or browsing it on Windows leaves is not data; a .JPG or a .PNG mask is."""
    images, masks = raw_root / "CelebA-HQ-img", raw_root / "CelebAMask-HQ-mask-anno"
    for folder in (images, masks / "0"):
        (folder / "._0.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
        (folder / "._00000_skin.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        (folder / "Thumbs.db").write_bytes(b"\xd0\xcf")
    (raw_root.parent / "__MACOSX" / raw_root.name / "CelebA-HQ-img").mkdir(parents=True)
    (images / "0.jpg").rename(images / "0.JPG")
    (masks / "0" / "00001_hair.png").rename(masks / "0" / "00001_hair.PNG")
    out = tmp_path / "out"
    assert FacesDomain().prepare(raw_root, out, progress=False) == {"written": 6, "already there": 0, "left out": 0}
    assert np.array_equal(read_raw(out / "train" / "labels" / "1.png"), expected_labels(1))  # hair kept
    assert (out / "train" / "images" / "0.jpg").is_file()
    (out / "train" / "images" / "._0.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    assert len(FacesDomain().list_pairs(out, "train")) == len(TRAIN_IDS)


def test_an_interrupted_prepare_is_refused_until_run_again(raw_root, tmp_path, monkeypatch):
    out = tmp_path / "out"
    faces = FacesDomain()
    real_write_png = faces_module.write_png
    calls = []

    def stopped(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args)
        return real_write_png(*args, **kwargs)

    monkeypatch.setattr(faces_module, "write_png", stopped)
    with pytest.raises(KeyboardInterrupt):
        faces.prepare(raw_root, out, progress=False)
    monkeypatch.undo()
    with pytest.raises(DatasetError, match=rf"{out} is the output of a `sean prepare` that did not finish.*run "
                                           rf"`sean prepare faces {raw_root} -o {out}` again to finish it"):
        faces.list_pairs(out, "train")
    assert faces.prepare(raw_root, out, progress=False) == {"written": 4, "already there": 2, "left out": 0}
    assert len(faces.list_pairs(out, "train")) == len(TRAIN_IDS)


def test_sean_prepare_stopped_says_the_command_that_finishes_it(raw_root, tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM, which the CLI takes as Ctrl-C) ended `sean prepare` with click's bare "Aborted!"."""
    out = tmp_path / "my out"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(faces_module, "write_png", stopped)
    result = CliRunner().invoke(sean, ["prepare", "faces", str(raw_root), "-o", str(out)])
    assert result.exit_code == 1, result.output
    command = f"sean prepare faces {raw_root} -o '{out}'"  # the path with a space, quoted for the shell
    said = result.output.strip().splitlines()[-1]  # after the progress bar's lines
    assert said == f"Error: prepare stopped (Ctrl-C or a termination signal); run `{command}` to finish it"
    assert (out / "UNFINISHED.txt").read_text().strip() == command


def test_not_a_faces_folder(tmp_path):
    with pytest.raises(DatasetError, match="not a dataset of the faces domain: expected either the prepared layout"):
        FacesDomain().list_pairs(tmp_path, "train")


def test_prepared_label_outside_the_classes_names_the_file(tmp_path):
    write_jpg(tmp_path / "train" / "images" / "5.jpg", np.zeros((64, 64, 3), np.uint8))
    write_png(tmp_path / "train" / "labels" / "5.png", np.full((32, 32), 19, np.uint8))
    (pair,) = FacesDomain().list_pairs(tmp_path, "train")
    with pytest.raises(LabelError, match=r"5\.png: values \[19\] are outside the 19 classes"):
        FacesDomain().load_pair(pair)


def test_prepared_image_of_another_aspect_names_both_files(tmp_path):
    write_jpg(tmp_path / "test" / "images" / "28001.jpg", np.zeros((64, 48, 3), np.uint8))
    write_png(tmp_path / "test" / "labels" / "28001.png", np.zeros((32, 32), np.uint8))
    (pair,) = FacesDomain().list_pairs(tmp_path, "test")
    with pytest.raises(DatasetError, match=r"28001\.jpg is 48x64 but its label .*28001\.png is 32x32"):
        FacesDomain().load_pair(pair)


def test_raw_image_without_masks_names_it(raw_root):
    write_jpg(raw_root / "CelebA-HQ-img" / "7.jpg", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"images without a label: .*7\.jpg"):
        FacesDomain().list_pairs(raw_root, "train")


def test_raw_masks_without_image_name_them(raw_root):
    (raw_root / "CelebA-HQ-img" / "29999.jpg").unlink()
    with pytest.raises(DatasetError, match=r"labels without an image: .*29999_skin\.png"):
        FacesDomain().list_pairs(raw_root, "test")


def test_unknown_part_names_the_file(raw_root):
    write_png(raw_root / "CelebAMask-HQ-mask-anno" / "0" / "00001_beard.png", np.zeros((32, 32), np.uint8))
    with pytest.raises(LabelError, match=r"00001_beard\.png: unknown part 'beard'"):
        FacesDomain().list_pairs(raw_root, "train")


def test_part_masks_of_different_sizes_name_the_file(raw_root):
    path = raw_root / "CelebAMask-HQ-mask-anno" / "0" / "00001_hair.png"
    write_png(path, cv2.resize(read_raw(path), (16, 16), interpolation=cv2.INTER_NEAREST))
    pair = next(p for p in FacesDomain().list_pairs(raw_root, "train") if p.image.stem == "1")
    with pytest.raises(DatasetError, match=r"00001_hair\.png is 16x16 but .*00001_skin\.png is 32x32"):
        FacesDomain().load_pair(pair)
