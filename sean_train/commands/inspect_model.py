"""`sean inspect`: a model's facts (config, learned numbers per part, classes) and each SEAN layer's
branch mix, from a checkpoint (loads torch) or a package (its manifest, then its files checked against it as a
load checks them: no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from sean_core.checkpoint_files import WEIGHTS_FILE, refuse_best_outside_run, resolve_model_dir, weights_precision
from sean_core.command import FORCE_HELP, MODEL_FOLDER, SeanCommand, check_output
from sean_core.errors import PackageError
from sean_core.format import (
    MANIFEST_FILE,
    REEXPORT,
    BranchMix,
    branch_mix_from_manifest,
    is_package_or_its_graphs,
    parameters_from_manifest,
)
from sean_core.text_table import format_table
from sean_train.commands import no_verify_option, which_option

# The model_config keys shown in the facts, in this order (the rest is in config.json / the manifest).
SHOWN_CONFIG = ("domain", "style_encoder", "num_classes", "extra_mask_channels", "style_dim", "ngf", "encoder_ngf",
                "spade_hidden", "height", "width", "layout")


@dataclass(frozen=True)
class ModelFacts:
    """What `sean inspect` shows; parameters / mix are None for a package exported before they were recorded."""

    kind: str  # "checkpoint" or "package"
    path: Path
    config: dict[str, Any]
    class_names: tuple[str, ...]
    parameters: dict[str, int] | None
    mix: tuple[BranchMix, ...] | None
    step: int | None = None  # a checkpoint's training step, when its config.json records one
    training: dict[str, Any] | None = None  # the training config its run recorded (extra.training)
    weights: str | None = None  # a checkpoint's stored weights precision (weights_precision): "fp32", "fp16", ...
    weights_bytes: int | None = None  # the size of a checkpoint's WEIGHTS_FILE

    def weights_text(self) -> str | None:
        """ "fp16, 5.8 MB" for a checkpoint, None for a package."""
        if self.weights is None or self.weights_bytes is None:
            return None
        return f"{self.weights}, {self.weights_bytes / 1e6:.1f} MB"


def package_facts(root: Path, manifest: dict[str, Any]) -> ModelFacts:
    """The facts a package's manifest (read_manifest(root)) records (sean_core.format), without torch."""
    try:
        parameters, mix = parameters_from_manifest(manifest), branch_mix_from_manifest(manifest)
    except ValueError as exc:
        raise PackageError(f"{root / MANIFEST_FILE}: {exc}; {REEXPORT}") from exc
    config = manifest.get("model_config")
    return ModelFacts("package", root, config if isinstance(config, dict) else {},
                      tuple(map(str, manifest.get("class_names") or ())), parameters, mix)


def checkpoint_facts(path: Path, which: str, verify: bool) -> ModelFacts:
    """The facts of a checkpoint folder (or a run folder's latest / best checkpoint), from its weights."""
    from sean_train.checkpoint import load_checkpoint

    model_dir = resolve_model_dir(path, which)
    return model_facts(model_dir, load_checkpoint(model_dir, verify_hash=verify))


def model_facts(model_dir: Path, model: Any) -> ModelFacts:
    """The facts of checkpoint folder `model_dir` whose model (load_checkpoint) is `model`: what `sean inspect`
    shows and the model card of `sean publish` says."""
    from sean_train.checkpoint import read_config
    from sean_train.model_report import branch_mix, parameter_counts

    config = model.config
    extra = read_config(model_dir)[1].get("extra") or {}
    step, training = extra.get("step"), extra.get("training")
    return ModelFacts("checkpoint", model_dir, config.to_dict(), config.class_names, parameter_counts(model),
                      tuple(branch_mix(model)), step=step if isinstance(step, int) else None,
                      training=training if isinstance(training, dict) else None,
                      weights=weights_precision(model_dir), weights_bytes=(model_dir / WEIGHTS_FILE).stat().st_size)


def facts_text(facts: ModelFacts) -> str:
    """The printed report: config, classes, learned numbers per part, the branch-mix table."""
    config = {"style_encoder": "unified", **facts.config}  # configs older than the field are unified
    lines = [f"{facts.kind} {facts.path}"]
    lines += [f"  {key}: {config[key]}" for key in SHOWN_CONFIG if key in config]
    if facts.weights_text() is not None:
        lines.append(f"  weights: {facts.weights_text()}")
    if facts.step is not None:
        lines.append(f"  training step: {facts.step}")
    names = ", ".join(facts.class_names) if facts.class_names else "not named"
    lines.append(f"  classes ({config.get('num_classes', len(facts.class_names))}): {names}")
    if facts.parameters is None:
        lines.append(f"\nlearned numbers per part: not recorded in this package; {REEXPORT}")
    else:
        total = sum(facts.parameters.values())
        rows = [[part, f"{count:,}", f"{100 * count / max(total, 1):.1f}%"] for part, count in facts.parameters.items()]
        lines += ["", format_table(["part", "parameters", "share"], [*rows, ["total", f"{total:,}", "100.0%"]])]
    if facts.mix is None:
        lines.append(f"\nbranch mix: not recorded in this package; {REEXPORT}")
    else:
        rows = [[row.layer, f"{row.alpha_gamma:.3f}", f"{row.alpha_beta:.3f}"] for row in facts.mix]
        lines += ["", "branch mix of each SEAN layer with a style branch (alpha: the style branch's share, "
                  "1 - alpha: the mask branch's)",
                  format_table(["layer", "alpha_gamma", "alpha_beta"], rows)]
    return "\n".join(lines)


@click.command(cls=SeanCommand)
@click.argument("path", type=MODEL_FOLDER)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw the branch mix as a PNG: a pie pair (alpha_gamma, alpha_beta) per SEAN layer.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@which_option("inspect")
@no_verify_option
def inspect_model(path, plot_path, force, which, no_verify) -> None:
    """Config, classes, learned numbers per part and each SEAN layer's branch mix (the alpha_gamma,
    alpha_beta that weigh its style branch against its mask branch) of a model.

    PATH is a package (read without torch; its files are checked against the manifest as a load checks
    them), a run folder, a model checkpoint folder, or the name of a shipped model (landscapes, shapes).

    \b
    Examples:
      sean inspect shapes
      sean inspect shapes --plot branch_mix.png
      sean inspect runs/shapes --which best
      sean inspect packages/shapes
    """
    path = Path(path)
    if plot_path:
        check_output(plot_path, "--plot", [path], force, suffixes=(".png",))
    manifest = None
    if is_package_or_its_graphs(path):  # one without its manifest is named as an incomplete package
        from sean_runtime.package import read_manifest

        refuse_best_outside_run(path, which)
        manifest = read_manifest(path)
        facts = package_facts(path, manifest)
    else:
        facts = checkpoint_facts(path, which, verify=not no_verify)
    click.echo(facts_text(facts))
    if manifest is not None:  # the facts are the manifest's; what runs is its files: checked as a load does
        from sean_runtime.package import load_package

        load_package(path, manifest=manifest)
    if plot_path:
        if not facts.mix:
            raise click.ClickException(f"{path} records no branch mix to plot; {REEXPORT}")
        from sean_train.branch_plot import write_branch_mix_plot

        title = f"SEAN branch mix: {facts.path.name} ({facts.config.get('domain') or 'no domain'})"
        click.echo(f"wrote {write_branch_mix_plot(plot_path, facts.mix, title, exclusive=not force)}")
