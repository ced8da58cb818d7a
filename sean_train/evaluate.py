"""`sean eval` logic: reconstruction quality and per-region style control of a model on a split.

Reconstruction: PSNR, SSIM, RMSE between each image and the model's reconstruction from its own style.
Region colour fidelity: mean over (image, present class) of |mean colour of the region in the
reconstruction - in the style image|, in 0..255 units (averaged over R, G, B).
Locality: swap one class's code with another image's code for that class and measure the mean
absolute change inside that region and outside it; ratio = inside / outside (higher = more local), not
applicable where the region's own change is below one grey level (a model that ignores its styles).
Transfer (supplementary §C, Fig. 5): every class present in both an image and its partner (a
reference with another layout) takes the reference's code; error = mean over (image, class) of
|mean colour of the region in the result - in the reference's own region|, 0..255 units.
Noise is zero throughout, so every number is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sean_core.errors import DatasetError, NonFiniteError
from sean_core.progress import progress_bar
from sean_core.text_table import format_table
from sean_train.checkpoint import read_config
from sean_train.data import SampleSource, iterate_batches, load_batch, make_mask
from sean_train.distributed import usable_device
from sean_train.metrics import (
    change_inside_outside,
    psnr_255,
    region_colour_error,
    region_detail,
    region_mean_colours,
    rmse,
    ssim,
    to_255,
)
from sean_train.networks import SEANModel
from sean_train.networks.ops import downsample_nearest

# A class takes part in a swap only where it covers at least this fraction of the target image.
MIN_SWAP_FRACTION = 0.01


def choose_swaps(
    classes: Tensor, code_area: Tensor, offset: int = 0, partner: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Pick, for each image i, a partner and a class present in both.

    classes [B, K, H, W] one-hot of the target images; code_area [N, K] pixels of each class on the
    encoder grid (a code exists where > 0), rows 0..B-1 the targets'; partner [B] the row of code_area
    of each image's partner (None: j = (i + 1) mod B within the batch). Image i cycles through its
    eligible classes with the global index offset + i, so that every class gets swapped somewhere in a
    dataset. Returns (partner [B], class [B], -1 where no class qualifies or a batch of 1 has no partner).
    """
    b = classes.shape[0]
    chosen = torch.full((b,), -1, dtype=torch.long)
    if partner is None:
        partner = torch.roll(torch.arange(b), -1)
        if b < 2:
            return partner, chosen
    fraction = classes.flatten(2).mean(dim=2)  # [B, K]
    eligible = (fraction >= MIN_SWAP_FRACTION) & (code_area[partner] > 0) & (code_area[:b] > 0)
    for i in range(b):
        ids = torch.nonzero(eligible[i]).flatten()
        if ids.numel():
            chosen[i] = ids[(offset + i) % ids.numel()]
    return partner, chosen


def swap_codes(codes: Tensor, partner: Tensor, chosen: Tensor) -> Tensor:
    """codes [B, K, S] with codes[i, chosen[i]] replaced by codes[partner[i], chosen[i]]."""
    swapped = codes.clone()
    for i, k in enumerate(chosen.tolist()):
        if k >= 0:
            swapped[i, k] = codes[partner[i], k]
    return swapped


def transfer_classes(classes: Tensor, code_area: Tensor, partner: Tensor) -> Tensor:
    """[B, K] bool: the classes image i takes from its reference, row partner[i] of code_area [N, K]
    (covering at least MIN_SWAP_FRACTION of image i, with a code in the reference)."""
    fraction = classes.flatten(2).mean(dim=2)  # [B, K]
    return (fraction >= MIN_SWAP_FRACTION) & (code_area[partner] > 0)


def transfer_colour_error(
    result255: Tensor, classes: Tensor, reference255: Tensor, reference_classes: Tensor, taken: Tensor
) -> tuple[float, int]:
    """(sum over taken (image, class) of |mean region colour in the result - in the reference|,
    averaged over R, G, B; number of taken pairs). Images [B, 3, H, W] 0..255, classes one-hot."""
    result_means, _ = region_mean_colours(result255, classes)
    reference_means, _ = region_mean_colours(reference255, reference_classes)
    errors = (result_means - reference_means).abs().mean(dim=2)  # [B, K]
    return errors[taken].sum().item(), int(taken.sum().item())


