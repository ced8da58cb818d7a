"""`sean train`: start or resume a training run (one process, or several through torchrun)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import torch

from sean_core.checkpoint_files import TRAINING_JSON, latest_checkpoint, model_folder_kind, resume_command
from sean_core.command import RUN_CONFIG, THREADS, SeanCommand
from sean_core.cpu import BF16_UNITS
from sean_core.domains import Domain
from sean_core.errors import DatasetError, SeanError
from sean_core.files import atomic_write_json, file_lock, inside_input_problem, make_dirs, read_json
from sean_train.checkpoint import CheckpointError
from sean_train.config import ONLY_UNIFIED_EXPORTS, STYLE_ENCODERS, ConfigError
from sean_train.data import BatchOrder, TrainingSamples, missing_data_problem, training_data
from sean_train.distributed import (
    DistInfo,
    cleanup,
    continues,
    from_environment,
    gather,
    join,
    outlive_the_launchers_stop,
    peer_problem,
    process_device,
    usable_device,
)
from sean_train.train_config import (
    AMP_MODES,
    VGG_WEIGHTS_ENV,
    RunConfig,
    bind_domain,
    load_run_config,
    meaning_changes,
)

if TYPE_CHECKING:
    from sean_train.trainer import Trainer

RUN_FILE = "run.json"
LOCK_FILE = ".lock"  # held (fcntl.flock) by the process that trains the run
DEVICES = ("auto", "cpu", "cuda")


def check_vgg_weights(config: RunConfig) -> None:
    """Stop at start-up, before any work, when the perceptual loss has no weights file."""
    tc = config.train
    if tc.lambda_vgg <= 0:
        return
    path = tc.resolve_vgg_weights()
    if path is None or not path.is_file():
        where = f"{path} does not exist" if path else "no VGG19 weights file is configured"
        raise click.ClickException(
            f"lambda_vgg is {tc.lambda_vgg} but {where}. The perceptual loss needs torchvision's ImageNet "
            f"VGG19 weights (e.g. vgg19-dcbb9e9d.pth, .pth or .safetensors; nothing is downloaded): set "
            f"train.vgg_weights in the config or the environment variable {VGG_WEIGHTS_ENV}=/path/to/file, "
            f"or set train.lambda_vgg: 0 to train without it."
        )


@dataclass(frozen=True)
class RunFile:
    """run.json: the run's config, its dataset folder, and the runtime settings it was started with."""

    config: RunConfig
    data: str | None
    config_file: str | None
    threads: int | None
    device: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "data": self.data,
            "config_file": self.config_file,
            "runtime": {"threads": self.threads, "device": self.device},
        }


def read_run(run_dir: Path) -> RunFile:
    """run.json of a run folder, every field checked (ConfigError names the file)."""
    require_run_file(run_dir)
    path = run_dir / RUN_FILE
    fix = "restore it from a backup, or start a new run with --config"
    meta = read_json(path, ConfigError, fix)
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ConfigError(f"{path} has no \"config\" section; {fix}")
    data, config_file = meta.get("data"), meta.get("config_file")
    runtime = meta.get("runtime", {})  # absent in runs started before runtime settings were recorded
    if not isinstance(runtime, dict):
        raise ConfigError(f"{path}: \"runtime\" must be a mapping of threads and device; {fix}")
    threads, device = runtime.get("threads"), runtime.get("device", "auto")
    if not all(value is None or isinstance(value, str) for value in (data, config_file)):
        raise ConfigError(f"{path}: \"data\" and \"config_file\" must be paths or null; {fix}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{path}: runtime.threads is {threads!r:.40}, not a positive integer or null; {fix}")
    if device not in DEVICES:
        raise ConfigError(f"{path}: runtime.device is {device!r:.40}, not one of {', '.join(DEVICES)}; {fix}")
    return RunFile(RunConfig.from_dict(meta["config"], source=str(path)), data, config_file, threads, device)


