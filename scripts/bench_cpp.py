"""C++ vs Python runtime latency on the official-size package of `sean bench --official-size`.

Both runtimes run OpenVINO f32 with the same thread count on arrays in memory (encode + synthesize,
noise on). Calls alternate Python, C++, Python, C++ ... in one process, so that a busy machine slows
both alike; the table gives the median seconds per call and the C++ / Python ratio, and the images of
the two runtimes are compared.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import click
import cv2
import numpy as np

from sean_runtime.cpp.binding import CppRuntime, cmake_build
from sean_runtime.synthesizer import Synthesizer

ROOT = Path(__file__).resolve().parents[1]


def inputs(batch: int, classes: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocky random label maps int32 [B, H, W] over all classes and smooth random images uint8 [B, H, W, 3]."""
    rng = np.random.default_rng(0)
    grid = rng.integers(0, classes, size=(batch, 8, 8)).astype(np.int32)
    labels = np.stack([cv2.resize(g, (width, height), interpolation=cv2.INTER_NEAREST) for g in grid])
    noise = rng.integers(0, 256, size=(batch, height // 8, width // 8, 3)).astype(np.uint8)
    images = np.stack([cv2.resize(n, (width, height), interpolation=cv2.INTER_CUBIC) for n in noise])
    return images, labels


@click.command()
@click.option("--batch-sizes", "batch_sizes", multiple=True, type=click.IntRange(1), default=(1, 8), show_default=True)
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Timed calls per runtime and batch size.")
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True, help="OpenVINO CPU threads.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "runs" / "bench",
              show_default=True, help="Where `sean bench` caches the official-size model and package.")
def main(batch_sizes: tuple[int, ...], rounds: int, threads: int, workdir: Path) -> None:
    """Time the C++ and Python runtimes side by side on an official-size package.

    \b
    Examples:
      .venv/bin/python scripts/bench_cpp.py
      .venv/bin/python scripts/bench_cpp.py --batch-sizes 1 --rounds 5 --threads 2
    """
    from sean_tools.bench.inputs import cached_package, official_size_checkpoint

    package = cached_package(official_size_checkpoint(workdir), workdir / "official-size" / "package-fp32", "fp32")
    build = cmake_build(ROOT / "build" / "bench-release", "-DCMAKE_BUILD_TYPE=Release", target="sean")
    python = Synthesizer.load(package, backend="openvino", threads=threads)
    cpp = CppRuntime(build / "libsean.so", package, threads=threads)
    height, width = python.resolution
    click.echo(f"package {package}: {width}x{height}, {len(python.class_names)} classes; {python.describe()}")

    def run_python(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return python.synthesize(labels, python.encode(images, labels), seed=0)

    def run_cpp(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return cpp.synthesize(labels, cpp.encode(images, labels), seed=0)

    rows = []
    for batch in batch_sizes:
        images, labels = inputs(batch, len(python.class_names), height, width)
        first_py, first_cpp = run_python(images, labels), run_cpp(images, labels)  # warm-up, and the images
        difference = int(np.abs(first_py.astype(int) - first_cpp.astype(int)).max())
        times: dict[str, list[float]] = {"python": [], "cpp": []}
        for _ in range(rounds):
            for name, run in (("python", run_python), ("cpp", run_cpp)):
                start = time.perf_counter()
                run(images, labels)
                times[name].append(time.perf_counter() - start)
        py, cc = statistics.median(times["python"]), statistics.median(times["cpp"])
        rows.append((batch, py, cc, difference))
        click.echo(f"batch {batch}: python {times['python']}, c++ {times['cpp']}", err=True)
    cpp.close()

    click.echo("\n| batch | Python runtime (s / call) | C++ runtime (s / call) | C++ / Python | max image difference |")
    click.echo("|---|---|---|---|---|")
    for batch, py, cc, difference in rows:
        click.echo(f"| {batch} | {py:.2f} | {cc:.2f} | {cc / py:.2f} | {difference} |")


if __name__ == "__main__":
    main()
