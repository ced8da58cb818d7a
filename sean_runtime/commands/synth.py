"""`sean synth`: label maps + style images -> images, with per-region swaps and interpolation (no torch)."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from sean_core.command import THREADS, Amount, SeanCommand
from sean_core.domains import natural_key
from sean_core.errors import InputError, SeanError
from sean_core.files import (
    EXISTS_WITHOUT_FORCE,
    ExistsError,
    ResolvedInputs,
    output_problem,
    path_problem,
    resolved,
)
from sean_core.imageio import write_jpg, write_png
from sean_core.interrupts import stopped, stopped_saying
from sean_core.progress import progress_bar
from sean_runtime.backends import BACKENDS, PRECISION_HINTS
from sean_runtime.commands import BACKEND_HELP, PRECISION_HELP
from sean_runtime.inputs import SEED_LIMIT
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.segmenter import HOW_TO_CONFIGURE
from sean_runtime.styles import DEFAULT_FALLBACK, FALLBACK_NAMES, Styles, mean_styles
from sean_runtime.synthesizer import Synthesizer
from sean_runtime.triton.interface import DEFAULT_NAME

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
WRITE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what -o can name for one output file


@dataclass(frozen=True)
class Job:
    """One output image: the label it is drawn on, and the style image (with its own label) it takes."""

    stem: str
    label: Path
    style: Path
    style_label: Path | None  # None: found nowhere, the package's segmenter labels the style image


def _image_files(folder: Path) -> list[Path]:
    """The image files of a folder by name; an image name that is no file (a loop of symbolic links, a link
    to nothing) is an error, not skipped, so a folder run never leaves out an image silently."""
    files = []
    for path in folder.iterdir():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        problem = path_problem(path)
        if problem is None:
            files.append(path)
        elif not path.is_dir():
            raise InputError(f"{path} {problem}; fix or remove it")
    if not files:
        raise InputError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=lambda p: natural_key(p.name))


class _Matcher:
    """The file to take for a label's name: the file given, or the file of a folder with that stem. Two
    files of the stem (a.png, a.jpg) are refused when the stem is asked for, as taking either one silently
    could encode the wrong picture. A folder is listed once, not once a label: a folder run of N labels
    listed its N files N times."""

    def __init__(self, source: Path, what: str) -> None:
        self.source, self.what = source, what
        self.by_stem: dict[str, list[Path]] | None = None
        if source.is_dir():
            self.by_stem = {}
            for path in _image_files(source):
                self.by_stem.setdefault(path.stem, []).append(path)

    def pick(self, stem: str) -> Path:
        if self.by_stem is None:
            return self.source
        found = self.by_stem.get(stem, [])
        if not found:
            raise InputError(f"no {self.what} named {stem}.* in {self.source} (files are matched by name without "
                             "extension)")
        if len(found) > 1:
            names = ", ".join(path.name for path in found)
            raise InputError(f"{len(found)} files named {stem}.* in {self.source} ({names}): files are matched by "
                             f"name without extension, so keep one {self.what} of that name")
        return found[0]


def layout_label(image: Path) -> Path | None:
    """The label map of an image in the prepared layout, <split>/images/X.* -> <split>/labels/X.*, if any."""
    candidates = sorted((image.parent.parent / "labels").glob(f"{glob.escape(image.stem)}.*"))
    return next((c for c in candidates if c.is_file() and not c.samefile(image)), None)


def own_label(style: Path, target: Path) -> Path | None:
    """The label map of a style image when --style-label is not given: its own in the prepared layout,
    else the target label map of the same name, else None (the segmenter's labels, check_unlabelled); a
    style image is never encoded under another image's map."""
    found = layout_label(style)
    if found is not None:
        return found
    if target.stem == style.stem:
        return target
    return None


def can_segment(synthesizer: Synthesizer | RemoteSynthesizer) -> bool:
    """Whether style images without a label map can be labelled: the package's segmenter, or the server's."""
    if isinstance(synthesizer, Synthesizer):
        return synthesizer.segmenter is not None
    if isinstance(synthesizer, RemoteSynthesizer):
        return bool(synthesizer.info().get("segmenter"))
    return False  # Triton: the exported repository has no segmenter


def check_unlabelled(
    synthesizer: Synthesizer | RemoteSynthesizer, jobs: list[Job], references: list[tuple[str, Path, Path | None]]
) -> None:
    """A style image without a label map needs a segmenter; without one, the first such image is refused.

    references: (option, image, label or None) of --swap and --interpolate."""
    if can_segment(synthesizer):
        return
    or_segment = f", or label it with a segmenter: {HOW_TO_CONFIGURE}"
    for job in jobs:
        if job.style_label is None:
            raise InputError(
                f"--style {job.style}: no label map of its own (no {job.style.stem}.* in "
                f"{job.style.parent.parent / 'labels'}, and the label map {job.label.name} is of another image); "
                f"pass the style image's label with --style-label{or_segment}"
            )
    for option, image, label in references:
        if label is None:
            raise InputError(f"{option}: no label map found for {image}; pass it as {image}:LABEL.png{or_segment}")


def plan_jobs(label: Path, style: Path, style_label: Path | None) -> list[Job]:
    labels = _image_files(label) if label.is_dir() else [label]
    styles = _Matcher(style, "style image")
    style_labels = None if style_label is None else _Matcher(style_label, "style label")
    jobs = []
    for label_file in labels:
        style_file = styles.pick(label_file.stem)
        if style_labels is None:
            style_label_file = own_label(style_file, label_file)
        else:
            style_label_file = style_labels.pick(style_file.stem)
        jobs.append(Job(label_file.stem, label_file, style_file, style_label_file))
    return jobs


def plan_outputs(
    out: Path, jobs: list[Job], single: bool, inputs: list[Path], force: bool, skip_existing: bool = False
) -> list[Path]:
    """The file each job writes.

    One label file and an -o with an image suffix (.png, .jpg) name the output file; otherwise -o is a
    folder of <label name>.png. Each output then follows sean_core.files.output_problem: never an input
    (even with --force), an existing file only with --force (or left as it is with skip_existing), a place
    where a file can be created.
    """
    if out.is_dir():
        paths = [out / f"{job.stem}.png" for job in jobs]
    elif out.exists():
        if not single:
            raise InputError(f"-o {out} is a file, but --label is a folder: pass a folder for the outputs")
        paths = [out]
    elif single and out.suffix:
        if out.suffix.lower() not in WRITE_SUFFIXES:
            raise InputError(f"-o {out}: cannot write {out.suffix} images; name a .png or .jpg file, or a folder")
        paths = [out]
    elif out.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"-o {out} names an image file, but --label is a folder: pass a folder for the outputs")
    else:
        paths = [out / f"{job.stem}.png" for job in jobs]
    seen: set[Path] = set()
    resolved_inputs = ResolvedInputs.of(inputs)  # once, not once an output
    for path in paths:
        real = resolved(path, InputError)
        if real in seen:
            raise InputError(f"-o {out}: two label maps would both write {path}; give them different names")
        seen.add(real)
        # the rules every command's outputs follow; skip_existing checks an existing one as --force does (a
        # regular file, not a folder or a device) and leaves it as it is
        problem = output_problem(path, resolved_inputs, force or skip_existing)
        if problem == EXISTS_WITHOUT_FORCE and not single:
            raise InputError(f"{path} exists; {CONTINUE_HINT}, --force to overwrite every image, or choose "
                             "another folder")
        if problem is not None:
            raise InputError(f"{path} {problem}")
    return paths