def require_run_file(run_dir: Path) -> None:
    """Refuse a --resume folder without run.json, naming what it is instead: a model checkpoint folder (one of
    a run's, or a published one) holds no optimizer state to continue from."""
    if (run_dir / RUN_FILE).is_file():
        return
    if model_folder_kind(run_dir) == "model checkpoint":
        run = run_dir.parent.parent
        if (run / RUN_FILE).is_file():
            raise click.ClickException(
                f"{run_dir} is a checkpoint of the run {run}, not a run folder: continue the run with "
                f"`{resume_command(run)}`"
            )
        raise click.ClickException(
            f"{run_dir} is a model checkpoint folder, not a run folder: it holds no optimizer state to continue "
            f"from; start a new run with --config"
        )
    raise click.ClickException(f"{run_dir} is not a run folder ({RUN_FILE} is missing); start one with --config")


@contextmanager
def named_errors() -> Iterator[None]:
    """Under torchrun every process prints its own errors: those of a process other than 0 start with its
    name (DistInfo.name), so that an error only one process hits (a path missing on its node) is told apart
    from one each process prints."""
    try:
        yield
    except click.ClickException as exc:
        info = from_environment()
        if not info.is_main:  # in front of what click adds to the message too ("Invalid value for '--data': ")
            unnamed = exc.format_message
            exc.format_message = lambda: f"{info.name}: {unnamed()}"  # type: ignore[method-assign]
        raise


