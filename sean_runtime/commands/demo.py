"""`sean demo`: the shipped synthetic-domain model, exported once, showing what per-region styles do.

Nothing is downloaded or trained. The inputs are test samples of the synthetic shapes domain (pure
numpy); the outputs are reconstructions, region swaps, an interpolation strip and a contact sheet.
The export runs in a child process, so this process never imports torch.
"""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import cv2
import numpy as np

from sean_runtime.backends import BACKENDS
from sean_runtime.commands import BACKEND_HELP, SeanCommand
from sean_runtime.errors import PackageError
from sean_runtime.files import sha256_file
from sean_runtime.imageio import write_png
from sean_runtime.package import load_package, read_manifest
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer

WEIGHTS = "model.safetensors"
SAMPLES = 6  # test samples reconstructed
SWAP_CLASSES = ("blob", "ground")
ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
ZOOM = 3  # contact-sheet pixels per image pixel
PAD = 6


def shipped_checkpoint() -> Path:
    """sean_train/pretrained/shapes (importing the sean_train package itself loads no torch)."""
    return Path(str(importlib.resources.files("sean_train") / "pretrained" / "shapes"))


class Timer:
    """Wall time of each named step, printed as it finishes."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.steps.append((name, seconds))
        click.echo(f"  {name}: {seconds:.1f} s")


def package_matches(package_dir: Path, checkpoint: Path) -> bool:
    """An existing package made from exactly this checkpoint's weights, with intact files."""
    try:
        manifest = read_manifest(package_dir)
        source = manifest.get("source_checkpoint") or {}
        if source.get("sha256") != sha256_file(checkpoint / WEIGHTS):
            return False
        load_package(package_dir)
    except PackageError:
        return False
    return True


def export_in_subprocess(checkpoint: Path, package_dir: Path) -> None:
    """`sean export` in a child process (its progress shows on the terminal); it replaces the folder atomically."""
    command = [sys.executable, "-m", "sean_runtime.cli", "export", str(checkpoint), "-o", str(package_dir)]
    if subprocess.run(command).returncode != 0:
        raise click.ClickException(
            "exporting the model failed (message above); `sean export` needs the 'export' extra: "
            "pip install 'sean-deploy[export]'"
        )


def zoom(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)


def join(images: list[np.ndarray], axis: int) -> np.ndarray:
    """Images side by side (axis 1) or stacked (axis 0), with white gaps between them."""
    shape = list(images[0].shape)
    shape[axis] = PAD
    gap = np.full(shape, 255, dtype=np.uint8)
    parts = [part for image in images for part in (image, gap)][:-1]
    return np.concatenate(parts, axis=axis)


def row(images: list[np.ndarray]) -> np.ndarray:
    return join(images, axis=1)


def column(images: list[np.ndarray]) -> np.ndarray:
    return join(images, axis=0)