CONTINUE_HINT = "pass --skip-existing to write only the images not written yet (as after a stop)"


def exists_error(path: Path) -> InputError:
    return InputError(f"{path} {EXISTS_WITHOUT_FORCE}")


def write_image(path: Path, rgb: np.ndarray, force: bool, skip_existing: bool = False) -> bool:
    """Write one output atomically (whole or not at all) -> whether it was written. Without force it is
    created only as a new file: of several runs writing it at once exactly one succeeds, and the others say
    it exists, or with skip_existing leave it (the check of plan_outputs comes earlier and cannot see a file
    another run makes meanwhile)."""
    try:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            write_jpg(path, rgb, exclusive=not force)
        else:
            write_png(path, rgb, exclusive=not force)
    except ExistsError as exc:
        if skip_existing:
            return False
        raise exists_error(path) from exc
    return True


def outputs_shown(outputs: list[Path]) -> str:
    """The outputs of a run as its messages name them: the file, or <folder>/*.png."""
    return str(outputs[0] if len(outputs) == 1 else outputs[0].parent / "*.png")


def stopped_line(out: Path, outputs: list[Path], existing: set[Path], written: list[Path]) -> str:
    """The one line of a stopped run: what is written, and the command that writes the rest. outputs is
    empty while the run still plans them (-o out)."""
    if not outputs:
        return f"{stopped('synth')} before writing an image; nothing was written to {out}"
    done = len(existing) + len(written)
    if len(outputs) == 1:
        return f"{stopped('synth')} {'after' if done else 'before'} writing {outputs[0]}"
    if not done:
        return f"{stopped('synth')} before writing an image; nothing was written to {outputs[0].parent}"
    return f"{stopped('synth')} with {how_to_continue(outputs, done)}"


