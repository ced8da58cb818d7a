"""The domain-plugin interface: registry discovery and clashes, sample loading and its errors (no torch)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sean_core.domains import (
    DatasetError,
    Domain,
    DomainError,
    LabelError,
    SamplePair,
    available_domains,
    get_domain,
    natural_key,
    pair_by_stem,
)
from sean_core.imageio import write_png

BUILT_IN = ("shapes", "faces", "ade20k", "cityscapes")

# A third-party plugin as its own package would ship it: one module and a Domain subclass.
PLUGIN_MODULE = '''
from pathlib import Path

import numpy as np

from sean_core.domains import Domain
from sean_core.domains import pair_by_stem, require_folders
from sean_core.imageio import write_png


class LeavesDomain(Domain):
    name = "leaves"
    class_names = ("background", "leaf", "vein")
    palette = ((0, 0, 0), (0, 160, 0), (200, 255, 120))
    resolution = (32, 32)

    def list_pairs(self, root, split):  # as the example of docs/plugins.md
        split = self.check_split(split)
        root = require_folders(root, self.name, (f"{split}/img", f"{split}/seg"))
        images = sorted((root / split / "img").glob("*.png"))
        labels = sorted((root / split / "seg").glob("*.png"))
        return pair_by_stem(images, labels, lambda p: p.stem, lambda p: p.stem, root, split)

    def prepare(self, raw_dir, out_dir):
        labels = np.zeros((32, 32), np.uint8)
        labels[8:24, 8:24] = 1
        labels[15:17, 8:24] = 2
        for split in self.splits:
            for stem, leaf in (("leaf1", labels), ("leaf2", labels.T)):
                write_png(Path(out_dir) / split / "seg" / f"{stem}.png", leaf)
                write_png(Path(out_dir) / split / "img" / f"{stem}.png", self.labels_to_colors(leaf))
        return {"written": 4}
'''


def write_distribution(site: Path, dist_name: str, entry_points: dict[str, str], module: str | None = None) -> None:
    """What `pip install` leaves in site-packages: the module and a .dist-info with entry_points.txt."""
    info = site / f"{dist_name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[sean.domains]\n{lines}")
    if module is not None:
        (site / f"{dist_name.replace('-', '_')}.py").write_text(module)


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_distribution(site, "acme-leaves", {"leaves": "acme_leaves:LeavesDomain"}, PLUGIN_MODULE)
    return site


# --- built-in domains ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_domain_is_consistent(name):
    domain = get_domain(name)
    assert domain.name == name
    assert len(set(domain.class_names)) == domain.num_classes, "class names must be unique"
    assert len(domain.palette) == domain.num_classes
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in domain.palette)
    for class_id, class_name in enumerate(domain.class_names):
        assert domain.class_id(class_name) == class_id
    perm = domain.flip_permutation()
    assert np.array_equal(perm[perm], np.arange(domain.num_classes)), "a flip applied twice is the identity"
    h, w = domain.resolution
    assert h % 64 == 0 and w % 64 == 0


@pytest.mark.parametrize("name", BUILT_IN)
def test_colours_round_trip_to_the_lowest_id_of_each_colour(name):
    domain = get_domain(name)
    ids = np.arange(domain.num_classes).reshape(1, -1)
    decoded = domain.colors_to_labels(domain.labels_to_colors(ids))
    first_with_colour = {}
    for class_id, colour in enumerate(domain.palette):
        first_with_colour.setdefault(tuple(colour), class_id)
    expected = [first_with_colour[tuple(c)] for c in domain.palette]
    assert decoded[0].tolist() == expected


def test_unknown_domain_lists_the_installed_ones_and_how_a_plugin_is_found():
    with pytest.raises(DomainError, match=r"installed domains: .*faces.*that package is installed here"):
        get_domain("no-such-domain")


def test_split_aliases_and_unknown_split():
    assert get_domain("ade20k").check_split("train") == "training"
    assert get_domain("ade20k").check_split("test") == "validation"
    assert get_domain("cityscapes").check_split("test") == "val"
    assert get_domain("faces").check_split("train") == "train"
    with pytest.raises(DatasetError, match="'holdout'"):
        get_domain("faces").check_split("holdout")


# --- pairing and loading -------------------------------------------------------------------------


class TinyDomain(Domain):
    name = "tiny"
    class_names = ("a", "b", "c")
    palette = ((0, 0, 0), (255, 0, 0), (0, 255, 0))


def test_pair_by_stem_sorts_naturally_and_names_lonely_files(tmp_path):
    images = [tmp_path / f"{i}.jpg" for i in (10, 2, 1)]
    labels = [tmp_path / f"{i}.png" for i in (1, 10, 2)]
    pairs = pair_by_stem(images, labels, lambda p: p.stem, lambda p: p.stem, tmp_path, "train")
    assert [p.image.stem for p in pairs] == ["1", "2", "10"]
    assert all(p.image.stem == p.label.stem for p in pairs)
    with pytest.raises(DatasetError, match=r"images without a label: .*7\.jpg"):
        pair_by_stem([*images, tmp_path / "7.jpg"], labels, lambda p: p.stem, lambda p: p.stem, tmp_path, "x")
    with pytest.raises(DatasetError, match=r"labels without an image: .*8\.png"):
        pair_by_stem(images, [*labels, tmp_path / "8.png"], lambda p: p.stem, lambda p: p.stem, tmp_path, "x")
    assert natural_key("img_9_b") < natural_key("img_10_a")


def write_sample(root: Path, stem: str, image_hw: tuple[int, int], labels: np.ndarray) -> SamplePair:
    image = np.random.default_rng(0).integers(0, 256, (*image_hw, 3), dtype=np.uint8)
    pair = SamplePair(root / f"{stem}.png", root / f"{stem}_label.png")
    write_png(pair.image, image)
    write_png(pair.label, labels)
    return pair


def test_load_pair_reads_resizes_and_validates(tmp_path):
    labels = np.zeros((16, 24), np.uint8)
    labels[:, 12:] = 2
    pair = write_sample(tmp_path, "ok", (16, 24), labels)
    image, ids, extra = TinyDomain().load_pair(pair)
    assert image.shape == (16, 24, 3) and image.dtype == np.uint8
    assert ids.dtype == np.int64 and np.array_equal(ids, labels)
    assert extra is None
    image, ids, _ = TinyDomain().load_pair(pair, size=(8, 12))
    assert image.shape == (8, 12, 3) and ids.shape == (8, 12)
    assert set(np.unique(ids).tolist()) == {0, 2}, "nearest resizing never blends ids"


def test_load_pair_size_mismatch_names_both_files(tmp_path):
    pair = write_sample(tmp_path, "bad", (16, 16), np.zeros((16, 24), np.uint8))
    with pytest.raises(DatasetError, match=r"bad\.png is 16x16 but its label .*bad_label\.png is 24x16"):
        TinyDomain().load_pair(pair)


def test_scaled_labels_need_the_same_aspect_ratio(tmp_path):
    class Scaled(TinyDomain):
        labels_may_be_scaled = True

    image, _, _ = Scaled().load_pair(write_sample(tmp_path, "half", (32, 48), np.ones((16, 24), np.uint8)))
    assert image.shape == (16, 24, 3), "without a size the sample keeps the label map's size"
    with pytest.raises(DatasetError, match="same aspect ratio"):
        Scaled().load_pair(write_sample(tmp_path, "skew", (32, 32), np.ones((16, 24), np.uint8)))


def test_label_values_outside_the_classes_name_the_file(tmp_path):
    pair = write_sample(tmp_path, "oob", (8, 8), np.full((8, 8), 3, np.uint8))
    with pytest.raises(LabelError, match=r"oob_label\.png: values \[3\] are outside the 3 classes"):
        TinyDomain().load_pair(pair)


def test_unreadable_image_names_the_file(tmp_path):
    pair = write_sample(tmp_path, "broken", (8, 8), np.zeros((8, 8), np.uint8))
    pair.image.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"broken\.png: not a readable image"):
        TinyDomain().load_pair(pair)


# --- third-party plugins -------------------------------------------------------------------------


def test_third_party_plugin_is_discovered_and_used(plugin_site, tmp_path, monkeypatch):
    assert "leaves" not in available_domains()
    monkeypatch.syspath_prepend(str(plugin_site))  # what installing the package into site-packages does
    assert "leaves" in available_domains(), "entry points are re-read on each call"
    domain = get_domain("leaves")
    assert type(domain).__module__ == "acme_leaves" and domain.num_classes == 3
    domain.prepare(tmp_path / "raw", tmp_path / "data")
    pairs = domain.list_pairs(tmp_path / "data", "train")
    assert [p.image.stem for p in pairs] == ["leaf1", "leaf2"]
    image, labels, _ = domain.load_pair(pairs[1])
    assert labels.max() == 2 and np.array_equal(domain.colors_to_labels(image), labels)
    # the docs' example names the folders a wrong --data lacks, and the subfolder one level down
    with pytest.raises(DatasetError, match=r"train/img/ \+ train/seg/ directly inside it.*data"):
        domain.list_pairs(tmp_path, "train")


def run_sean(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "sean_core.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_third_party_plugin_is_seen_by_the_cli_in_a_new_process(plugin_site, tmp_path):
    listing = run_sean(["domains"], plugin_site)
    assert listing.returncode == 0, listing.stderr
    assert "leaves: 3 classes, 32x32" in listing.stdout
    assert "faces: 19 classes" in listing.stdout
    prepared = run_sean(["prepare", "leaves", str(tmp_path), "-o", str(tmp_path / "out")], plugin_site)
    assert prepared.returncode == 0, prepared.stderr
    assert (tmp_path / "out" / "test" / "seg" / "leaf1.png").is_file()


def test_two_plugins_claiming_one_name_is_a_clear_error(plugin_site, monkeypatch):
    write_distribution(plugin_site, "other-faces", {"faces": "other_faces:Faces"}, "")
    monkeypatch.syspath_prepend(str(plugin_site))
    with pytest.raises(DomainError, match=r"two plugins claim the domain name 'faces': .*other_faces:Faces"):
        get_domain("faces")
    assert get_domain("leaves").name == "leaves", "a clash on one name leaves the others usable"
    listing = run_sean(["domains"], plugin_site)
    assert listing.returncode == 0
    assert "faces: broken plugin: two plugins claim" in listing.stdout


def test_broken_plugins_are_reported(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_distribution(site, "missing-mod", {"ghost": "no_such_module:Ghost"})
    write_distribution(site, "misnamed", {"misnamed": "misnamed:Misnamed"}, textwrap.dedent("""
        from sean_core.domains import Domain

        class Misnamed(Domain):
            name = "something-else"
            class_names = ("a",)
            palette = ((0, 0, 0),)
    """))
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(DomainError, match=r"'ghost' .*failed to import"):
        get_domain("ghost")
    with pytest.raises(DomainError, match="registered as 'misnamed' calls itself 'something-else'"):
        get_domain("misnamed")


@pytest.mark.parametrize("domain", ["shapes", "landscapes"])
def test_a_generated_domain_names_jpeg_images_as_another_domains_dataset(tmp_path, domain):
    # `sean train --config shapes --data FACES` said "labels without an image: [.../labels/0.png]" beside images/0.jpg
    import cv2

    for split in ("train", "test"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / "images" / "0.jpg"), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(tmp_path / split / "labels" / "0.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match=rf"images/0\.jpg is a JPEG: the {domain} domain reads PNG images; "
                                           r"is this another domain's dataset\?"):
        get_domain(domain).list_pairs(tmp_path, "train")
    (tmp_path / "train" / "images" / "0.jpg").unlink()  # missing, not in another format: the pairing's message
    with pytest.raises(DatasetError, match=r"labels without an image: .*0\.png"):
        get_domain(domain).list_pairs(tmp_path, "train")
