"""`sean demo`: a shipped model of a generated domain, exported once, showing what per-region styles do.

Nothing is downloaded or trained. The default is the landscapes model (128², 7 classes); `--checkpoint
shapes` is the tiny 64² test model. The inputs are test samples its domain draws (pure numpy), written
to OUT/inputs/ as the files `sean synth` reads; the outputs are reconstructions, region swaps, an
interpolation strip, a swap matrix and a contact sheet, every column captioned, and ready `sean synth`
and `sean serve` commands. The export runs in a child process, so this process never imports torch.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import cv2
import numpy as np

from sean_core.captions import captioned, legend, outlined
from sean_core.checkpoint_files import CONFIG_FILE, WEIGHTS_FILE, resolve_model_dir
from sean_core.command import MODEL_FOLDER, SeanCommand
from sean_core.domains import get_domain
from sean_core.errors import DomainError, PackageError
from sean_core.files import foreign_folder_problem, output_problem, sha256_file, work_folders
from sean_core.format import MANIFEST_FILE, is_package, is_package_or_its_graphs
from sean_core.imageio import write_png
from sean_core.install import missing_module_message, missing_modules
from sean_core.interrupts import as_it_was, child_environment, stop_child, stopped, stopped_saying
from sean_core.shipped import shipped_models
from sean_runtime.backends import BACKENDS
from sean_runtime.commands import BACKEND_HELP
from sean_runtime.package import load_package, read_manifest
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer

DEFAULT_MODEL = "landscapes"  # the shipped model the demo shows unless --checkpoint names another
SAMPLES = 6  # test samples reconstructed
ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SHOWN_SIZE = 192  # about this many pixels per image side in the strips and the contact sheet
ZOOM = 3  # pixels per image pixel of a 64² model (SHOWN_SIZE / 64)
PNG_LEVEL = 6  # the pictures are kept and looked at: about a third of the default size, level 9 barely smaller
PAD = 6
# OUT/inputs/test/labels/NN.png (class ids) and OUT/inputs/test/images/NN.png (style images): the
# domain's dataset layout, so `sean serve --samples OUT/inputs` serves them to the editor as they are.
INPUTS = "inputs"
PACKAGE = "package"  # OUT/package: the exported package, replaced as a whole when the model changes
RECONSTRUCTIONS, SWAPS = "reconstructions", "swaps"
# The folders a run fills with PNG files named after the model's samples and classes: their PNG files are
# removed first, so that a run of another model leaves none of the earlier model's beside its own.
PICTURE_FOLDERS = (RECONSTRUCTIONS, SWAPS, f"{INPUTS}/test/labels", f"{INPUTS}/test/images")
INPUTS_SPLIT = "test"
EXPORT_STOP_TIMEOUT_S = 60.0  # for a stopped export to remove its build folder (a torch call in progress ends first)


def shipped_checkpoint(name: str = DEFAULT_MODEL) -> Path:
    """A shipped model's checkpoint folder (package data of sean_core, found without importing torch)."""
    return shipped_models()[name]


def zoom_for(height: int) -> int:
    """Pixels per image pixel in the pictures: images about SHOWN_SIZE high, never shrunk."""
    return max(1, round(SHOWN_SIZE / height))


def swap_classes(domain) -> tuple[str, str]:
    """The two classes the demo swaps: the domain's `showcase` (GeneratedDomain), else its first two."""
    shown = tuple(getattr(domain, "showcase", ()) or domain.class_names)
    return shown[0], shown[1]


def demo_checkpoint(path: Path | None) -> Path:
    """The checkpoint folder `sean demo --checkpoint PATH` shows: the shipped model without PATH, a run
    folder's latest checkpoint (as `sean export RUN` takes it), or the checkpoint folder itself; what keeps
    it from being shown is one line (CheckpointError, ClickException)."""
    checkpoint = resolve_model_dir(path or shipped_checkpoint())
    problem = checkpoint_problem(checkpoint)
    if problem:
        raise click.ClickException(problem)
    return checkpoint