def how_to_continue(outputs: list[Path], done: int) -> str:
    """What a folder run that ended early leaves, and the command that writes the rest."""
    return (f"{done} of {len(outputs)} images written ({outputs_shown(outputs)}), each whole; run the same command "
            f"with --skip-existing to write the other {len(outputs) - done}")


def check_labels(synthesizer: Synthesizer | RemoteSynthesizer, jobs: list[Job]) -> None:
    """Read and check every label map, its class ids too, before the first output is written, so that a bad
    one stops a folder run with nothing written: each synthesizer reads them as it (or its server) will, so a
    run on a server refuses them in the same line as a local run."""
    for job in jobs:
        synthesizer.read_labels(job.label)


def parse_reference(text: str, option: str) -> tuple[Path, Path | None]:
    """IMAGE[:LABEL] -> (image, label). Without LABEL: labels/<stem>.* beside the image's folder
    (the prepared layout <split>/images, <split>/labels), else None (the segmenter's labels). A value
    that is malformed or names no file is a usage error (exit 2), as click's own path checks are."""
    if Path(text).is_file() or ":" not in text:
        image, label = Path(text), None
    else:
        head, tail = text.rsplit(":", 1)
        image, label = Path(head), Path(tail)
    problem = path_problem(image)
    if problem is not None:
        raise click.UsageError(f"{option} {text}: image {image} {problem}")
    if label is None:
        label = layout_label(image)
        if label is None:
            return image, None
    problem = path_problem(label)
    if problem is not None:
        raise click.UsageError(f"{option} {text}: label map {label} {problem}")
    return image, label


def parse_swap(text: str) -> tuple[list[str], Path, Path | None]:
    """CLASS[,CLASS...]=IMAGE[:LABEL] -> (classes, image, label)."""
    if "=" not in text:
        raise click.UsageError(f"--swap {text}: expected CLASS=IMAGE[:LABEL], e.g. --swap hair=other.jpg:other.png")
    classes, reference = text.split("=", 1)
    names = [c.strip() for c in classes.split(",") if c.strip()]
    if not names:
        raise click.UsageError(f"--swap {text}: no class name before '='")
    return names, *parse_reference(reference, "--swap")


def encode_styles(synth: Synthesizer, jobs: list[Job]) -> Styles:
    """The style of each job, one image per encoder call: ONNX Runtime's codes move in the last bits with
    the batch size (docs/serving.md, "Dynamic batching"), and batches of 16 made 63 of 400 images of a folder
    run differ (by 1 of 255) from the same image synthesized alone or by `sean serve`."""
    parts = []
    with progress_bar(total=len(jobs), desc="encode", unit="img", disable=len(jobs) < 2) as bar:
        for job in jobs:
            parts.append(synth.encode(job.style, job.style_label))
            bar.update()
    return Styles.concat(parts)


@click.command(cls=SeanCommand)
@click.argument("package", type=click.Path(path_type=Path), required=False)
@click.option("--url", default=None,
              help="A `sean serve` URL to synthesize on instead of a local PACKAGE (a server with an API key: set "
              "SEAN_API_KEY).")
@click.option("--triton", "triton_url", default=None, metavar="URL",
              help="A Triton server of a `sean export-triton` repository (http://HOST:PORT or grpc://HOST:PORT) "
              "to synthesize on instead of a local PACKAGE.")
