"""What the domains that draw their own samples share: a prepared layout on disk, written on demand.

A generated domain's `sample(index, split, size)` is a deterministic function of its arguments; these
helpers write a split of them as PNG files (`<root>/<split>/images/NNNNN.png` + `labels/NNNNN.png`,
uint8 class ids) and list such a folder, so `sean serve --samples`, `sean eval` and the trainer read a
generated dataset exactly as they read a downloaded one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sean_core.domains import DatasetError, Domain, SamplePair, dataset_files, pair_by_stem, wrong_root
from sean_core.imageio import probe, write_png
from sean_core.progress import progress_bar


class GeneratedDomain(Domain):
    """A domain with `sample(index, split, size) -> (image uint8 [H, W, 3], labels int64 [H, W])`."""

    splits = ("train", "test")
    # Two classes whose style swap shows best what the domain's codes carry (`sean demo` swaps them).
    showcase: tuple[str, ...] = ()

    def sample(self, index: int, split: str = "train", size: tuple[int, int] | None = None):
        raise NotImplementedError

    def write_split(self, root: str | Path, split: str, count: int, progress: bool = True) -> Path:
        """Write `count` samples of a split as PNG files; already written files are kept (resumable)."""
        root = Path(root)
        for index in progress_bar(iterable=range(count), desc=f"{self.name} {split}", disable=not progress, unit="img"):
            image_path = root / split / "images" / f"{index:05d}.png"
            label_path = root / split / "labels" / f"{index:05d}.png"
            if image_path.exists() and label_path.exists():
                continue
            image, labels = self.sample(index, split)
            write_png(label_path, labels.astype(np.uint8))
            write_png(image_path, image)
        return root

    def list_pairs(self, root: str | Path, split: str) -> list[SamplePair]:
        self.check_split(split)
        root = Path(root)

        # A folder without any split's folders is no dataset of this layout: named with the folders expected
        # and the subfolder one level down, as the other domains do (it read as "no image/label pairs
        # found"). A dataset lacking only this split still gets that (a test split may be left out).
        def holds(folder: Path) -> bool:
            return any((folder / name / "images").is_dir() and (folder / name / "labels").is_dir()
                       for name in self.splits)

        if not holds(root):
            expected = " or ".join(f"{name}/images/ + {name}/labels/" for name in self.splits)
            raise wrong_root(root, self.name, f"{expected} directly inside it", holds)
        images = dataset_files(root / split / "images", (".png",))
        labels = dataset_files(root / split / "labels", (".png",))
        try:
            return pair_by_stem(images, labels, lambda p: p.stem, lambda p: p.stem, root, split)
        except DatasetError as exc:
            self.refuse_other_images(root / split / "images", {p.stem for p in labels} - {p.stem for p in images}, exc)
            raise

    def refuse_other_images(self, folder: Path, lonely: set[str], exc: DatasetError) -> None:
        """Labels whose images are there in another format (a faces dataset's JPEG photos): named as such,
        for "labels without an image" alone reads as if the images were missing."""
        others = sorted(p for p in folder.glob("*") if p.stem in lonely and p.suffix.lower() != ".png" and p.is_file())
        if others:
            with others[0].open("rb") as handle:
                found = probe(handle.read(1 << 16))
            kind = found[0] if found else f"{others[0].suffix} file"
            raise DatasetError(
                f"{others[0]} is a {kind}: the {self.name} domain reads PNG images; is this another domain's "
                f"dataset? Train on it with that domain's config (`sean domains` lists them)"
            ) from exc
