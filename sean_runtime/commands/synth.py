"""`sean synth`: label maps + style images -> images, with per-region swaps and interpolation (no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from sean_domains.domain import natural_key
from sean_domains.imageio import write_jpg, write_png
from tqdm import tqdm

from sean_runtime.backends import BACKENDS
from sean_runtime.commands import BACKEND_HELP, user_errors_as_click
from sean_runtime.errors import InputError
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.styles import Styles, mean_styles
from sean_runtime.synthesizer import Synthesizer

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
ENCODE_BATCH = 16  # style images encoded per backend call


@dataclass(frozen=True)
class Job:
    """One output image: the label it is drawn on, and the style image (with its own label) it takes."""

    stem: str
    label: Path
    style: Path
    style_label: Path


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=lambda p: natural_key(p.name))


def _by_stem(folder: Path, stem: str, what: str) -> Path:
    for path in _image_files(folder):
        if path.stem == stem:
            return path
    raise InputError(f"no {what} named {stem}.* in {folder} (files are matched by name without extension)")


def _pick(source: Path, stem: str, what: str) -> Path:
    """A file given directly, or the file of a folder with this stem."""
    return _by_stem(source, stem, what) if source.is_dir() else source


def plan_jobs(label: Path, style: Path, style_label: Path | None) -> list[Job]:
    labels = _image_files(label) if label.is_dir() else [label]
    jobs = []
    for label_file in labels:
        style_file = _pick(style, label_file.stem, "style image")
        style_label_file = label_file if style_label is None else _pick(style_label, style_file.stem, "style label")
        jobs.append(Job(label_file.stem, label_file, style_file, style_label_file))
    return jobs


def output_path(out: Path, job: Job, single: bool) -> Path:
    """-o names a file for one label file with an image suffix; otherwise a folder of <stem>.png."""
    if single and out.suffix.lower() in IMAGE_SUFFIXES:
        return out
    return out / f"{job.stem}.png"


def write_image(path: Path, rgb: np.ndarray) -> None:
    if path.suffix.lower() in (".jpg", ".jpeg"):
        write_jpg(path, rgb)
    else:
        write_png(path, rgb)


def parse_reference(text: str, option: str) -> tuple[Path, Path]:
    """IMAGE[:LABEL] -> (image, label). Without LABEL: labels/<stem>.png beside the image's folder
    (the prepared layout <split>/images, <split>/labels)."""
    if Path(text).is_file() or ":" not in text:
        image, label = Path(text), None
    else:
        head, tail = text.rsplit(":", 1)
        image, label = Path(head), Path(tail)
    if not image.is_file():
        raise InputError(f"{option} {text}: image {image} does not exist")
    if label is None:
        candidates = sorted((image.parent.parent / "labels").glob(f"{image.stem}.*"))
        if not candidates:
            raise InputError(f"{option} {text}: no label map found for {image}; pass it as {image}:LABEL.png")
        label = candidates[0]
    if not label.is_file():
        raise InputError(f"{option} {text}: label map {label} does not exist")
    return image, label


def parse_swap(text: str) -> tuple[list[str], Path, Path]:
    """CLASS[,CLASS...]=IMAGE[:LABEL] -> (classes, image, label)."""
    if "=" not in text:
        raise InputError(f"--swap {text}: expected CLASS=IMAGE[:LABEL], e.g. --swap hair=other.jpg:other.png")
    classes, reference = text.split("=", 1)
    names = [c.strip() for c in classes.split(",") if c.strip()]
    if not names:
        raise InputError(f"--swap {text}: no class name before '='")
    return names, *parse_reference(reference, "--swap")


def encode_styles(synth: Synthesizer, jobs: list[Job]) -> Styles:
    parts = []
    with tqdm(total=len(jobs), desc="encode", unit="img", disable=len(jobs) < 2) as bar:
        for start in range(0, len(jobs), ENCODE_BATCH):
            batch = jobs[start : start + ENCODE_BATCH]
            parts.append(synth.encode([j.style for j in batch], [j.style_label for j in batch]))
            bar.update(len(batch))
    return Styles.concat(parts)


@click.command()
@click.argument("package", type=click.Path(path_type=Path), required=False)
@click.option("--url", default=None, help="A `sean serve` URL to synthesize on instead of a local PACKAGE.")
@click.option(
    "--label",
    "label",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Label map to draw (class ids or a colour mask), or a folder of them.",
)
@click.option(
    "--style",
    "style",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Style image, or a folder matched to the labels by file name without extension.",
)
@click.option(
    "--style-label",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Label map of the style image (file, or folder matched by name). Default: --label.",
)
@click.option(
    "--swap",
    "swaps",
    multiple=True,
    metavar="CLASS=IMAGE[:LABEL]",
    help="Take CLASS's style (several: a,b=...) from another image. Repeatable.",
)
@click.option(
    "--interpolate",
    "interpolate",
    metavar="IMAGE[:LABEL]",
    default=None,
    help="Blend every region's style toward another image's.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Weight of the --interpolate image (0: own style, 1: the other image's).",
)
@click.option(
    "--fallback",
    type=click.Choice(["own", "mean", "error"]),
    default="own",
    show_default=True,
    help="For a class a reference lacks: keep the own style, use the mean style of all style "
    "images of this run (mean also fills label classes the style image lacks), or fail.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Noise seed (per image).")
@click.option("--no-noise", is_flag=True, help="Render without noise.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help=BACKEND_HELP)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for ONNX Runtime / OpenVINO (default: one per physical core).")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file (one label) or folder (<label name>.png per label).",
)
def synth(
    package: Path | None,
    url: str | None,
    label: Path,
    style: Path,
    style_label: Path | None,
    swaps: tuple[str, ...],
    interpolate: str | None,
    alpha: float,
    fallback: str,
    seed: int,
    no_noise: bool,
    backend: str,
    threads: int | None,
    out: Path,
) -> None:
    """Synthesize images from label maps with the styles of other images, region by region.

    \b
    Examples:
      sean synth pkg --label face.png --style face.jpg -o out.png
      sean synth pkg --label face.png --style face.jpg --swap hair=b.jpg:b.png -o out.png
      sean synth pkg --label labels/ --style images/ --interpolate b.jpg:b.png --alpha 0.3 -o outdir/
      sean synth --url http://127.0.0.1:8000 --label face.png --style face.jpg -o out.png
    """
    with user_errors_as_click():
        jobs = plan_jobs(label, style, style_label)
        swap_refs = [parse_swap(text) for text in swaps]
        blend_ref = parse_reference(interpolate, "--interpolate") if interpolate else None
        if (package is None) == (url is None):
            raise click.UsageError("give a PACKAGE folder or --url of a `sean serve`, one of the two")
        synthesizer = RemoteSynthesizer(url) if url else Synthesizer.load(package, backend=backend, threads=threads)
        click.echo(f"backend: {synthesizer.describe()}", err=True)
        for note in synthesizer.notes:
            click.echo(f"  {note}", err=True)

        for classes, _, _ in swap_refs:
            unknown = [c for c in classes if c not in synthesizer.class_names]
            if unknown:
                raise InputError(
                    f"--swap: unknown class(es) {unknown}; the classes are: {', '.join(synthesizer.class_names)}"
                )
        styles = encode_styles(synthesizer, jobs)
        mean = mean_styles(styles) if fallback == "mean" else None
        policy: str | Styles = mean if mean is not None else fallback
        if mean is not None:
            styles = styles.fill_missing(mean)
        for classes, image, ref_label in swap_refs:
            styles = styles.swap(classes, synthesizer.encode(image, ref_label), fallback=policy)
        if blend_ref is not None:
            styles = styles.interpolate(synthesizer.encode(*blend_ref), alpha, fallback=policy)

        single = not label.is_dir()
        for index, job in enumerate(tqdm(jobs, desc="synth", unit="img", disable=len(jobs) < 2)):
            image = synthesizer.synthesize(job.label, styles[index], seed=seed, noise=not no_noise)[0]
            write_image(output_path(out, job, single), image)
    target = out if single and out.suffix.lower() in IMAGE_SUFFIXES else out / "*.png"
    click.echo(f"wrote {len(jobs)} image(s): {target}")