def checkpoint_problem(checkpoint: Path) -> str | None:
    """What keeps a folder from being a checkpoint the demo can show (None: nothing): the demo draws its
    inputs from the model's domain, so that domain must generate samples (shapes, landscapes)."""
    if not (checkpoint / WEIGHTS_FILE).is_file():
        return (
            f"{checkpoint} is not a model checkpoint folder: it has no {WEIGHTS_FILE} (a checkpoint folder holds "
            f"{CONFIG_FILE} + {WEIGHTS_FILE}); pass one, or a run folder of `sean train` (runs/NAME)"
        )
    try:
        domain = json.loads((checkpoint / CONFIG_FILE).read_text(encoding="utf-8"))["model"]["domain"]
    except FileNotFoundError:
        return f"{checkpoint} has {WEIGHTS_FILE} but no {CONFIG_FILE}: it is not a complete model checkpoint folder"
    except (ValueError, KeyError, TypeError) as exc:
        return f"{checkpoint / CONFIG_FILE} is not a SEAN checkpoint config ({type(exc).__name__}: {exc})"
    try:
        generates = callable(getattr(get_domain(domain), "sample", None))
    except DomainError as exc:
        return f"{checkpoint}: {exc}"
    if not generates:
        return (
            f"{checkpoint} is a model of the {domain!r} domain, which has no generated samples for the demo to "
            f"draw from; the demo shows models of a generated domain (landscapes, shapes). For a dataset domain, "
            f"export the model and open the editor: `sean export` then `sean serve PACKAGE --samples DATASET`"
        )
    return None


def out_problem(out: Path, checkpoint: Path) -> str | None:
    """Why `sean demo -o OUT` may not write to OUT (None: it may), checked before the export. OUT takes the
    pictures, inputs/ and package/, so a package folder is refused rather than filled with another package,
    and so is any other folder with something in it that is not an earlier demo's (the user's files);
    OUT/package, which an export replaces as a whole, follows the rule every command's outputs follow
    (sean_core.files.output_problem): never the checkpoint read, inside it or holding it, nor the current
    folder, and writable."""
    if is_package(out):
        return (
            f"-o {out} is a SEAN package (it holds {MANIFEST_FILE}), not a demo folder: pass a new folder or an "
            f"earlier demo's (the demo keeps its package in OUT/{PACKAGE})"
        )
    package_dir = out / PACKAGE
    problem = output_problem(package_dir, [checkpoint], force=True, folder=True)
    if problem is not None:
        return f"-o {out}: the package folder {package_dir} {problem}"
    problem = foreign_folder_problem(out, is_demo_output, f"an earlier demo's output (no {PACKAGE}/ package in it)",
                                     "write into")
    return f"-o {problem}" if problem else None


def is_demo_output(out: Path) -> bool:
    """A folder an earlier demo wrote into: its first step leaves OUT/package, or, killed mid-export, a work
    folder of it (the pictures and inputs come after)."""
    package_dir = out / PACKAGE
    return is_package_or_its_graphs(package_dir) or bool(work_folders(package_dir))


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
        if source.get("sha256") != sha256_file(checkpoint / WEIGHTS_FILE):
            return False
        load_package(package_dir)
    except PackageError:
        return False
    return True


def remove_earlier_pictures(out: Path) -> None:
    """The PNG files directly in the demo's picture folders (what a demo writes there); anything else a
    user keeps there, files of other kinds and subfolders, stays."""
    for folder in PICTURE_FOLDERS:
        for path in (out / folder).glob("*.png"):
            if path.is_file() and not path.is_symlink():
                path.unlink()


def export_in_subprocess(checkpoint: Path, package_dir: Path) -> None:
    """`sean export` in a child process (its progress shows on the terminal); it replaces the folder atomically.

    A missing export extra is found before the child starts, so it is one line that says what to install.
    """
    missing = missing_modules("export")
    if missing:
        raise click.ClickException(
            missing_module_message(missing[0], "`sean demo` (exporting the model the first time)", "export")
        )
    command = [sys.executable, "-m", "sean_core.cli", "export", str(checkpoint), "-o", str(package_dir)]
    # Its own session: a terminal's Ctrl-C reaches this process alone, which stops the child once, as it does
    # on SIGTERM (a second signal to the child while it removes its build folder would cut that short); the
    # child's own line of that stop is left unsaid, since the demo's line says what the stop left.
    child = subprocess.Popen(command, start_new_session=True, env=child_environment())
    try:
        code = child.wait()
    except KeyboardInterrupt:
        stop_child(child, EXPORT_STOP_TIMEOUT_S)
        raise
    if code != 0:
        raise click.ClickException(f"exporting {checkpoint} to {package_dir} failed (the reason is above)")


