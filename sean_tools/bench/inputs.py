"""The checkpoint and packages a benchmark runs on, and the seeded inputs every worker times."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from sean_core.errors import PackageError
from sean_core.install import missing_module_message, missing_modules
from sean_core.shipped import shipped_models
from sean_tools.bench.spec import WorkerSpec


@dataclass
class Inputs:
    """A checkpoint for the torch paths and packages for the runtime paths."""

    checkpoint: Path | None
    cache: Path  # the work folder's part for this model: exported packages, class-scaling models
    # PACKAGE_EXPORTS key -> package folder: "fp32" (dense), "regions" (fp32, region form), "fp16" (dense)
    packages: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unexported: dict[str, str] = field(default_factory=dict)  # package key -> why there is none (its rows skip)
    cpp_library: Path | None = None  # the C++ runtime built for its rows (--cpp)
    cpp_problem: str = ""  # why there is none, when --cpp was asked for


def export_code_sha256() -> str:
    """sha256 of the code that shapes an exported graph (sean_train's networks and sean_export): a cached
    package exported by other code is exported again, so a benchmark never times stale graphs."""
    import hashlib

    import sean_export
    import sean_train.networks

    digest = hashlib.sha256()
    for package in (sean_train.networks, sean_export):
        root = Path(package.__file__).parent
        for source in sorted(root.rglob("*.py")):
            digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


# Inputs.packages key -> (precision, generator form) its package is exported with.
PACKAGE_EXPORTS = {"fp32": ("fp32", "dense"), "regions": ("fp32", "regions"), "fp16": ("fp16", "dense")}


def cached_package(checkpoint: Path, out: Path, key: str) -> Path:
    """Export `checkpoint` to `out` as the package of key `key` (PACKAGE_EXPORTS) unless the same code already
    exported it there (full size: minutes, ~7 GB).

    The stamp beside the package (out + ".stamp.json") says what it was exported from and by.
    """
    missing = missing_modules("export")
    if missing:  # a serving-only install times the runtime paths of a package it is given
        raise click.ClickException(missing_module_message(
            missing[0], f"`sean bench` (exporting {checkpoint} first; give a package instead: sean bench PKG)", "export"
        ))
    from sean_core.files import atomic_write_json, sha256_file
    from sean_export import export_package
    from sean_runtime.package import load_package
    from sean_train.checkpoint import WEIGHTS_FILE

    stamp_path = out.with_name(out.name + ".stamp.json")
    precision, form = PACKAGE_EXPORTS[key]
    stamp = {"checkpoint_sha256": sha256_file(checkpoint / WEIGHTS_FILE), "precision": precision,
             "form": form, "export_code_sha256": export_code_sha256()}
    try:
        load_package(out, verify=False)
        if json.loads(stamp_path.read_text()) == stamp:
            return out
    except (PackageError, OSError, ValueError):
        pass
    click.echo(f"exporting {checkpoint} ({precision}, {form} generator) to {out} ...", err=True)
    export_package(checkpoint, out, precision=precision, form=form)
    atomic_write_json(stamp_path, stamp)
    return out


def given_package_key(package: Path) -> str:
    """The PACKAGE_EXPORTS key of a package given on the command line: by its precision and generator form."""
    from sean_runtime.package import load_package

    loaded = load_package(package, verify=False)
    forms = {value: key for key, value in PACKAGE_EXPORTS.items()}
    return forms.get((loaded.precision, loaded.generator_form), "fp32")


def official_size_checkpoint_dir(workdir: Path) -> Path:
    """Where official_size_checkpoint keeps its model (known before it is built, for the checks of outputs)."""
    return workdir / "official-size" / "checkpoint"


def official_size_checkpoint(workdir: Path) -> Path:
    """A random official-size faces model (ModelConfig(): 19 classes, 256 x 256), saved once under workdir."""
    from sean_train.checkpoint import CONFIG_FILE, save_checkpoint
    from sean_train.config import ModelConfig
    from sean_train.weight_init import random_model

    directory = official_size_checkpoint_dir(workdir)
    if not (directory / CONFIG_FILE).is_file():
        click.echo(f"building a random official-size model in {directory} ...", err=True)
        save_checkpoint(random_model(ModelConfig(), seed=0), directory)
    return directory


def resolve_inputs(
    package: Path | None, checkpoint: Path | None, official_size: bool, quick: bool, fp16: bool, workdir: Path
) -> Inputs:
    """The checkpoint and packages to benchmark; packages are exported into workdir when not given."""
    if official_size:
        checkpoint = official_size_checkpoint(workdir)
    elif quick and checkpoint is None and package is None:
        checkpoint = shipped_models()["shapes"]
    if checkpoint is None and package is None:
        raise click.UsageError("give a package folder, --checkpoint CKPT, --official-size or --quick")
    cache = workdir / (("official-size" if official_size else checkpoint.name) if checkpoint else "package")
    inputs = Inputs(checkpoint, cache)
    if package is not None:
        inputs.packages[given_package_key(package)] = package
        if checkpoint is None:  # the package alone, quickly: nothing is exported or built
            inputs.notes.append("the package's runtime rows only: give --checkpoint CKPT for the PyTorch and "
                                "official rows, the other package forms and the max|Δ| direct column")
            return inputs
    add_exported_packages(inputs, fp16)
    return inputs


def add_exported_packages(inputs: Inputs, fp16: bool) -> None:
    """Export (or reuse from inputs.cache) the packages inputs.checkpoint lacks: fp32 dense, the region form
    (a failure is a note on its rows) and, with fp16, the fp16 package."""
    checkpoint, cache = inputs.checkpoint, inputs.cache
    if checkpoint is None:
        return
    if "fp32" not in inputs.packages:
        inputs.packages["fp32"] = cached_package(checkpoint, cache / "package-fp32", "fp32")
    if "regions" not in inputs.packages:
        from sean_export.package import no_region_layer
        from sean_train.checkpoint import read_config
        from sean_train.networks.inference import has_region_layers

        config, _ = read_config(checkpoint)
        if not has_region_layers(config):  # nothing to export: the region rows say why they are skipped
            inputs.unexported["regions"] = no_region_layer(config)
        else:
            try:
                inputs.packages["regions"] = cached_package(checkpoint, cache / "package-regions", "regions")
            except Exception as exc:  # an export failure is a result of the benchmark, not a crash of it
                inputs.unexported["regions"] = f"no region-form package: {exc}"
    if fp16 and "fp16" not in inputs.packages:
        try:
            inputs.packages["fp16"] = cached_package(checkpoint, cache / "package-fp16", "fp16")
        except Exception as exc:  # an export failure is a result of the benchmark, not a crash of it
            inputs.notes.append(f"fp16 export failed: {exc}")


def class_count_checkpoint(inputs: Inputs, config: Any, seed: int) -> Path:
    """The random model with config's class count that every class-scaling row of that count times, saved
    once in the benchmark's work folder (its package is exported beside it)."""
    from sean_train.checkpoint import CheckpointError, read_config, save_checkpoint
    from sean_train.weight_init import random_model

    checkpoint = inputs.cache / f"classes-{config.num_classes}" / "checkpoint"
    try:
        if read_config(checkpoint)[0] == config:
            return checkpoint
    except CheckpointError:
        pass
    return save_checkpoint(random_model(config, seed=seed), checkpoint)


def class_count_inputs(inputs: Inputs, config: Any, classes: int, seed: int, fp16: bool) -> Inputs:
    """The inputs of the random model with `classes` classes (config otherwise) that the class-scaling rows
    time: its checkpoint and packages, in the same cache folders, planned with the same path keys."""
    import dataclasses

    sized = dataclasses.replace(config, num_classes=classes, class_names=())
    checkpoint = class_count_checkpoint(inputs, sized, seed)
    scaled = Inputs(checkpoint, checkpoint.parent, cpp_library=inputs.cpp_library, cpp_problem=inputs.cpp_problem)
    add_exported_packages(scaled, fp16)
    return scaled


def block_labels(rng: np.random.Generator, batch: int, classes: int, height: int, width: int) -> np.ndarray:
    """Label ids int32 [B, H, W]: square cells of H/32 pixels (at least 4), each a random class.

    At 256 x 256 that is 1024 cells, so nearly every class is present, the official code's worst case.
    """
    cell = max(4, height // 32)
    grid = rng.integers(0, classes, size=(batch, -(-height // cell), -(-width // cell)))
    return np.repeat(np.repeat(grid, cell, axis=1), cell, axis=2)[:, :height, :width].astype(np.int32)


# A face parsing layout as CelebAMask-HQ labels it (ids of the 19 classes), drawn back to front:
# (class, centre y, centre x, half height, half width) in units of the image side.
FACE_PARTS = (
    (18, 1.05, 0.50, 0.30, 0.48),  # cloth
    (17, 0.85, 0.50, 0.20, 0.15),  # neck
    (13, 0.42, 0.50, 0.40, 0.34),  # hair
    (8, 0.50, 0.22, 0.08, 0.05),  # left ear
    (9, 0.50, 0.78, 0.08, 0.05),  # right ear
    (1, 0.52, 0.50, 0.30, 0.25),  # skin
    (6, 0.40, 0.38, 0.02, 0.07),  # left brow
    (7, 0.40, 0.62, 0.02, 0.07),  # right brow
    (4, 0.46, 0.38, 0.025, 0.05),  # left eye
    (5, 0.46, 0.62, 0.025, 0.05),  # right eye
    (2, 0.57, 0.50, 0.07, 0.05),  # nose
    (11, 0.68, 0.50, 0.025, 0.09),  # upper lip
    (12, 0.72, 0.50, 0.025, 0.08),  # lower lip
    (10, 0.70, 0.50, 0.012, 0.07),  # mouth
)


def face_labels(rng: np.random.Generator, batch: int, classes: int, height: int, width: int) -> np.ndarray:
    """Label ids int32 [B, H, W]: a face parsing layout (FACE_PARTS, ellipses jittered by a few percent)
    on background 0, 15 regions as a real CelebAMask-HQ mask has. With K != 19 classes the 19 ids map
    to distinct random ones (K > 19; background stays 0) so the layout stays and only the class count changes."""
    ids = np.arange(19) % classes
    if classes > 19:
        ids[1:] = 1 + rng.permutation(classes - 1)[:18]
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.zeros((batch, height, width), np.int32)
    for b in range(batch):
        for cls, cy, cx, ry, rx in FACE_PARTS:
            cy, cx = cy + rng.normal(0, 0.01), cx + rng.normal(0, 0.01)
            ry, rx = ry * rng.uniform(0.95, 1.05), rx * rng.uniform(0.95, 1.05)
            inside = ((yy / height - cy) / ry) ** 2 + ((xx / width - cx) / rx) ** 2 <= 1.0
            out[b][inside] = ids[cls]
    return out


# The label layouts a benchmark can time: the region form's work (networks.regions) and the official
# code's (a loop over the classes shown) depend on them.
LABEL_LAYOUTS = {"blocks": block_labels, "faces": face_labels}
LABEL_LAYOUT_TEXT = {"blocks": "8-px blocks of random classes", "faces": "a face parsing layout (15 regions)"}


def timed_inputs(spec: WorkerSpec, batch: int) -> dict[str, np.ndarray]:
    """Seeded image [B, 3, H, W], labels [B, H, W] in spec.labels' layout and zero noise [B, N] (the official
    eval has no noise)."""
    rng = np.random.default_rng(spec.seed)
    h, w = spec.height, spec.width
    return {
        "image": rng.uniform(-1.0, 1.0, (batch, 3, h, w)).astype(np.float32),
        "labels": LABEL_LAYOUTS[spec.labels](rng, batch, spec.num_classes, h, w),
        "noise": np.zeros((batch, spec.noise_numel), dtype=np.float32),
    }