def titled(title: str, block: np.ndarray, width: int) -> np.ndarray:
    """A block under a title bar, padded to `width` on a white background."""
    bar = np.full((28, width, 3), 255, dtype=np.uint8)
    cv2.putText(bar, title, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    body = np.full((block.shape[0], width, 3), 255, dtype=np.uint8)
    body[:, : block.shape[1]] = block
    return np.concatenate([bar, body, np.full((PAD, width, 3), 255, dtype=np.uint8)])


def pick_pairs(present: np.ndarray, class_ids: list[int]) -> tuple[int, int]:
    """Two different samples that both show all of class_ids (falls back to samples 0 and 1)."""
    showing = [i for i in range(len(present)) if present[i, class_ids].all()]
    if len(showing) >= 2:
        return showing[0], showing[1]
    return 0, 1


def write_reconstructions(
    synth: Synthesizer, images: np.ndarray, labels: np.ndarray, recon: np.ndarray, out: Path
) -> tuple[str, np.ndarray]:
    """reconstructions/NN.png = label colours | style image | output; returns the contact-sheet section."""
    rows = []
    for i in range(len(images)):
        strip = row([synth.domain.labels_to_colors(labels[i]), images[i], recon[i]])
        write_png(out / "reconstructions" / f"{i:02d}.png", strip)
        rows.append(zoom(strip))
    return "reconstruction: label | style image | output", column(rows[:3])


def write_swaps(
    synth: Synthesizer,
    images: np.ndarray,
    labels: np.ndarray,
    styles: Styles,
    recon: np.ndarray,
    target: int,
    reference: int,
    out: Path,
) -> tuple[str, np.ndarray]:
    """swaps/<class>.png and swaps/<a>+<b>.png = target | reference | reconstruction | swapped."""
    rows = []
    for classes in [[c] for c in SWAP_CLASSES] + [list(SWAP_CLASSES)]:
        swapped = styles[target].swap(classes, styles[reference])
        strip = row([images[target], images[reference], recon[target], synth.synthesize(labels[target], swapped)[0]])
        write_png(out / "swaps" / f"{'+'.join(classes)}.png", strip)
        rows.append(zoom(strip))
    title = f"swap {' / '.join(SWAP_CLASSES)} / both from the reference: target | reference | reconstruction | swapped"
    return title, column(rows)


@click.command(cls=SeanCommand)
@click.option(
    "-o",
    "--out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder; the exported package is kept in OUT/package and reused.",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A shapes-domain checkpoint folder to use instead of the shipped model.",
)
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help=BACKEND_HELP)
def demo(out: Path, checkpoint: Path | None, backend: str) -> None:
    """Export the shipped shapes model (once) and write what per-region styles can do.

    \b
    Example:
      sean demo -o demo-out
    """
    checkpoint = checkpoint or shipped_checkpoint()
    if not (checkpoint / WEIGHTS).is_file():
        raise click.ClickException(
            f"no model at {checkpoint} ({WEIGHTS} missing); the shipped model should be in "
            f"sean_train/pretrained/shapes, or pass --checkpoint DIR"
        )
    timer = Timer()
    started = time.perf_counter()
    click.echo(f"model: {checkpoint}")
    # An intact package of exactly these weights from an earlier run is used as it is.
    package_dir = out / "package"
    if package_matches(package_dir, checkpoint):
        click.echo(f"package: {package_dir} (already exported from this model)")
    else:
        with timer.step(f"export -> {package_dir}"):
            export_in_subprocess(checkpoint, package_dir)
    with timer.step("load package"):
        synth = Synthesizer.load(package_dir, backend=backend)
    click.echo(f"  backend: {synth.describe()}")
    sample = getattr(synth.domain, "sample", None)
    if sample is None:
        raise click.ClickException(
            f"the demo draws its inputs from the synthetic shapes domain; this model is for "
            f"{synth.package.domain!r}"
        )
    images, labels = (np.stack(a) for a in zip(*(sample(i, "test") for i in range(SAMPLES)), strict=True))
    labels = synth.read_labels(labels)
    sections = []
    with timer.step("reconstructions"):
        styles = synth.encode(images, labels)
        recon = synth.reconstruct(images, labels, seed=0)
        sections.append(write_reconstructions(synth, images, labels, recon, out))
    target, reference = pick_pairs(styles.present, [synth.class_names.index(c) for c in SWAP_CLASSES])
    with timer.step("region swaps"):
        sections.append(write_swaps(synth, images, labels, styles, recon, target, reference, out))
    with timer.step("interpolation"):
        frames = [
            synth.synthesize(labels[target], styles[target].interpolate(styles[reference], alpha), seed=0)[0]
            for alpha in ALPHAS
        ]
        write_png(out / "interpolation.png", row(frames))
        title = f"interpolation toward sample {reference}'s styles, alpha {ALPHAS[0]} -> {ALPHAS[-1]}"
        sections.append((title, zoom(row(frames))))
    with timer.step("contact sheet"):
        width = max(block.shape[1] for _, block in sections)
        write_png(out / "contact_sheet.png", np.concatenate([titled(t, b, width) for t, b in sections]))

    click.echo(f"wrote to {out}/:")
    for name in ("reconstructions/", "swaps/", "interpolation.png", "contact_sheet.png"):
        click.echo(f"  {out / name}")
    click.echo(f"total: {time.perf_counter() - started:.1f} s")