def zoom(rgb: np.ndarray, mask: np.ndarray | None = None, scale: int = ZOOM) -> np.ndarray:
    """Zoomed by `scale`; with `mask` (bool [H, W]) that region outlined at the zoomed size (a thin line)."""
    big = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    if mask is None:
        return big
    return outlined(big, zoom(mask.astype(np.uint8), scale=scale) > 0)


def join(images: list[np.ndarray], axis: int) -> np.ndarray:
    """Images side by side (axis 1) or stacked (axis 0), with white gaps between them."""
    shape = list(images[0].shape)
    shape[axis] = PAD
    gap = np.full(shape, 255, dtype=np.uint8)
    parts = [part for image in images for part in (image, gap)][:-1]
    return np.concatenate(parts, axis=axis)


def strips(
    rows: list[list[np.ndarray]], captions: list[str], masks: list[np.ndarray] | None = None, scale: int | None = None
) -> np.ndarray:
    """Rows of equally sized images, zoomed (by `scale`, default zoom_for their height), side by side,
    stacked, under one caption per column; masks: one region per column (bool [H, W]) outlined in it."""
    masks = masks or [None] * len(captions)
    scale = scale or zoom_for(rows[0][0].shape[0])
    zoomed = [[zoom(image, mask, scale) for image, mask in zip(row, masks, strict=True)] for row in rows]
    grid = join([join(row, axis=1) for row in zoomed], axis=0)
    return captioned(grid, captions, rows[0][0].shape[1] * scale, PAD)


