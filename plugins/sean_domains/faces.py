"""Faces: CelebAMask-HQ, 19 classes, the domain of the released SEAN model.

Two on-disk layouts are read, and list_pairs tells them apart by their folders:
- prepared (SEAN's): <root>/<split>/images/<id>.jpg and <root>/<split>/labels/<id>.png, labels single-channel
  uint8 with values 0-18 (512x512), images 1024x1024;
- raw CelebAMask-HQ release: <root>/CelebA-HQ-img/<id>.jpg and
  <root>/CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png, one binary mask (0 / 255, sometimes stored
  as 3 channels) per part; merged in class order, later parts painting over earlier ones (as g_mask.py does).
Split by id: 0-27999 train, 28000-29999 test. `prepare` turns the raw release into the prepared layout.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from sean_core.domains import (
    DatasetError,
    Domain,
    LabelError,
    SamplePair,
    check_finished,
    dataset_files,
    is_junk,
    pair_by_stem,
    prepare_command,
    preparing,
    wrong_root,
)
from sean_core.errors import ImageReadError
from sean_core.files import atomic_write, atomic_write_text
from sean_core.imageio import read_raw, write_png
from sean_core.progress import progress_bar

# The 18 part masks of the raw release, in class order (class id = index + 1; 0 is background).
PART_NAMES = (
    "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
RAW_IMAGES = "CelebA-HQ-img"
RAW_MASKS = "CelebAMask-HQ-mask-anno"
NUM_TRAIN = 28000  # ids below this are the train split, the rest (28000-29999) test
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MASK_NAME = re.compile(r"^(\d+)_(.+)\.(?i:png)$")
_FIRST_NUMBER = re.compile(r"\d+")  # the face id a misnamed mask seems to be of (`00001 skin.png`)
LEFT_OUT = "left-out.txt"  # the samples `prepare` could not use, one line each, in its output folder
SHOWN_LEFT_OUT = 10  # of them, the lines `prepare` also prints


class FacesDomain(Domain):
    name = "faces"
    class_names = ("background", *PART_NAMES)
    # v_mask.py / the SEAN UI palette (RGB).
    palette = (
        (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
        (51, 255, 255), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
        (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0),
    )  # fmt: skip
    resolution = (256, 256)
    layout = "normal"
    flip_pairs = ((4, 5), (6, 7), (8, 9))  # l_eye/r_eye, l_brow/r_brow, l_ear/r_ear
    splits = ("train", "test")
    labels_may_be_scaled = True  # 1024² images with 512² labels

    # --- layouts ------------------------------------------------------------------------------
    @staticmethod
    def layout_of(root: str | Path) -> str:
        """'raw' or 'prepared', from the folders under root; anything else is an error saying what was expected."""
        root = Path(root)
        layout = FacesDomain._layout(root)
        if layout is None:
            raise wrong_root(
                root, "faces",
                f"either the prepared layout (train/images/*.jpg + train/labels/*.png, test/...) or the "
                f"CelebAMask-HQ release ({RAW_IMAGES}/ and {RAW_MASKS}/); convert the release with "
                f"`sean prepare faces RAW -o DIR`",
                lambda folder: FacesDomain._layout(folder) is not None,
            )
        return layout

    @staticmethod
    def _layout(folder: Path) -> str | None:
        if (folder / RAW_IMAGES).is_dir() and (folder / RAW_MASKS).is_dir():
            return "raw"
        if any((folder / split / "images").is_dir() for split in FacesDomain.splits):
            return "prepared"
        return None

    def list_pairs(self, root: str | Path, split: str) -> list[SamplePair]:
        split = self.check_split(split)
        root = Path(root)
        if self.layout_of(root) == "raw":
            return self._raw_pairs(root, (split,))[split]
        check_finished(root)
        images = dataset_files(root / split / "images", IMAGE_SUFFIXES)
        labels = dataset_files(root / split / "labels", (".png",))
        return pair_by_stem(images, labels, lambda p: p.stem, lambda p: p.stem, root, split)

    def _raw_pairs(
        self, root: Path, splits: tuple[str, ...], left_out: list[str] | None = None
    ) -> dict[str, list[SamplePair]]:
        """Pairs of the raw release by split: each image with the part masks of its id.

        A file named otherwise than the release names them (an image whose name is not its numeric id, a mask
        not named <id>_<part>.png or of a part the domain does not know), or one without its partner, is an
        error; with `left_out`, each gets a line there instead and its face is left out (`prepare` prepares a
        partly unpacked or messy release from the faces it has whole). A face with such a mask (its id: the
        mask name's first number) is left out rather than prepared from its other masks: the file may be one
        of its parts misnamed (`00001_Hair.png`, `00001 hair.png`), and a face written with a part missing
        would be kept by later runs. The folders are read once for all splits, so each line is written once.
        """

        def bad(line: str, error: type[DatasetError | LabelError]) -> None:
            if left_out is None:
                raise error(line)
            left_out.append(line)

        images: list[Path] = []
        for path in dataset_files(root / RAW_IMAGES, IMAGE_SUFFIXES):
            if path.stem.isdigit():
                images.append(path)
            else:
                bad(f"{path}: CelebA-HQ images are named <id>.jpg with a numeric id; rename or delete it",
                    DatasetError)
        parts_by_id: dict[int, list[tuple[int, Path]]] = {}
        misnamed: set[int] = set()  # the ids of the faces left out for a mask that may be one of their parts
        for folder in sorted(p for p in (root / RAW_MASKS).iterdir() if p.is_dir() and not is_junk(p)):
            for path in dataset_files(folder, (".png",)):
                match = _MASK_NAME.match(path.name)
                if match is not None and match.group(2) in PART_NAMES:
                    parts_by_id.setdefault(int(match.group(1)), []).append(
                        (PART_NAMES.index(match.group(2)) + 1, path))
                    continue
                if match is None:
                    number = _FIRST_NUMBER.search(path.stem)
                    sample_id = int(number.group()) if number else None
                    reason = (f"{path}: CelebAMask-HQ masks are named <id>_<part>.png, such as 00001_skin.png: "
                              f"rename it so or delete it")
                    error: type[DatasetError | LabelError] = DatasetError
                else:
                    sample_id = int(match.group(1))
                    reason = (f"{path}: unknown part {match.group(2)!r}; CelebAMask-HQ parts are "
                              f"{', '.join(PART_NAMES)}: rename it to its part or delete it")
                    error = LabelError
                if sample_id is not None:
                    misnamed.add(sample_id)
                    if left_out is not None:
                        reason += f" (face {sample_id} is left out until then)"
                bad(reason, error)

        def wanted(sample_id: int, split: str) -> bool:
            """In `split` by its id, and not left out for a misnamed mask."""
            return ("train" if sample_id < NUM_TRAIN else "test") == split and sample_id not in misnamed

        by_split: dict[str, list[SamplePair]] = {}
        for split in splits:
            split_images = [p for p in images if wanted(int(p.stem), split)]
            # The first part file stands for the sample's labels in pairing and messages.
            firsts = [min(parts)[1] for sample_id, parts in parts_by_id.items() if wanted(sample_id, split)]
            pairs = pair_by_stem(split_images, firsts, lambda p: int(p.stem), lambda p: int(p.name.split("_")[0]),
                                 root, split, left_out)
            by_split[split] = [
                dataclasses.replace(pair, label_parts=tuple(sorted(parts_by_id[int(pair.image.stem)])))
                for pair in pairs
            ]
        return by_split

    # --- labels -------------------------------------------------------------------------------
    def load_labels(self, pair: SamplePair) -> np.ndarray:
        if not pair.label_parts:
            return self.read_label(pair.label)
        return self.validate_labels(self.merge_parts(pair.label_parts), source=str(pair.label))

    @staticmethod
    def merge_parts(parts: tuple[tuple[int, Path], ...]) -> np.ndarray:
        """(class id, binary mask file) pairs -> uint8 ids [H, W]; later classes paint over earlier ones.

        A pixel belongs to a part where its mask is nonzero (in the blue channel for 3-channel files,
        the channel g_mask.py reads); every part of a sample must have the same size.
        """
        merged: np.ndarray | None = None
        first = parts[0][1]
        for class_id, path in sorted(parts):
            try:
                mask = read_raw(path)
            except ImageReadError as exc:
                raise LabelError(str(exc)) from exc
            if mask.ndim == 3:
                mask = mask[:, :, 2]
            if merged is None:
                merged = np.zeros(mask.shape, dtype=np.uint8)
            elif mask.shape != merged.shape:
                raise DatasetError(
                    f"{path} is {mask.shape[1]}x{mask.shape[0]} but {first} is "
                    f"{merged.shape[1]}x{merged.shape[0]}; the part masks of one face must have the same size"
                )
            merged[mask != 0] = class_id
        assert merged is not None, "a raw pair always has at least one part"
        return merged

    # --- preparation --------------------------------------------------------------------------
    def prepare(self, raw_dir: str | Path, out_dir: str | Path, progress: bool = True) -> dict[str, int]:
        """Raw CelebAMask-HQ -> prepared layout: labels merged at the masks' size, images copied byte for byte
        once they decode and fit their labels.

        Resumable: a sample whose image and label both exist in out_dir is kept ("already there"); every file
        is written atomically, and out_dir holds UNFINISHED.txt until a run completes, which list_pairs
        refuses (check_finished). A sample it cannot use (an image without masks or masks without an image,
        an image not named by its numeric id, a mask not named <id>_<part>.png or of an unknown part, an
        unreadable file, masks or image of sizes that do not fit) is left out: all are listed in
        out_dir/left-out.txt, the first SHOWN_LEFT_OUT printed. Returns {"written", "already there", "left out"}.
        """
        raw_dir, out_dir = Path(raw_dir), Path(out_dir)
        if self._layout(raw_dir) is None:
            raise wrong_root(raw_dir, "faces", f"the CelebAMask-HQ release ({RAW_IMAGES}/ and {RAW_MASKS}/ in it)",
                             lambda folder: FacesDomain._layout(folder) == "raw")
        if self.layout_of(raw_dir) != "raw":
            raise DatasetError(f"{raw_dir} is already in the prepared layout: pass it to training as it is")
        left_out: list[str] = []
        by_split = self._raw_pairs(raw_dir, self.splits, left_out)
        if not any(by_split.values()):
            lonely = f" ({len(left_out)} files left out, e.g. {left_out[0]})" if left_out else ""
            raise DatasetError(f"{raw_dir}: no image in {RAW_IMAGES}/ has its masks in {RAW_MASKS}/{lonely}")
        counts = {"written": 0, "already there": 0}
        with preparing(out_dir, prepare_command(self.name, raw_dir, out_dir)):
            for split, pairs in by_split.items():
                if not pairs:  # a release without this split's ids: no bar of 0 images
                    continue
                for pair in progress_bar(iterable=pairs, desc=f"faces {split}", unit="img", disable=not progress):
                    stem = pair.image.stem
                    image_out = out_dir / split / "images" / f"{stem}{pair.image.suffix.lower()}"
                    label_out = out_dir / split / "labels" / f"{stem}.png"
                    if image_out.is_file() and label_out.is_file():
                        counts["already there"] += 1
                        continue
                    try:
                        labels = self.load_labels(pair)
                        image_hw = self.read_image(pair.image).shape[:2]
                        self._check_sizes(pair, image_hw, labels.shape, None)
                    except (ImageReadError, DatasetError, LabelError) as exc:
                        left_out.append(str(exc))
                        continue
                    write_png(label_out, labels.astype(np.uint8))
                    atomic_write(image_out, lambda tmp, src=pair.image: shutil.copyfile(src, tmp))
                    counts["written"] += 1
            listing = out_dir / LEFT_OUT
            if left_out:
                atomic_write_text(listing, "".join(f"{line}\n" for line in left_out))
                more = len(left_out) - SHOWN_LEFT_OUT
                for line in left_out[:SHOWN_LEFT_OUT]:
                    print(f"left out: {line}", file=sys.stderr)
                print(f"left out: ... and {more} more; all are listed in {listing}" if more > 0
                      else f"left out: listed in {listing}", file=sys.stderr)
            else:
                listing.unlink(missing_ok=True)  # a listing of an earlier run whose samples are all written now
        return {**counts, "left out": len(left_out)}