@click.option("--triton-model", default=DEFAULT_NAME, show_default=True, metavar="NAME",
              help="With --triton: the NAME the repository was exported under (`sean export-triton --name`).")
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
    help="Style image, or a folder matched to the labels by file name without extension (one file a name).",
)
@click.option(
    "--style-label",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Label map of the style image (file, or folder matched by name). Default: the style image's own "
    "label in the prepared layout (labels/<name>.* beside its images/ folder), else the --label of the same name, "
    "else the --segmenter's labels.",
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
    type=Amount(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Weight of the --interpolate image (0: own style, 1: the other image's).",
)
@click.option(
    "--fallback",
    type=click.Choice([DEFAULT_FALLBACK, "mean", *FALLBACK_NAMES[1:]]),
    default=DEFAULT_FALLBACK,
    show_default=True,
    help="For a class a reference lacks: keep the own style, use the mean style of all style "
    "images of this run (mean also fills label classes the style image lacks), or fail.",
)
@click.option("--seed", type=click.IntRange(0, SEED_LIMIT - 1), default=0, show_default=True,
              help="Noise seed (per image).")
@click.option("--no-noise", is_flag=True, help="Render without noise.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help=BACKEND_HELP)
@click.option("--threads", type=THREADS, default=None,
              help="CPU threads for ONNX Runtime / OpenVINO (default: one per physical core).")
@click.option("--precision", type=click.Choice(PRECISION_HINTS), default="f32", show_default=True,
              help=PRECISION_HELP)
@click.option("--segmenter", type=click.Path(path_type=Path), default=None, metavar="ONNX",
              help="Segmenter that labels style images given without a label map (a photo), e.g. a face parser "
              "of the domain's classes (docs/plugins.md, \"Segmenters\"). Default: $SEAN_SEGMENTER, else the "
              "domain plugin's; with --url the server's own.")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file (.png or .jpg, one label) or folder (<label name>.png per label).",
)
@click.option("--force", is_flag=True, help="Overwrite existing output files (inputs are never overwritten).")
@click.option("--skip-existing", is_flag=True,
              help="Leave the output files that exist as they are and write the others: a stopped folder run "
              "continues where it stopped (an image is written whole or not at all).")
@click.option("-v", "--verbose", is_flag=True, help="Also say which backends were passed over, and why.")
def synth(
    package: Path | None,
    url: str | None,
    triton_url: str | None,
    triton_model: str,
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
    precision: str,
    segmenter: Path | None,
    out: Path,
    force: bool,
    skip_existing: bool,
    verbose: bool,
) -> None:
    """Synthesize images from label maps with the styles of other images, region by region.

    A style image is encoded under its own label map (--style-label, or found by name as the help of
    --style-label says), never under another image's; one that has none (a photo) is labelled by the
    segmenter, where there is one. Outputs never replace an input, and replace an existing file only
    with --force.

    A folder run reads its files (--label, and --style / --style-label where they are folders; not their
    sub-folders) and checks them all before it writes any image: a file that cannot be used (unreadable,
    of the wrong size, without its match) stops the run in one line naming it, with nothing written.
    Each image is written whole, as it is made; after a stop (Ctrl-C, a termination signal) or an error
    that ends the run early, the same command with --skip-existing writes the images not written yet.

    \b
    Examples (the package and the inputs that `sean demo -o demo-out` writes):
      sean synth demo-out/package --label demo-out/inputs/test/labels/00.png \\
          --style demo-out/inputs/test/images/00.png -o out.png
      sean synth demo-out/package --label demo-out/inputs/test/labels/00.png \\
          --style demo-out/inputs/test/images/00.png --swap sky=demo-out/inputs/test/images/01.png -o swap.png
      sean synth demo-out/package --label demo-out/inputs/test/labels --style demo-out/inputs/test/images \\
          --interpolate demo-out/inputs/test/images/03.png --alpha 0.3 -o outdir
      sean synth --url http://127.0.0.1:8000 --label demo-out/inputs/test/labels/00.png \\
          --style demo-out/inputs/test/images/00.png -o out.png
      sean synth demo-out/package --label demo-out/inputs/test/labels/00.png \\
          --style demo-out/inputs/test/images/00.png --precision bf16 -o out_bf16.png
    """
    if force and skip_existing:
        raise click.UsageError("--force overwrites existing outputs and --skip-existing leaves them: pass one")
    outputs: list[Path] = []  # planned first: a stop until then says nothing was written, as one before an image
    existing: set[Path] = set()
    written: list[Path] = []
    with stopped_saying(lambda: stopped_line(out, outputs, existing, written)):
        jobs = plan_jobs(label, style, style_label)
        swap_refs = [parse_swap(text) for text in swaps]
        blend_ref = parse_reference(interpolate, "--interpolate") if interpolate else None
        single = not label.is_dir()
        inputs = [path for job in jobs for path in (job.label, job.style, job.style_label)]
        inputs += [path for _, *refs in swap_refs for path in refs] + list(blend_ref or ())
        planned = plan_outputs(out, jobs, single, [path for path in inputs if path is not None], force, skip_existing)
        if [package, url, triton_url].count(None) != 2:
            raise click.UsageError("give a PACKAGE folder, --url of a `sean serve` or --triton URL, one of the three")
        if triton_model != DEFAULT_NAME and not triton_url:
            raise click.UsageError("--triton-model goes with --triton URL")
        if segmenter is not None and package is None:
            raise click.UsageError("--segmenter is for a local PACKAGE; a server uses its own (sean serve --segmenter)")
        if precision != "f32" and package is None:
            raise click.UsageError("--precision is for a local PACKAGE; a server runs its own (sean serve --precision)")
        if package is None and (backend != "auto" or threads is not None):  # a server runs its own
            raise click.UsageError("--backend and --threads are for a local PACKAGE; a server runs its own backend "
                                   "and threads (sean serve --backend / --threads, sean export-triton)")
        if skip_existing:
            existing.update(path for path in planned if path.exists())
        outputs.extend(planned)
        if existing and len(existing) == len(outputs):
            click.echo(f"nothing to write: all {len(outputs)} image(s) exist ({outputs_shown(outputs)})")
            return
        if triton_url:
            from sean_runtime.triton.client import TritonSynthesizer

            synthesizer = TritonSynthesizer(triton_url, triton_model)
        elif url:
            synthesizer = RemoteSynthesizer(url)
        else:
            synthesizer = Synthesizer.load(package, backend=backend, threads=threads, precision_hint=precision,
                                           segmenter=segmenter)
        click.echo(f"backend: {synthesizer.describe()}", err=True)
        if verbose or backend == "tensorrt" or precision != "f32":
            for note in synthesizer.notes:
                click.echo(f"  {note}", err=True)

        for classes, _, _ in swap_refs:
            unknown = [c for c in classes if c not in synthesizer.class_names]
            if unknown:
                raise InputError(
                    f"--swap: unknown class(es) {unknown}; the classes are: {', '.join(synthesizer.class_names)}"
                )
        references = [("--swap", image, ref_label) for _, image, ref_label in swap_refs]
        references += [("--interpolate", *blend_ref)] if blend_ref is not None else []
        check_unlabelled(synthesizer, jobs, references)
        check_labels(synthesizer, jobs)
        todo = [index for index, path in enumerate(outputs) if path not in existing]
        # The styles of the images to write: --fallback mean averages those of every image, also of the images
        # that exist, so that a continued run writes the images an uninterrupted one would.
        encoded = range(len(jobs)) if fallback == "mean" else todo
        styles = encode_styles(synthesizer, [jobs[index] for index in encoded])
        mean = mean_styles(styles) if fallback == "mean" else None
        policy: str | Styles = mean if mean is not None else fallback
        if mean is not None:
            styles = styles[todo].fill_missing(mean)
        for classes, image, ref_label in swap_refs:
            styles = styles.swap(classes, synthesizer.encode(image, ref_label), fallback=policy)
        if blend_ref is not None:
            styles = styles.interpolate(synthesizer.encode(*blend_ref), alpha, fallback=policy)

        rows = list(enumerate(todo))  # (row of styles, job)
        for row, index in progress_bar(iterable=rows, desc="synth", unit="img", disable=len(rows) < 2):
            try:
                image = synthesizer.synthesize(jobs[index].label, styles[row], seed=seed, noise=not no_noise)[0]
                if write_image(outputs[index], image, force, skip_existing):
                    written.append(outputs[index])
            except SeanError as exc:  # a server gone, a full disk: the error, and how to go on from there
                done = len(existing) + len(written)
                if len(outputs) == 1 or not done:
                    raise
                raise click.ClickException(f"{exc}; {how_to_continue(outputs, done)}") from exc
    kept = f"; {len(existing)} that existed left as they were" if existing else ""
    click.echo(f"wrote {len(written)} image(s): {outputs_shown(outputs)}{kept}")