def titled(title: str, block: np.ndarray, width: int) -> np.ndarray:
    """A block under a title bar, padded to `width` on a white background."""
    bar = np.full((28, width, 3), 255, dtype=np.uint8)
    cv2.putText(bar, title, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    body = np.full((block.shape[0], width, 3), 255, dtype=np.uint8)
    body[:, : block.shape[1]] = block
    return np.concatenate([bar, body, np.full((PAD, width, 3), 255, dtype=np.uint8)])


def pick_pairs(present: np.ndarray, class_ids: list[int], images: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(target, reference): of the samples that show all of class_ids, the two whose regions of those
    classes differ most in mean colour, so that the swap is plain to see (falls back to samples 0 and 1).
    present [B, K] bool, images uint8 [B, H, W, 3], labels [B, H, W]."""
    showing = [i for i in range(len(present)) if present[i, class_ids].all()]
    if len(showing) < 2:
        return 0, 1
    means = {(i, c): images[i][labels[i] == c].reshape(-1, 3).mean(axis=0) for i in showing for c in class_ids}

    def difference(pair: tuple[int, int]) -> float:
        return float(sum(np.abs(means[pair[0], c] - means[pair[1], c]).sum() for c in class_ids))

    pairs = [(i, j) for i in showing for j in showing if i < j]
    return max(pairs, key=difference)  # the first of equal pairs: the lowest indices


def write_inputs(images: np.ndarray, labels: np.ndarray, out: Path) -> tuple[Path, Path]:
    """OUT/inputs/test/images/NN.png (RGB style images) and OUT/inputs/test/labels/NN.png (uint8 class ids),
    the files `sean synth` reads and the dataset `sean serve --samples` takes; returns the two folders."""
    image_dir, label_dir = out / INPUTS / INPUTS_SPLIT / "images", out / INPUTS / INPUTS_SPLIT / "labels"
    for i in range(len(images)):
        write_png(image_dir / f"{i:02d}.png", images[i])
        write_png(label_dir / f"{i:02d}.png", labels[i].astype(np.uint8))
    return image_dir, label_dir


def synth_command(out: Path, image_dir: Path, label_dir: Path, target: int, reference: int, swap: str) -> str:
    """A `sean synth` command on the written inputs: sample `target` with `swap`'s style from `reference`."""
    def q(path: Path) -> str:
        return shlex.quote(str(path))

    return (
        f"sean synth {q(out / PACKAGE)} --label {q(label_dir / f'{target:02d}.png')} "
        f"--style {q(image_dir / f'{target:02d}.png')} --swap {swap}={q(image_dir / f'{reference:02d}.png')} "
        f"-o {q(out / f'synth_{swap}.png')} --force"
    )


def serve_command(out: Path) -> str:
    """The `sean serve` command that opens the editor on this demo's package with its inputs as samples."""
    return f"sean serve {shlex.quote(str(out / PACKAGE))} --samples {shlex.quote(str(out / INPUTS))}"


def write_reconstructions(
    synth: Synthesizer, images: np.ndarray, labels: np.ndarray, recon: np.ndarray, out: Path
) -> tuple[str, np.ndarray]:
    """reconstructions/NN.png = label colours | style image | output; returns the contact-sheet section."""
    captions = ["label", "style image", "output"]
    rows = [[synth.domain.labels_to_colors(labels[i]), images[i], recon[i]] for i in range(len(images))]
    for i, row in enumerate(rows):
        strip = strips([row], captions)
        key = legend(synth.class_names, synth.domain.palette_array(), strip.shape[1])
        write_png(out / RECONSTRUCTIONS / f"{i:02d}.png", np.concatenate([strip, key]), level=PNG_LEVEL)
    return "reconstruction of each sample from its own styles", strips(rows[:3], captions)


def write_swaps(
    synth: Synthesizer,
    images: np.ndarray,
    labels: np.ndarray,
    styles: Styles,
    recon: np.ndarray,
    target: int,
    reference: int,
    out: Path,
    swaps: tuple[str, str],
) -> tuple[str, np.ndarray]:
    """swaps/<class>.png and swaps/<a>+<b>.png = target | reference | reconstruction | swapped, the swapped
    region outlined in each (the reference's own region of those classes in its column)."""
    written = []
    for classes in [[c] for c in swaps] + [list(swaps)]:
        swapped = styles[target].swap(classes, styles[reference])
        row = [images[target], images[reference], recon[target], synth.synthesize(labels[target], swapped)[0]]
        name = "+".join(classes)
        captions = [f"target {target:02d}", f"reference {reference:02d}", "reconstruction", f"{name} swapped"]
        ids = [synth.class_names.index(c) for c in classes]
        region, source = np.isin(labels[target], ids), np.isin(labels[reference], ids)
        written.append(strips([row], captions, [region, source, region, region]))
        write_png(out / SWAPS / f"{name}.png", written[-1], level=PNG_LEVEL)
    title = f"swap {' / '.join(swaps)} / both from the reference into the target"
    return title, join(written, axis=0)


def write_swap_matrix(
    synth: Synthesizer, images: np.ndarray, labels: np.ndarray, styles: Styles, out: Path, swaps: tuple[str, str]
) -> tuple[str, np.ndarray]:
    """swap_matrix.png: row i is sample i (its style image first), column j takes the `swaps` classes' styles
    from sample j (shown on top); the diagonal is each sample's own reconstruction. Images at their size."""
    count = len(images)
    blank = np.full_like(images[0], 255)
    rows = [[blank, *images]]
    for i in range(count):
        edited = [styles[i].swap(list(swaps), styles[j]) if j != i else styles[i] for j in range(count)]
        rows.append([images[i], *(synth.synthesize(labels[i], e, seed=0)[0] for e in edited)])
    block = strips(rows, ["target", *(f"from {j:02d}" for j in range(count))], scale=1)
    write_png(out / "swap_matrix.png", block, level=PNG_LEVEL)
    return f"{' + '.join(swaps)} of every sample (top) into every sample (left); diagonal: its own styles", block


@click.command(cls=SeanCommand)
@click.option(
    "-o",
    "--out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder; the exported package is kept in OUT/package and reused, the pictures and inputs "
    "are written anew (the PNG files of an earlier demo in their folders removed first). A new or empty "
    "folder, or an earlier demo's; not a folder of other files, a package folder, nor inside the checkpoint.",
)
@click.option(
    "--checkpoint",
    type=MODEL_FOLDER,
    default=None,
    help=f"The model to show instead of the shipped {DEFAULT_MODEL} model, of a generated domain: a run folder "
    f"of `sean train` (its latest checkpoint, as `sean export RUN` takes it), a model checkpoint folder, or a "
    f"shipped model's name (shapes: the tiny 64² test model).",
)
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help=BACKEND_HELP)
def demo(out: Path, checkpoint: Path | None, backend: str) -> None:
    """Export the shipped landscapes model (once) and write what per-region styles can do.

    Besides the pictures, OUT/inputs/ holds the label maps and style images used (in the domain's dataset
    layout, OUT/inputs/test/{labels,images}/NN.png); the last lines printed are a `sean synth` command that
    swaps a region's style between two of them and the `sean serve` command that opens the editor on them.

    \b
    Examples:
      sean demo -o demo-out
      sean demo --checkpoint shapes -o demo-shapes        # the tiny 64² test model
      sean demo --checkpoint runs/shapes -o demo-shapes   # your run's latest checkpoint
    """
    checkpoint = demo_checkpoint(checkpoint)
    problem = out_problem(out, checkpoint)
    if problem:
        raise click.ClickException(problem)
    changed = []  # what this run changed in OUT so far, for the line a stop prints
    kept = as_it_was("demo output", out)

    def stopped_line() -> str:
        left = f"{out} holds {' and '.join(changed)}: run it again to complete it" if changed else kept
        return f"{stopped('demo')} before the demo output was complete; {left}"

    with stopped_saying(stopped_line):
        write_demo(out, checkpoint, backend, changed)


def write_demo(out: Path, checkpoint: Path, backend: str, changed: list[str]) -> None:
    """The demo's work, `changed` naming what it has changed in OUT so far (a new package, part of the pictures)."""
    timer = Timer()
    started = time.perf_counter()
    click.echo(f"model: {checkpoint}")
    # An intact package of exactly these weights from an earlier run is used as it is.
    package_dir = out / PACKAGE
    if package_matches(package_dir, checkpoint):
        click.echo(f"package: {package_dir} (already exported from this model)")
    else:
        with timer.step(f"export -> {package_dir}"):
            export_in_subprocess(checkpoint, package_dir)
        changed.append("a new package")
    with timer.step("load package"):
        synth = Synthesizer.load(package_dir, backend=backend)
    click.echo(f"  backend: {synth.describe()}")
    changed.append("part of the pictures")
    remove_earlier_pictures(out)
    samples = [synth.domain.sample(i, "test") for i in range(SAMPLES)]
    images, labels = (np.stack(a) for a in zip(*samples, strict=True))
    labels = synth.read_labels(labels)
    image_dir, label_dir = write_inputs(images, labels, out)
    sections = []
    with timer.step("reconstructions"):
        styles = synth.encode(images, labels)
        recon = synth.reconstruct(images, labels, seed=0)
        sections.append(write_reconstructions(synth, images, labels, recon, out))
    swaps = swap_classes(synth.domain)
    target, reference = pick_pairs(styles.present, [synth.class_names.index(c) for c in swaps], images, labels)
    with timer.step("region swaps"):
        sections.append(write_swaps(synth, images, labels, styles, recon, target, reference, out, swaps))
    with timer.step("swap matrix"):
        sections.append(write_swap_matrix(synth, images, labels, styles, out, swaps))
    with timer.step("interpolation"):
        frames = [
            synth.synthesize(labels[target], styles[target].interpolate(styles[reference], alpha), seed=0)[0]
            for alpha in ALPHAS
        ]
        block = strips([frames], [f"alpha {alpha:g}" for alpha in ALPHAS])
        write_png(out / "interpolation.png", block, level=PNG_LEVEL)
        sections.append((f"interpolation of sample {target:02d}'s styles toward sample {reference:02d}'s", block))
    with timer.step("contact sheet"):
        width = max(block.shape[1] for _, block in sections)
        sections.insert(0, ("label colours", legend(synth.class_names, synth.domain.palette_array(), width)))
        sheet = np.concatenate([titled(t, b, width) for t, b in sections])
        write_png(out / "contact_sheet.png", sheet, level=PNG_LEVEL)

    click.echo(f"wrote to {out}/:")
    for name in (f"{RECONSTRUCTIONS}/", f"{SWAPS}/", "swap_matrix.png", "interpolation.png", "contact_sheet.png",
                 f"{INPUTS}/"):
        click.echo(f"  {out / name}")
    click.echo(f"total: {time.perf_counter() - started:.1f} s")
    click.echo(f"try a region swap of your own on the inputs (sample {target:02d} with sample {reference:02d}'s "
               f"{swaps[0]}):")
    click.echo(f"  {synth_command(out, image_dir, label_dir, target, reference, swaps[0])}")
    click.echo("or edit them in the browser (then open the URL it prints):")
    click.echo(f"  {serve_command(out)}")
