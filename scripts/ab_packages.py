"""A/B of two packages of one model on one backend: encode + synthesize at batch 1 on a face-parsing
label layout, the two packages called in alternating order, the median of the paired ratios A / B.

The "paired" figures of docs/performance.md and CHANGELOG.md are this script's. Both packages' images
are compared first (the largest uint8 and float difference), so a faster package that draws another
image shows at once.

    python scripts/ab_packages.py PKG_A PKG_B [--backend openvino --precision bf16] [--rounds 15]
"""

from __future__ import annotations

import statistics
import time

import click
import numpy as np

from sean_runtime.synthesizer import Synthesizer
from sean_tools.bench.inputs import face_labels


@click.command()
@click.argument("package_a", type=click.Path(exists=True, file_okay=False))
@click.argument("package_b", type=click.Path(exists=True, file_okay=False))
@click.option("--backend", type=click.Choice(["onnxruntime", "openvino"]), default="onnxruntime", show_default=True)
@click.option("--precision", type=click.Choice(["f32", "bf16", "f16"]), default="f32", show_default=True,
              help="OpenVINO's precision hint (f32 only with onnxruntime).")
@click.option("--rounds", type=click.IntRange(1, 10_000), default=15, show_default=True,
              help="Timed calls of each package (after one untimed call each).")
@click.option("--threads", type=click.IntRange(1, 1024), default=2, show_default=True)
def main(package_a: str, package_b: str, backend: str, precision: str, rounds: int, threads: int) -> None:
    """Time PACKAGE_A against PACKAGE_B in alternating rounds; print the images' difference and the ratio."""
    if backend == "onnxruntime" and precision != "f32":
        raise click.UsageError("--precision bf16 / f16 is OpenVINO's hint: add --backend openvino")
    hint = {"precision_hint": precision} if backend == "openvino" else {}
    synths = {name: Synthesizer.load(path, backend=backend, threads=threads, **hint)
              for name, path in (("A", package_a), ("B", package_b))}  # fmt: skip
    try:
        if synths["A"].resolution != synths["B"].resolution or synths["A"].class_names != synths["B"].class_names:
            raise click.UsageError("the packages are of different models (resolution or classes differ)")
        rng = np.random.default_rng(0)
        height, width = synths["A"].resolution
        labels = face_labels(rng, 1, len(synths["A"].class_names), height, width)  # [1, H, W] class ids
        image = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)

        def call(synth: Synthesizer) -> np.ndarray:
            return synth.render(labels, synth.encode(image, labels), seed=0)  # float32 [1, 3, H, W]

        rendered = {name: call(synth) for name, synth in synths.items()}  # also the untimed first calls
        pixels = {name: synth.synthesize(labels, synth.encode(image, labels), seed=0) for name, synth in synths.items()}
        seconds: dict[str, list[float]] = {"A": [], "B": []}
        for index in range(rounds):
            for name in ("A", "B") if index % 2 == 0 else ("B", "A"):
                started = time.perf_counter()
                call(synths[name])
                seconds[name].append(time.perf_counter() - started)
    finally:
        for synth in synths.values():
            synth.close()
    ratios = [a / b for a, b in zip(seconds["A"], seconds["B"], strict=True)]
    click.echo(f"backend {backend}, precision {precision}, {threads} threads, {rounds} rounds, batch 1, "
               f"{height}x{width}")
    click.echo(f"images A vs B: max |diff| {int(np.abs(pixels['A'].astype(int) - pixels['B']).max())} (uint8), "
               f"{float(np.abs(rendered['A'] - rendered['B']).max()):.2e} (float)")
    click.echo(f"A median {statistics.median(seconds['A']):.4f} s, B median {statistics.median(seconds['B']):.4f} s")
    click.echo(f"A / B paired median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
