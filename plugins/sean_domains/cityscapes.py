"""Cityscapes (gtFine), by labelId, at 512x256 with the `more` generator layout, as SPADE trains on it.

Layout: <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png, and beside the labels in
<root>/gtFine/<split>/<city>/: *_gtFine_labelIds.png (uint8 labelIds) and *_gtFine_instanceIds.png (16-bit:
labelId * 1000 + k for each instance of a class with instances, the plain labelId elsewhere). Files are
matched on the first three underscore-separated fields (city_seq_frame).

Classes: the 35 ids 0-34 of SPADE (label_nc 35). cityscapesScripts defines ids 0-33; "license plate" has
id -1 and is never drawn into labelIds files (its pixels keep the vehicle's id), so id 34 carries its name
and colour but does not occur in the data. Keeping it makes the class axis match SPADE's 35 channels.

The optional extra channel is SPADE's instance boundary map: a pixel is 1 where any 4-neighbour has a
different instance id. Domain "cityscapes" has it (36 mask channels); "cityscapes-noinst" is SPADE's
--no_instance (35).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from sean_core.domains import DatasetError, Domain, SamplePair, dataset_files, pair_by_stem, require_folders

# cityscapesScripts labels.py, ids 0-33, then id 34 (see the module docstring).
CITYSCAPES_CLASSES = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground",
    "road", "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge",
    "tunnel", "pole", "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky",
    "person", "rider", "car", "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
    "license plate",
)  # fmt: skip

# The colours of labels.py by labelId (SPADE's labelcolormap(35)); several void ids share black, and
# license plate shares car's colour, so colour masks decode to the lower id.
CITYSCAPES_PALETTE = (
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128),
    (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (180, 165, 180), (150, 100, 100), (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30),
    (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142),
    (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142),
)  # fmt: skip

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"


def frame_key(path: Path) -> str:
    """'<city>_<seq>_<frame>' from any Cityscapes file name."""
    return "_".join(path.name.split("_")[:3])


def instance_edges(instances: np.ndarray) -> np.ndarray:
    """Instance-id map [H, W] -> boundary map [H, W] bool: True where a 4-neighbour has another id."""
    edges = np.zeros(instances.shape, dtype=bool)
    horizontal = instances[:, 1:] != instances[:, :-1]  # [H, W-1]: pixel differs from its right neighbour
    vertical = instances[1:, :] != instances[:-1, :]  # [H-1, W]: pixel differs from the one below
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    return edges


class CityscapesDomain(Domain):
    name = "cityscapes"
    class_names = CITYSCAPES_CLASSES
    palette = CITYSCAPES_PALETTE
    resolution = (256, 512)
    layout = "more"
    flip_pairs = ()
    extra_mask_channels = 1  # instance edges; 0 for an instance made with instance_edges=False
    splits = ("train", "val")
    # SPADE's test phase reads the validation images (the test split has no public labels).
    split_aliases: ClassVar[dict[str, str]] = {"test": "val"}

    def __init__(self, instance_edges: bool = True) -> None:
        self.instance_edges = instance_edges
        self.extra_mask_channels = 1 if instance_edges else 0

    def list_pairs(self, root: str | Path, split: str) -> list[SamplePair]:
        split = self.check_split(split)
        root = require_folders(root, self.name, ("leftImg8bit", "gtFine"))
        images = dataset_files(root / "leftImg8bit" / split, (IMAGE_SUFFIX,), "*/*")
        labels = dataset_files(root / "gtFine" / split, (LABEL_SUFFIX,), "*/*")
        pairs = pair_by_stem(images, labels, frame_key, frame_key, root, split)
        if not self.instance_edges:
            return pairs
        # Listed as the labels are (suffixes in any case, junk skipped), not named from the label's name.
        instances = {(p.parent, frame_key(p)): p
                     for p in dataset_files(root / "gtFine" / split, (INSTANCE_SUFFIX,), "*/*")}
        with_instances = []
        for pair in pairs:
            instance = instances.get((pair.label.parent, frame_key(pair.label)))
            if instance is None:
                raise DatasetError(
                    f"{pair.label} has no instance map {frame_key(pair.label)}{INSTANCE_SUFFIX} beside it; "
                    f"domain {self.name!r} needs the gtFine instanceIds files (or use 'cityscapes-noinst' to train "
                    f"without them)"
                )
            with_instances.append(SamplePair(pair.image, pair.label, instance))
        return with_instances

    def extra_channels_from(self, labels: np.ndarray, instances: np.ndarray | None) -> np.ndarray | None:
        """[1, H, W] float32 instance boundaries, computed at the size of the maps given."""
        if not self.instance_edges:
            return None
        if instances is None:
            raise DatasetError(f"domain {self.name!r} needs an instance-id map for its instance-edge channel")
        if instances.shape != labels.shape:
            raise DatasetError(
                f"instance map {instances.shape} and label map {labels.shape} must have the same size"
            )
        return instance_edges(instances)[None].astype(np.float32)


class CityscapesNoInstanceDomain(CityscapesDomain):
    """Cityscapes without the instance-edge channel (SPADE's --no_instance): 35 mask channels."""

    name = "cityscapes-noinst"

    def __init__(self) -> None:
        super().__init__(instance_edges=False)