def code_area(model: SEANModel, mask: Tensor, height: int, width: int) -> Tensor:
    """Pixels of each class on the encoder's pooling grid (H/2 x W/2): [B, K]."""
    classes = mask[:, : model.config.num_classes]
    return downsample_nearest(classes, height // 2, width // 2).sum(dim=(2, 3))


def encode_batch(model: SEANModel, batch: dict[str, Tensor], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """A batch's image [B, 3, H, W], network mask and style codes [B, K, S]."""
    image = batch["image"].to(device)
    mask = make_mask(batch["labels"].to(device), batch["extra"].to(device), model.config.num_classes)
    return image, mask, model.encode(image, mask)


def reconstruct_batch(
    model: SEANModel, batch: dict[str, Tensor], device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """A batch's zero-noise reconstruction -> (image, mask, codes [B, K, S], recon, noise)."""
    image, mask, codes = encode_batch(model, batch, device)
    noise = model.generator.zero_noise(image.shape[0], device)
    return image, mask, codes, model.generate(mask, codes, noise), noise


@torch.no_grad()
def evaluate_model(
    model: SEANModel,
    source: SampleSource,
    batch_size: int = 16,
    limit: int | None = None,
    device: torch.device | str = "cpu",
    desc: str = "eval",
    progress: bool = True,
) -> dict[str, Any]:
    """All measures of one model (eval mode, zero noise) on the first `limit` samples of a source.

    `device` may be "auto"; one PyTorch cannot use is a DeviceError (one line), before the model moves.
    """
    device = usable_device(str(device))
    model = model.to(device).eval()
    k = model.config.num_classes
    totals = {"psnr": 0.0, "ssim": 0.0, "rmse": 0.0}
    images = 0
    colour_sum, regions = 0.0, 0
    style_details, recon_details = [], []  # per measured (image, class), in 0..255
    inside_sum, outside_sum, swaps = 0.0, 0.0, 0
    transfer_sum, transfers = 0.0, 0
    count = len(source) if limit is None else min(limit, len(source))
    bar = progress_bar(total=count, desc=desc, unit="img", disable=not progress, leave=False)
    for batch in iterate_batches(source, batch_size, limit):
        image, mask, codes, recon, noise = reconstruct_batch(model, batch, device)
        if not torch.isfinite(recon).all():
            raise NonFiniteError(
                f"{desc}: the model's reconstructions hold NaN or infinite values (images {images}..): its weights "
                f"are broken; evaluate an earlier checkpoint"
            )
        b, _, h, w = image.shape
        real255, recon255 = to_255(image), to_255(recon)
        for name, fn in (("psnr", psnr_255), ("ssim", ssim), ("rmse", rmse)):
            totals[name] += fn(recon255, real255).sum().item()
        errors, present = region_colour_error(recon255, real255, mask[:, :k])
        colour_sum += errors[present].sum().item()
        regions += int(present.sum().item())
        real_detail, measured = region_detail(real255, mask[:, :k])
        recon_detail, _ = region_detail(recon255, mask[:, :k])
        style_details.append(real_detail[measured].cpu())
        recon_details.append(recon_detail[measured].cpu())

        if count >= 2:  # image i's partner is the next one of the whole split, whatever the batch size
            following = encode_batch(model, load_batch(source, [(images + b) % count]), device)
            p_image, p_mask, p_codes = (torch.cat([mine[1:], theirs]) for mine, theirs in
                                        zip((image, mask, codes), following, strict=True))
            area = torch.cat([code_area(model, mask, h, w), code_area(model, p_mask, h, w)])  # [2B, K]
            partner = torch.arange(b) + b  # rows of `area` and of the codes below
            _, chosen = choose_swaps(mask[:, :k].cpu(), area.cpu(), offset=images, partner=partner)
            rows = torch.nonzero(chosen >= 0).flatten()
            if rows.numel():
                swapped_codes = swap_codes(torch.cat([codes, p_codes]), partner.to(device), chosen)[:b]
                swapped = model.generate(mask, swapped_codes, noise)
                region = mask[rows.to(device), chosen[rows].to(device)] > 0  # [n, H, W]
                inside, outside = change_inside_outside(recon[rows] * 127.5, swapped[rows] * 127.5, region)
                inside_sum += inside.sum().item()
                outside_sum += outside.sum().item()
                swaps += rows.numel()

            classes = mask[:, :k]
            taken = transfer_classes(classes, area, partner.to(device))
            if taken.any():
                mixed = torch.where(taken[:, :, None], p_codes, codes)
                result255 = to_255(model.generate(mask, mixed, noise))
                error, pairs = transfer_colour_error(result255, classes, to_255(p_image), p_mask[:, :k], taken)
                transfer_sum += error
                transfers += pairs
        images += b
        bar.update(b)
    bar.close()
    if images == 0:
        raise DatasetError("the evaluation split has no samples")
    # None (n/a in the table) where a split of one image, or one without shared classes, allows no swap
    inside_mean = inside_sum / swaps if swaps else None
    outside_mean = outside_sum / swaps if swaps else None
    ratio, ratio_note = locality_ratio(inside_mean, outside_mean)
    return {
        "images": images,
        "psnr_db": totals["psnr"] / images,
        "ssim": totals["ssim"] / images,
        "rmse": totals["rmse"] / images,
        "region_colour_error": colour_sum / max(regions, 1),
        "regions": regions,
        "texture": texture_measures(torch.cat(style_details), torch.cat(recon_details)),
        "locality": {
            "swaps": swaps,
            "change_inside": inside_mean,
            "change_outside": outside_mean,
            "ratio": ratio,
            "ratio_note": ratio_note,
        },
        "transfer": {"regions": transfers, "colour_error": transfer_sum / transfers if transfers else None},
    }


NO_SWAP = "no swap was possible (a split of one image, or no two neighbouring images sharing a class)"
STYLES_IGNORED = "the swapped region's own change is below one grey level: the model ignores its styles"
MIN_LOCALITY_CHANGE = 1.0  # grey levels (0..255): below it, inside and outside are rounding noise alike


def locality_ratio(inside: float | None, outside: float | None) -> tuple[float | None, str | None]:
    """The locality ratio inside / outside, or None with why it does not apply: no swap, or a change inside
    the swapped region below MIN_LOCALITY_CHANGE (its quotient with the change outside divides noise by noise,
    and would rank a model that ignores its styles anywhere from 0 to thousands)."""
    if inside is None or outside is None:
        return None, NO_SWAP
    if inside < MIN_LOCALITY_CHANGE:
        return None, STYLES_IGNORED
    return inside / max(outside, 1e-12), None


def texture_measures(style: Tensor, recon: Tensor) -> dict[str, float]:
    """Region detail (metrics.region_detail) of the reconstructions against the style images, per (image,
    class) pair [N]: the means, their ratio, the mean absolute error, and the correlation across pairs
    (does a region come out more textured where its style image is: a model that carries texture in the
    codes follows it; 0 when either side is constant)."""
    n = style.numel()
    spread = style.std() * recon.std() if n > 1 else torch.zeros((), dtype=style.dtype)
    covariance = ((style - style.mean()) * (recon - recon.mean())).mean() * n / max(n - 1, 1)
    return {
        "regions": n,
        "style_detail": style.mean().item() if n else 0.0,
        "reconstruction_detail": recon.mean().item() if n else 0.0,
        "ratio": (recon.sum() / style.sum().clamp(min=1e-12)).item(),
        "error": (recon - style).abs().mean().item() if n else 0.0,
        "correlation": (covariance / spread).item() if spread > 0 else 0.0,
    }


def training_seed(model_dir: Path) -> tuple[int, float]:
    """(seed, init gain) the model was trained from, recorded in its config.json (else 0, 0.02)."""
    _, meta = read_config(model_dir)
    train = (meta.get("extra") or {}).get("training", {}).get("train", {})
    return int(train.get("seed", 0)), float(train.get("init_gain", 0.02))


def _or_na(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def evaluation_table(results: dict[str, dict[str, Any]]) -> str:
    """Rows = measures, columns = models (e.g. untrained, trained)."""
    measures = [
        ("PSNR (dB, higher better)", lambda r: f"{r['psnr_db']:.2f}"),
        ("SSIM (higher better)", lambda r: f"{r['ssim']:.4f}"),
        ("RMSE (0..255, lower better)", lambda r: f"{r['rmse']:.2f}"),
        ("region colour error (0..255, lower better)", lambda r: f"{r['region_colour_error']:.2f}"),
        ("region texture: detail, reconstruction / style image (1 = as much)",
         lambda r: f"{r['texture']['ratio']:.2f}"),
        ("region texture: detail error (0..255, lower better)", lambda r: f"{r['texture']['error']:.2f}"),
        ("region texture: correlation with the style image's (higher better)",
         lambda r: f"{r['texture']['correlation']:.2f}"),
        ("swap: change inside region (0..255)", lambda r: _or_na(r["locality"]["change_inside"], ".2f")),
        ("swap: change outside region (0..255)", lambda r: _or_na(r["locality"]["change_outside"], ".3f")),
        ("swap locality ratio inside/outside (higher better)",
         lambda r: _or_na(r["locality"]["ratio"], ".1f") + ("*" if r["locality"]["ratio_note"] else "")),
        ("transfer from another layout: region colour error (0..255, lower better)",
         lambda r: _or_na(r["transfer"]["colour_error"], ".2f")),
    ]
    names = list(results)
    table = format_table(["measure", *names], [[label, *(fmt(results[n]) for n in names)] for label, fmt in measures])
    notes = [f"* {name}: the locality ratio does not apply: {results[name]['locality']['ratio_note']}"
             for name in names if results[name]["locality"]["ratio_note"]]
    return "\n".join([table, *notes])
