"""`sean eval`: reconstruction and style-control measures of a trained model (and, with --untrained,
of its untrained start, which doubles the time)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import torch

from sean_core.checkpoint_files import CONFIG_FILE, WEIGHTS_FILE, resolve_model_dir
from sean_core.command import FORCE_HELP, MODEL_FOLDER, THREADS, Count, SeanCommand, check_output
from sean_core.domains import DatasetError, get_domain
from sean_core.files import atomic_write_json
from sean_core.shipped import is_shipped
from sean_train.checkpoint import load_checkpoint, read_config
from sean_train.commands import eval_file, no_verify_option, which_option
from sean_train.distributed import usable_device

DEFINITIONS = {
    "psnr_db": "mean over images of PSNR between the image and its reconstruction (uint8 values, peak 255)",
    "ssim": "mean SSIM: 11x11 gaussian window, sigma 1.5, data range 255, per RGB channel, valid positions",
    "rmse": "mean over images of the RMSE, 0..255 units",
    "region_colour_error": "mean over (image, present class) of |mean region colour in the reconstruction - "
    "in the style image|, averaged over R, G, B, 0..255 units",
    "texture": "detail of a region = mean |difference| of neighbouring pixels (right, down; R, G, B averaged; "
    "0..255) over its interior (pixel, right and lower neighbours all of the class); per (image, present class): "
    "style_detail / reconstruction_detail are the means, ratio = reconstruction / style summed over regions "
    "(1: as much texture as the style image, 0: flat), error = mean |reconstruction - style|, correlation = "
    "Pearson correlation of reconstruction and style detail over those pairs",
    "locality": "one class's code swapped with the next image's code for that class (the next of the split, "
    "the last's the first, whatever the batch size); mean absolute change (0..255) inside that region and "
    "outside it; ratio = inside / outside; null where no swap was possible (a split of one image, or no two "
    "neighbouring images sharing a class), the ratio alone null where the change inside is below one grey level "
    "(a model that ignores its styles: noise over noise); ratio_note says why the ratio is null",
    "transfer": "every class covering >= 1% of an image takes the next image's code (a reference with another "
    "layout); colour_error = mean over those (image, class) of |mean region colour in the result - in the "
    "reference's own region|, averaged over R, G, B, 0..255 units; null where no class could be taken",
    "noise": "zero noise, eval mode (BatchNorm running statistics)",
    "untrained": "the same architecture freshly initialised with the run's seed (the training start)",
    "left_out": "the samples of the split that cannot be read (corrupt, sizes that do not fit, values outside the "
    "classes), one line each naming the file: left out of every measure; with --limit N, the first N readable "
    "samples are measured",
}


@click.command(cls=SeanCommand)
@click.argument("path", type=MODEL_FOLDER)
@click.option("--data", type=click.Path(exists=True, file_okay=False),
              help="Dataset folder (default: the one a run folder's run.json records; none for the generated "
              "shapes and landscapes data).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--limit", type=Count(1, 1_000_000), default=None,
              help="Evaluate the first N readable images (default: the whole split; 200 generated for shapes); a "
              "sample that cannot be read is left out and named.")
@which_option("evaluate")
@click.option("--domain", "domain_name", default=None, help="Domain, when the checkpoint does not name one.")
@click.option("--batch-size", type=Count(2, 1024), default=16, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the results: a new .json file outside PATH and --data (--force: replace one). "
              "Default: eval_<split>.json in PATH (for a shipped model eval_<name>_<split>.json in the working "
              "directory), replaced by each run.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--untrained/--no-untrained", default=False, show_default=True,
              help="Also measure the untrained start (the same architecture freshly initialised with the run's "
              "seed): the baseline the trained numbers are compared with. Doubles the time.")
@no_verify_option
@click.option("--threads", type=THREADS, default=None, help="CPU threads.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate(
    path, data, split, limit, which, domain_name, batch_size, device, json_path, force, untrained, no_verify,
    threads, quiet,
) -> None:
    """Reconstruction PSNR / SSIM / RMSE and per-region style control of a model (--untrained: and of its
    untrained start, for comparison).

    PATH is a run folder (its latest or best checkpoint; without --data, the dataset folder the run
    trained on), a model checkpoint folder, or the name of a shipped model (landscapes, shapes).

    \b
    Examples:
      sean eval runs/shapes
      sean eval shapes --limit 100 --untrained
      sean eval runs/faces --data ~/data/faces --which best
    """
    from sean_train.build import build_generator, folded_model
    from sean_train.commands.train import RUN_FILE, read_run
    from sean_train.data import FolderSource, left_out_note, open_source
    from sean_train.evaluate import evaluate_model, evaluation_table, training_seed

    if threads:
        torch.set_num_threads(threads)
    device = usable_device(device)  # before anything loads: a device PyTorch cannot use is one line
    model_dir = resolve_model_dir(path, which)
    recorded = False
    if data is None and (Path(path) / RUN_FILE).is_file():  # a run folder: the dataset it trained on
        data = read_run(Path(path)).data
        if data is not None:
            recorded = True
            click.echo(f"--data {data} (the dataset folder {Path(path) / RUN_FILE} records)", err=True)
    # Checked before the evaluation, which takes minutes. The default file is this command's own result
    # (eval_<split>.json beside the model), replaced by every run; never into the installed package data:
    # a shipped model's results go to the working directory.
    if json_path is not None:
        out = check_output(json_path, "--json", [path, model_dir, data], force, suffixes=(".json",))
    else:
        out = Path(path) / eval_file(split)
        if is_shipped(Path(path)):
            out = Path(f"eval_{Path(path).name}_{split}.json")
        check_output(out, "--json", [model_dir / CONFIG_FILE, model_dir / WEIGHTS_FILE, data], force=True,
                     suffixes=(".json",))
    config, meta = read_config(model_dir)
    name = domain_name or config.domain
    if not name:
        raise click.UsageError("the checkpoint names no domain: pass --domain NAME")
    domain = get_domain(name)
    own = tuple(config.class_names)
    if domain.num_classes != config.num_classes or (own and tuple(domain.class_names) != own):
        raise click.UsageError(
            f"domain {name} has {domain.num_classes} classes ({', '.join(domain.class_names[:4])}, ...), the "
            f"checkpoint's model {config.num_classes}{' (' + ', '.join(own[:4]) + ', ...)' if own else ''}: its "
            f"label maps would mean other classes; evaluate it on the domain it was trained for"
            f"{' (' + config.domain + ')' if config.domain else ''}"
        )
    model = load_checkpoint(model_dir, verify_hash=not no_verify)
    try:
        source = open_source(domain, data, split, config.height, config.width, limit or 200)
    except DatasetError as exc:
        if not recorded:
            raise
        # the folder came from run.json, not from the user: say so, and how to name the one it moved to,
        # as `sean train --resume` does
        raise DatasetError(
            f"{exc}; that is the dataset folder {Path(path) / RUN_FILE} records: give the right one with "
            f"`sean eval {shlex.quote(str(path))} --data DIR`"
        ) from exc
    # Unreadable samples are found before the measures, which take minutes, and left out (named in a note and
    # in the results) rather than stopping the evaluation at the first; the rest is still measured.
    left_out = source.keep_readable(limit or len(source)) if isinstance(source, FolderSource) else []
    if left_out:
        note = left_out_note(left_out, repr(split), "the evaluation", unpaired=False)  # open_source refuses those
        if len(source) == 0:
            raise DatasetError(f"{data} ({split}): no sample can be evaluated: {note}")
        click.echo(f"note: {note}", err=True)
    results = {}
    if untrained:
        seed, gain = training_seed(model_dir)
        start = folded_model(build_generator(config, seed, gain))
        results["untrained"] = evaluate_model(start, source, batch_size, limit, device, "untrained", not quiet)
    results["trained"] = evaluate_model(model, source, batch_size, limit, device, "trained", not quiet)

    unread = f", {len(left_out)} left out: they cannot be read" if left_out else ""
    click.echo(f"{model_dir} on {domain.name} {split} ({results['trained']['images']} images{unread})")
    click.echo(evaluation_table(results))
    atomic_write_json(out, {
        "model": str(model_dir),
        "step": (meta.get("extra") or {}).get("step"),
        "domain": domain.name,
        "split": split,
        "data": str(data) if data else None,
        "results": results,
        "left_out": left_out,
        "definitions": DEFINITIONS,
    }, exclusive=json_path is not None and not force)
    click.echo(f"wrote {out}")