class TrainCommand(SeanCommand):
    """SeanCommand whose errors, option errors included, name the process under torchrun (named_errors)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with named_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with named_errors():
            return super().invoke(ctx)


@click.command(cls=TrainCommand)
@click.option("--config", "config_path", type=RUN_CONFIG,
              help="Run YAML file, or a shipped config by name: ade20k, cityscapes, faces, landscapes, shapes.")
@click.option("--data", type=click.Path(exists=True, file_okay=False),
              help="Dataset folder in the domain's layout (none for the generated shapes and "
              "landscapes data: the run generates them).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="New run folder, e.g. runs/NAME.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue this run folder from its latest checkpoint.")
@click.option("--restart", is_flag=True,
              help="With --resume: start a run that was killed before its first checkpoint over from step 0.")
@click.option("--device", type=click.Choice(DEVICES), default=None,
              help="[default: auto; on --resume, the run's own]")
@click.option("--threads", type=THREADS, default=None,
              help="CPU threads per process [default: torch's; on --resume, the run's own].")
@click.option("--style-encoder", type=click.Choice(STYLE_ENCODERS), default=None,
              help="With --config: the config's model.style_encoder replaced (the paper's ablation, docs/paper.md); "
              f"{ONLY_UNIFIED_EXPORTS}.")
@click.option("--amp", type=click.Choice(AMP_MODES), default=None,
              help="With --config: the config's train.amp replaced; bf16 runs the forward passes under bf16 "
              f"autocast, faster than fp32 on GPUs from Ampere on and CPUs with {BF16_UNITS}; other CPUs emulate "
              "it, much slower than fp32. A resumed run keeps its own.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(config_path, data, out_dir, resume_dir, restart, device, threads, style_encoder, amp, quiet) -> None:
    """Train a SEAN model; a run killed at any moment continues exactly with --resume.

    --resume reuses the run's config, dataset folder, --threads and --device unless they are given
    again; settings that change what the run computes are checked against its checkpoint. One process
    trains a run at a time. A new run's config, dataset and device are checked before its folder is made,
    and a start that fails before training removes what it made.

    \b
    Examples:
      sean train --config shapes --out runs/shapes
      sean train --config shapes --style-encoder sean --out runs/shapes-sean  # only unified models export
      sean train --config landscapes --amp bf16 --out runs/landscapes-bf16   # GPUs; CPUs with AVX-512 BF16 or AMX
      sean train --resume runs/shapes
      sean train --config faces --data ~/data/faces --out runs/faces
      torchrun --standalone --nproc_per_node 2 -m sean_train.commands.train --config shapes --out runs/ddp
    """
    if bool(resume_dir) == bool(config_path):
        raise click.UsageError("give either --config (with --out) to start a run, or --resume RUN_DIR")
    if restart and not resume_dir:
        raise click.UsageError("--restart goes with --resume RUN_DIR")
    if config_path and not out_dir:
        raise click.UsageError("--out is required with --config")
    if style_encoder and not config_path:
        raise click.UsageError("--style-encoder goes with --config (a resumed run keeps its own encoder)")
    if amp and not config_path:
        raise click.UsageError("--amp goes with --config (a resumed run keeps its own precision)")
    run_dir = Path(resume_dir or out_dir)
    info = from_environment()
    training = None
    if not resume_dir:  # a new run: its config, data and device are checked before anything is created
        config, domain = bind_domain(new_run_config(config_path, style_encoder, amp))
        problem = missing_data_problem(domain, data)
        if problem is not None:
            raise click.UsageError(problem)
        # the run's checkpoints, sample PNGs and logs among the samples a domain lists: refused, as every
        # command's outputs are (sean_core.files.output_problem)
        problem = inside_input_problem(run_dir, [data])
        if problem is not None:
            raise click.UsageError(f"--out {run_dir} {problem}")
        check_vgg_weights(config)
        usable_device(device or "auto")
        training = training_data(config, domain, data, info.world_size)  # the layout, one batch at least
    if info.enabled:
        # Every process arrives before process 0 makes anything: one that fails its own checks (an option
        # error, a path missing on its node) ends the launch while the others wait here, and torchrun's
        # SIGTERM ends a waiting process at once, so no half-made run folder is left behind.
        with peers_watched(info, lambda: "nothing was trained: run the same command again"):
            join(info, process_device(device or (read_run(run_dir).device if resume_dir else "auto"), info))
    undo: AbstractContextManager = nullcontext()
    if info.is_main:
        if resume_dir:  # before the lock file is made in a folder that is no run
            require_run_file(run_dir)
        if not resume_dir and (run_dir / RUN_FILE).exists():
            raise click.ClickException(already_a_run(run_dir, data, info))
        if not resume_dir:
            undo = removed_on_failure(run_dir, set(os.listdir(run_dir)) if run_dir.is_dir() else None)
        make_dirs(run_dir)
    lock = file_lock(run_dir / LOCK_FILE, f"another process trains {run_dir}") if info.is_main else nullcontext()
    with lock:
        with undo:  # a start that fails before training leaves no run behind that --resume could not continue
            with peers_watched(info, lambda: "nothing was trained: run the same command again"):
                trainer, start, threads = _start(
                    run_dir, config_path, data, bool(resume_dir), restart, device, threads, quiet, info, style_encoder,
                    amp, training,
                )
                check_same_start(trainer, info)
        with peers_watched(info, lambda: continues(run_dir, info)):
            _run(trainer, run_dir, start, threads, info)


@contextmanager
def peers_watched(info: DistInfo, then: Callable[[], str]) -> Iterator[None]:
    """A collective that fails because another process of the run is gone (killed, or stopped by an error
    it printed itself) or silent past the timeout ends this one in a line saying so and what to do next
    (`then`, asked once it failed; peer_problem), not in a traceback from the communication library."""
    try:
        yield
    except Exception as exc:
        problem = peer_problem(exc, info, then)
        if problem is None:
            raise
        outlive_the_launchers_stop()
        raise click.ClickException(problem) from exc


def check_same_start(trainer: Trainer, info: DistInfo) -> None:
    """Every process of a torchrun launch trains the same run: the same settings (a node given another copy of
    the config), the same training set size and the same step. Checked before the first step: weights that
    part ways were otherwise found only at the first checkpoint, and a schedule of another length hangs."""
    facts = gather((trainer.config, trainer.order.num_samples, trainer.step), info)
    config, samples, step = facts[0]
    problems = []
    for rank, (other_config, other_samples, other_step) in enumerate(facts[1:], start=1):
        changes = meaning_changes(other_config, config)
        if other_config.train.checkpoint_every != config.train.checkpoint_every:  # when all checkpoint together
            changes.append(f"train.checkpoint_every: {config.train.checkpoint_every} -> "
                           f"{other_config.train.checkpoint_every}")
        if other_samples != samples:
            changes.append(f"training samples: {samples} -> {other_samples}")
        if other_step != step:
            changes.append(f"step: {step} -> {other_step}")
        if changes:
            problems.append(f"process {rank} ({'; '.join(changes)})")
    if not problems:
        return
    if not info.is_main:  # process 0 names every difference, once
        raise SystemExit(1)
    raise click.ClickException(
        f"the processes of this run differ from process 0: {', '.join(problems)}; give every process the same "
        f"--config, dataset and run folder"
    )


def already_a_run(run_dir: Path, data: str | None, info: DistInfo) -> str:
    """The error for an --out that holds a run: the command that continues it, with --data where this
    command names another dataset folder than the run records (--resume alone would read the recorded one)."""
    other_data = None
    if data is not None:
        try:
            recorded = read_run(run_dir).data
        except (SeanError, click.ClickException):  # a damaged run.json: --resume names that problem itself
            recorded = None
        if recorded is None or Path(recorded).resolve() != Path(data).resolve():
            other_data = data
    return (f"{run_dir} already holds a run: continue it with `{info.resume_command(run_dir, other_data)}` "
            f"or choose another --out")


def removed_on_failure(run_dir: Path, before: set[str] | None) -> AbstractContextManager:
    """_removed_on_failure, with the outermost folder that does not exist yet found now, before the start
    makes `run_dir` and its parents."""
    created = run_dir
    while not created.parent.exists() and created.parent != created.parent.parent:
        created = created.parent
    return _removed_on_failure(run_dir, before, created)


@contextmanager
def _removed_on_failure(run_dir: Path, before: set[str] | None, created: Path) -> Iterator[None]:
    """Remove what the block creates in `run_dir` if it fails: the folder itself when it did not exist
    (`before` None), else only the names it did not hold before. For the start of a new run only, whose
    folder holds nothing of value until training begins; the original error is what the user sees. A new
    folder goes with the parent folders made for it (`created`: a/ of `--out a/b/run` when a/ did not
    exist)."""
    try:
        yield
    except BaseException:  # Ctrl-C during start-up, too
        if before is None:
            shutil.rmtree(created, ignore_errors=True)
        else:
            for name in set(os.listdir(run_dir)) - before if run_dir.is_dir() else ():
                path = run_dir / name
                try:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                except OSError:  # what cannot be removed stays; the start's own error matters more
                    pass
        raise


def new_run_config(config_path: str, style_encoder: str | None = None, amp: str | None = None) -> RunConfig:
    """The run config of a new run, with model.style_encoder and train.amp replaced when given."""
    config = load_run_config(config_path)
    if style_encoder:
        config = replace(config, model=replace(config.model, style_encoder=style_encoder))
    if amp:
        config = replace(config, train=replace(config.train, amp=amp))
    return config


def check_recorded_data(
    run_dir: Path, config: RunConfig, domain: Domain, data: str | None, given: bool, info: DistInfo
) -> tuple[TrainingSamples, BatchOrder]:
    """A resumed run's training set (as `training_data` opens it) is there, before run.json is rewritten or
    any work starts. When the dataset folder is the one run.json records (no --data given), the error names
    how to give another (with --restart where the run has no checkpoint, which --resume alone would stop at
    next)."""
    problem = missing_data_problem(domain, data)
    if problem is not None:
        raise click.UsageError(f"{run_dir}: {problem}")
    try:
        return training_data(config, domain, data, info.world_size)
    except DatasetError as exc:
        if given:
            raise
        raise DatasetError(
            f"{exc}; that is the dataset folder {run_dir / RUN_FILE} records: give the right one with "
            f"`{info.resume_command(run_dir, 'DIR')}`"
        ) from exc


def check_checkpoint_data(run_dir: Path, num_samples: int) -> None:
    """The training set of a resume has as many samples as the latest checkpoint was trained on, checked
    before run.json is rewritten (Trainer.resume checks it again; a damaged training.json is its to name)."""
    from sean_train.trainer import check_trained_on

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return
    try:
        meta = read_json(checkpoint / TRAINING_JSON, CheckpointError, "")
    except CheckpointError:
        return
    if isinstance(meta, dict):
        check_trained_on(run_dir, checkpoint.name, meta, num_samples)


def _start(
    run_dir, config_path, data, resuming, restart, device, threads, quiet, info, style_encoder=None, amp=None,
    training=None,
) -> tuple[Trainer, str, int | None]:
    """Everything before the first training step: run.json written, the trainer built and positioned at its
    checkpoint (or at step 0). `training`: a new run's training set, opened by its checks. Returns the
    trainer, how it starts and the --threads in force, for the start line."""
    from sean_train.trainer import Trainer

    if resuming:
        recorded = read_run(run_dir)
        given = data is not None
        config = recorded.config
        data = str(Path(data).resolve()) if given else recorded.data  # a path that works from any directory
        device = device or recorded.device
        threads = threads if threads is not None else recorded.threads
        run = replace(recorded, data=data, threads=threads, device=device)
    else:
        config = new_run_config(config_path, style_encoder, amp)
        device = device or "auto"
        run = None
    if threads:
        torch.set_num_threads(threads)
    config, domain = bind_domain(config)
    check_vgg_weights(config)
    usable_device(device)
    if resuming:
        training = check_recorded_data(run_dir, config, domain, data, given, info)
        check_checkpoint_data(run_dir, training[1].num_samples)
    if info.is_main:
        if run is None:
            run = RunFile(config, str(Path(data).resolve()) if data else None, str(config_path), threads, device)
        atomic_write_json(run_dir / RUN_FILE, run.to_dict())  # a resume records the settings it now uses
    trainer = Trainer(run_dir, config, domain, data=data, device=device, progress=not quiet, training=training)
    checkpoint = latest_checkpoint(run_dir) if resuming else None
    if checkpoint is not None:
        if restart:
            raise CheckpointError(
                f"--restart: {run_dir} has checkpoints (the latest is {checkpoint.name}); resume without --restart"
            )
        trainer.resume(checkpoint)
        start = f"resuming at step {trainer.step}"
    elif resuming and not restart:
        raise CheckpointError(
            f"{run_dir} has no checkpoint yet (the run stopped before step {config.train.checkpoint_every}), so "
            f"its work is lost: start it over with `{info.resume_command(run_dir)}`"
        )
    else:
        trainer.restart()
        start = "starting over from step 0" if resuming else "starting"
    if info.is_main:
        for note in trainer.notes:
            click.echo(f"note: {note}", err=True)
    return trainer, start, threads


def _run(trainer: Trainer, run_dir: Path, start: str, threads: int | None, info: DistInfo) -> None:
    """Train from where _start put the trainer, to the end of the schedule or a requested stop."""
    config = trainer.config
    if info.is_main:
        threads_note = f", {threads} thread(s)" if threads else ""
        click.echo(
            f"{run_dir}: {start}; {trainer.total_steps} steps ({trainer.order.steps_per_epoch} per epoch), "
            f"batch {config.train.batch_size} over {info.world_size} process(es) on {trainer.device}{threads_note}",
            err=True,
        )
    try:
        step = trainer.run()
    except KeyboardInterrupt:  # a second Ctrl-C: the stop's checkpoint may be half-written (resume removes it)
        if not info.is_main:
            raise
        raise click.ClickException(f"interrupted again while stopping; {continues(run_dir, info)}") from None
    cleanup(info)
    if info.is_main:
        final = latest_checkpoint(run_dir)
        if step < trainer.total_steps:
            click.echo(f"stopped at step {step}; continue with: {info.resume_command(run_dir)}", err=True)
        else:
            click.echo(f"done: {step} steps; model checkpoint {final}; evaluate with: sean eval {run_dir}", err=True)


if __name__ == "__main__":
    train(prog_name="sean train")
