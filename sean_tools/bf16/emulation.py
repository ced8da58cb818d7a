"""bf16 inference emulated on any CPU: how far a bf16 runtime would move SEAN's images from fp32.

A bf16 runtime on CPU matrix units (OpenVINO / oneDNN on AMX or AVX512-BF16) or on a GPU reads bf16
operands, accumulates in fp32 and stores activations in bf16. On a CPU without bf16 units OpenVINO
silently executes f32 under the bf16 hint, so its images say nothing about bf16 quality there. This
module reproduces the bf16 numerics in fp32 PyTorch instead:

- every matrix-product op (conv, transposed conv, linear, matmul) rounds its input and weight to bf16;
- every floating-point op rounds its output to bf16 (activations stored in bf16);
- ops inside modules of the `keep_fp32` types run unrounded (e.g. normalisation layers kept in fp32).

Rounding is round-to-nearest-even, as a hardware conversion does (torch's float32 -> bfloat16 cast).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

# Ops whose operands (input, weight) a bf16 matrix unit reads in bf16.
MATRIX_OPS = frozenset(
    {F.conv2d, F.conv_transpose2d, F.linear, torch.matmul, torch.bmm, torch.mm, Tensor.matmul, Tensor.__matmul__}
)
NORM_MODULES: tuple[type[nn.Module], ...] = (nn.InstanceNorm2d, nn.BatchNorm2d)


def round_bf16(value: Any) -> Any:
    """float32 tensors rounded to the nearest bf16 value (kept as float32); anything else unchanged."""
    if isinstance(value, Tensor) and value.dtype == torch.float32:
        return value.to(torch.bfloat16).to(torch.float32)
    return value


class BF16Emulation(TorchFunctionMode):
    """Rounds operands of matrix ops and outputs of every op to bf16, except while `fp32_depth` > 0."""

    def __init__(self) -> None:
        super().__init__()
        self.fp32_depth = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.fp32_depth:
            return func(*args, **kwargs)
        if func in MATRIX_OPS:
            args = (*(round_bf16(a) for a in args[:2]), *args[2:])
        return tree_map(round_bf16, func(*args, **kwargs))


@contextmanager
def bf16_emulation(model: nn.Module, keep_fp32: Sequence[type[nn.Module]] = ()) -> Iterator[None]:
    """Run `model` (and anything else called inside) with bf16 numerics; modules of `keep_fp32` types in fp32."""
    mode = BF16Emulation()

    def enter(module: nn.Module, args: Any) -> None:
        mode.fp32_depth += 1

    def leave(module: nn.Module, args: Any, output: Any) -> Any:
        mode.fp32_depth -= 1
        return output

    hooks = []
    for module in model.modules():
        if isinstance(module, tuple(keep_fp32)):
            hooks += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        with mode:
            yield
    finally:
        for hook in hooks:
            hook.remove()


# --- quality report --------------------------------------------------------------------------------------
VARIANTS: dict[str, tuple[type[nn.Module], ...]] = {"bf16": (), "bf16, fp32 norms": NORM_MODULES}
INFERENCE_VARIANT = "bf16, inference form"  # every op in bf16, the generator folded as packages ship it


@dataclass(frozen=True)
class Case:
    """One reconstruction input and where it came from. batch: image [1, 3, H, W] in [-1, 1], labels
    [1, H, W] int64, extra [1, E, H, W] (the training data's batch layout)."""

    name: str
    batch: dict[str, Tensor]


def reconstruct(model: nn.Module, case: Case, folded: nn.Module | None = None) -> tuple[Tensor, Tensor]:
    """(codes [1, K, S], image [1, 3, H, W]) of a zero-noise reconstruction; with `folded` (the generator's
    inference form, sean_train.networks.inference) that generator draws the image from the label ids."""
    from sean_train.evaluate import reconstruct_batch

    _, _, codes, image, noise = reconstruct_batch(model, case.batch, torch.device("cpu"))
    if folded is not None:
        extra = case.batch["extra"] if model.config.extra_mask_channels else None
        image = folded(case.batch["labels"], codes, noise, extra)
    return codes, image


@torch.no_grad()
def bf16_quality(model: nn.Module, cases: Sequence[Case], progress: bool = True) -> dict[str, Any]:
    """Per variant: worst and median image PSNR against fp32, largest code / image difference, all finite.

    Also the relative error (RMS of the difference / RMS of the fp32 image's deviation from its mean),
    which stays meaningful for the near-flat images of random-weight models where PSNR flatters.
    """
    from sean_core.progress import progress_bar
    from sean_export.validate import psnr_pm1
    from sean_train.networks.inference import fold_for_inference

    model = model.eval()
    fp32 = [reconstruct(model, case) for case in progress_bar(iterable=cases, desc="fp32", disable=not progress)]
    folded = fold_for_inference(model.generator)
    runs = [(variant, keep, None) for variant, keep in VARIANTS.items()] + [(INFERENCE_VARIANT, (), folded)]
    result: dict[str, Any] = {}
    for variant, keep, generator in runs:
        rows = []
        with bf16_emulation(model, keep):
            bar = progress_bar(iterable=cases, desc=variant, disable=not progress)
            for case, (codes32, image32) in zip(bar, fp32, strict=True):
                codes, image = reconstruct(model, case, generator)
                spread = float(torch.sqrt(torch.mean((image32 - image32.mean()) ** 2)))
                rms = float(torch.sqrt(torch.mean((image - image32) ** 2)))
                rows.append({
                    "case": case.name,
                    "image_psnr_db": psnr_pm1(image.numpy(), image32.numpy()),
                    "image_max_abs": float((image - image32).abs().max()),
                    "codes_max_abs": float((codes - codes32).abs().max()),
                    "relative_error": rms / spread if spread > 0 else math.inf,
                    "finite": bool(torch.isfinite(image).all() and torch.isfinite(codes).all()),
                })
        psnrs = [row["image_psnr_db"] for row in rows]
        result[variant] = {
            "cases": rows,
            "worst_psnr_db": min(psnrs),
            "median_psnr_db": float(np.median(psnrs)),
            "image_max_abs": max(row["image_max_abs"] for row in rows),
            "codes_max_abs": max(row["codes_max_abs"] for row in rows),
            "worst_relative_error": max(row["relative_error"] for row in rows),
            "all_finite": all(row["finite"] for row in rows),
        }
    return result


# --- inputs ----------------------------------------------------------------------------------------------
def synthetic_cases(config: Any, seed: int = 0) -> list[Case]:
    """Valid masks of every kind on a uniform-noise image: random classes in square blocks of 1 px (every
    pixel a boundary) to a quarter of the image, one class everywhere (first and last), every class in stripes.
    Extra mask channels (instance edges) are random sparse 0/1 maps."""
    from sean_export.validate import special_labels

    rng = np.random.default_rng(seed)
    h, w, k, e = config.height, config.width, config.num_classes, config.extra_mask_channels
    label_maps: list[tuple[str, np.ndarray]] = []
    for cell in sorted({1, 4, 16, max(1, h // 4)}):
        grid = rng.integers(0, k, size=(-(-h // cell), -(-w // cell)))
        blocks = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)[:h, :w]
        label_maps.append((f"random {cell}-px blocks", blocks[None]))
    names = ("class 0 everywhere", f"class {k - 1} everywhere", "every class in stripes")
    label_maps += list(zip(names, special_labels(config), strict=True))
    cases = []
    for name, labels in label_maps:
        batch = {
            "image": torch.from_numpy(rng.uniform(-1.0, 1.0, (1, 3, h, w)).astype(np.float32)),
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "extra": torch.from_numpy((rng.random((1, e, h, w)) < 0.05).astype(np.float32)),
        }
        cases.append(Case(name, batch))
    return cases


def dataset_cases(config: Any, domain: Any, data: str | None, split: str, count: int) -> list[Case]:
    """The first `count` samples of the domain's split (from `data`, or drawn by a domain that generates its own)."""
    from sean_train.data import iterate_batches, open_source

    source = open_source(domain, data, split, config.height, config.width, count)
    return [Case(f"{domain.name} {split} #{i}", batch) for i, batch in enumerate(iterate_batches(source, 1, count))]
