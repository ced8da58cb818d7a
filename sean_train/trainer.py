"""The SEAN training loop: one generator step, then one discriminator step, per batch.

Exact resume: the weights, both Adam states and the step counter are checkpointed; the data order,
flips and per-step noise are pure functions of (seed, step, process), so nothing else is needed to
continue bit for bit. Torch's global RNG state is checkpointed too, for anything that draws from it;
the DataLoader draws from a generator of its own, so a resumed run's whole saved state (not only the
weights) equals an uninterrupted run's.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from sean_core.checkpoint_files import (
    CHECKPOINTS_DIR,
    TRAINING_JSON,
    latest_checkpoint,
    read_best,
    step_dir_name,
)
from sean_core.cpu import BF16_UNITS, cpu_flags, has_bf16_units
from sean_core.domains import DatasetError, Domain
from sean_core.files import atomic_write_text, make_dirs, write_problem
from sean_core.progress import progress_bar
from sean_train import distributed
from sean_train.build import build_discriminator, build_generator, folded_model
from sean_train.config import EXPORTABLE_STYLE_ENCODER, ONLY_UNIFIED_EXPORTS, ConfigError
from sean_train.data import (
    DATA_ERRORS,
    BatchOrder,
    FolderSource,
    ResumableBatchSampler,
    SampleSource,
    TrainingSamples,
    iterate_batches,
    left_out_note,
    make_mask,
    open_source,
    small_crop,
    training_data,
)
from sean_train.losses import VGGLoss, feature_matching_loss, hinge_d_loss, hinge_g_loss, split_fake_real
from sean_train.metrics import psnr_255, to_255
from sean_train.samples import write_sample_grid
from sean_train.state import (
    check_kept_models,
    clean_partial,
    load_training_checkpoint,
    prune,
    restore_training_state,
    save_training_checkpoint,
    write_best,
)
from sean_train.train_config import RunConfig, meaning_changes
from sean_train.vgg import load_vgg19

# Removing the sample instead would change the training set's size, which a resume refuses (check_trained_on).
FIX_SAMPLE = "replace that file with a readable one of the same name"
LOG_FILE = "log.jsonl"
SAMPLES_DIR = "samples"
SAMPLE_ROWS = 4
VAL_METRIC = "val_psnr_db"
NOISE_PHASE_G, NOISE_PHASE_D = 0, 1


def stop_workers(batches: Iterator[Any]) -> None:
    """Stop a DataLoader iterator's worker processes now. A run that ends early (a stop, an unreadable
    sample) leaves the iterator to the garbage collector, and an error's traceback keeps it alive: its
    workers then ran on until some later collection or the interpreter's exit. torch's multiprocessing
    iterator has no public close."""
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


def check_trained_on(run_dir: Path, checkpoint: str, meta: dict[str, Any], num_samples: int) -> None:
    """A resume reads a training set of as many samples as the checkpoint was trained on (its training.json
    `meta`; older versions do not record it): another count changes every epoch's order and the schedule."""
    trained_on = meta.get("train_samples")
    if trained_on is not None and trained_on != num_samples:
        raise DatasetError(
            f"{run_dir}: checkpoint {checkpoint} was trained on {trained_on} training samples, the dataset now "
            f"has {num_samples}: every epoch's order and the learning-rate schedule would change; resume with "
            f"the run's own dataset folder, or start a new run with --config"
        )


def computed_on(device: str, threads: int, world_size: int) -> dict[str, Any]:
    """What a checkpoint records of where it was computed: float sums split by CPU thread and by process,
    so a resume elsewhere continues well but not bit for bit (on a GPU the CPU threads do not compute)."""
    return {"device": device, "world_size": world_size, **({"threads": threads} if device == "cpu" else {})}


def inexact_resume(state: Any, device: str, threads: int, world_size: int) -> list[str]:
    """One line when a resume computes on another device, thread count or process count than its checkpoint
    (recorded by computed_on; older checkpoints record the process count alone)."""
    now = computed_on(device, threads, world_size)
    changed = [f"{key} {state.meta[key]} -> {value}" for key, value in now.items()
               if key in state.meta and state.meta[key] != value]
    if not changed:
        return []
    return [f"checkpoint {state.path.name} was computed with other settings ({', '.join(changed)}): training "
            f"continues, but its weights will not equal an uninterrupted run's bit for bit (resume with the "
            f"checkpoint's --threads, --device and process count for that)"]


def emulated_bf16(amp: str, device: str, flags: Collection[str] | None) -> list[str]:
    """One line when bf16 autocast (TrainConfig.amp) trains on a CPU without bf16 units (cpu_flags `flags`):
    PyTorch then emulates bf16 in fp32, and every step runs much slower than in fp32. The run keeps its
    setting, which a resume must not change; a GPU, and a CPU whose flags are unknown (None), get no line."""
    if amp != "bf16" or device != "cpu" or flags is None or has_bf16_units(flags):
        return []
    return [f"bf16 autocast (train.amp: bf16) is emulated on this CPU, which has no {BF16_UNITS}, and every step "
            f"runs much slower than in fp32: train without --amp (train.amp: off), or on a CUDA GPU or a CPU "
            f"with {BF16_UNITS}"]


def unexportable(style_encoder: str) -> list[str]:
    """One line when the run's model is one that `sean export` will refuse (sean_export.graphs.check_exportable)."""
    if style_encoder == EXPORTABLE_STYLE_ENCODER:
        return []
    return [f"model.style_encoder is {style_encoder!r}: the model trains and evaluates, but {ONLY_UNIFIED_EXPORTS} "
            f"(sean export, sean demo --checkpoint); for a model to export, train with the {EXPORTABLE_STYLE_ENCODER} "
            f"encoder (the default: leave out --style-encoder)"]


def stop_message(signum: int) -> str:
    """What a first SIGINT / SIGTERM is told: the run has not stopped yet, and what a second one costs."""
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    return (f"{name}: stopping at the end of this step, with a checkpoint; {name} again stops at once, and the run "
            f"then continues from its last checkpoint")


class Trainer:
    def __init__(
        self,
        run_dir: str | Path,
        config: RunConfig,
        domain: Domain,
        data: str | Path | None = None,
        device: str = "auto",
        progress: bool = True,
        training: tuple[TrainingSamples, BatchOrder] | None = None,
    ) -> None:
        """`training`: the training set and its order when the caller has opened them already (from
        `training_data` with this config, domain, data and world size), so a start reads the folder once."""
        self.run_dir = Path(run_dir)
        self.config = config
        self.domain = domain
        self.progress = progress
        self.dist = distributed.from_environment()
        if self.dist.is_main:
            self._check_run_folder()
        self.device = distributed.process_device(device, self.dist)
        distributed.join(self.dist, self.device)
        tc = config.train

        self.model = build_generator(config.model, tc.seed, tc.init_gain)
        self.disc = build_discriminator(config.model.mask_channels, config.discriminator, tc.seed, tc.init_gain)
        if self.dist.enabled and self.device.type == "cuda":
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(self.device)
        self.disc.to(self.device)
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=tc.lr_g, betas=tc.betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=tc.lr_d, betas=tc.betas)
        self.vgg_loss = None
        if tc.lambda_vgg > 0:
            self.vgg_loss = VGGLoss(load_vgg19(tc.resolve_vgg_weights())).to(self.device)

        if training is None:
            training = training_data(config, domain, data, self.dist.world_size)
        self.dataset, self.order = training
        self.total_steps = (tc.epochs + tc.epochs_decay) * self.order.steps_per_epoch
        self.constant_steps = tc.epochs * self.order.steps_per_epoch
        # What the user should know about this start: a slow or unexportable setting, no validation, an inexact resume
        self.notes = (emulated_bf16(tc.amp, self.device.type, cpu_flags()) + unexportable(config.model.style_encoder)
                      + small_crop(config))
        self.val_source = self._held_out(data)
        self.step = 0
        self.val_score: float | None = None  # the latest validation PSNR, for the progress line
        self._stop_requested = False
        self._tensorboard = None

    # --- setup ----------------------------------------------------------------------------------
    def _check_run_folder(self) -> None:
        """Everything the run writes can be written, before any work (FileWriteError names the path)."""
        for folder in (self.run_dir, self.run_dir / CHECKPOINTS_DIR, self.run_dir / SAMPLES_DIR):
            make_dirs(folder)
        self._append_log("")

    def _held_out(self, data: str | Path | None) -> SampleSource | None:
        """The "test" split, for picking the best checkpoint and for sample grids (None if absent).

        The samples validation reads are read once here, on the process that validates: one that cannot be
        read would otherwise stop the run at its first checkpoint, hours in, with that checkpoint unsaved.
        Such samples are left out of validation and named in a note, and so is a sample of which one file lacks
        its partner (the training split refuses one: it is listed in full at every start)."""
        h, w = self.config.model.height, self.config.model.width
        count = max(self.config.train.val_samples, SAMPLE_ROWS)
        left_out: list[str] = []
        try:
            source = open_source(self.domain, data, "test", h, w, count, unpaired=left_out)
            if not (self.dist.is_main and isinstance(source, FolderSource)):
                return source
            unpaired = bool(left_out)
            left_out += source.keep_readable(count)
            if left_out:
                self.notes.append(left_out_note(left_out, "held-out 'test'", "validation", unpaired=unpaired))
            if len(source) == 0:
                raise DatasetError("none of its samples can be used" if left_out else "it has no image/label pairs")
            return source
        except DatasetError as exc:  # a dataset without one trains, but the user must know what it lacks
            self.notes.append(
                f"no validation: the held-out 'test' split cannot be read ({exc}); the run trains without "
                f"validation PSNR or best.json, and its sample grids show training images"
            )
            return None

    def resume(self, checkpoint: str | Path) -> None:
        """Load weights, optimiser states, RNG states and the step counter of a training checkpoint.

        Every part is checked first, and so is the run config against the one the checkpoint was
        trained with: a setting that changes the run's meaning (e.g. batch_size) is refused.
        """
        state = load_training_checkpoint(checkpoint)
        source = f"{state.path / TRAINING_JSON} (run_config)"
        changes = meaning_changes(self.config, RunConfig.from_dict(state.meta["run_config"], source=source))
        if changes:
            raise ConfigError(
                f"{self.run_dir}: the run's settings differ from those checkpoint {state.path.name} was trained "
                f"with ({'; '.join(changes)}); these change what the run computes: restore them, or start a new "
                f"run with --config"
            )
        check_trained_on(self.run_dir, state.path.name, state.meta, self.order.num_samples)
        restore_training_state(state, self.model, self.disc, self.opt_g, self.opt_d)
        read_best(self.run_dir)  # checked now, not at the next checkpoint
        check_kept_models(self.run_dir, state.path)
        self.notes += inexact_resume(state, self.device.type, torch.get_num_threads(), self.dist.world_size)
        self.step = state.step
        self.val_score = state.meta.get(VAL_METRIC)
        if self.dist.is_main:
            self._truncate_log(self.step)

    def restart(self) -> None:
        """Start a run that has no checkpoint over from step 0 (its log of lost steps is dropped)."""
        self.step = 0
        if self.dist.is_main:
            self._truncate_log(0)

    # --- the two steps --------------------------------------------------------------------------
    def _noise(self, phase: int, batch: int) -> Tensor:
        """Standard-normal noise for this step, phase and process, from a freshly seeded generator."""
        seed = np.random.SeedSequence([self.config.train.seed, self.step, self.dist.rank, phase])
        generator = torch.Generator().manual_seed(int(seed.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        numel = self.model.generator.noise_layout.numel
        return torch.randn(batch, numel, generator=generator).to(self.device)

    def learning_rate_factor(self, step: int) -> float:
        """1 for the constant epochs, then linear decay towards 0 over the decay epochs."""
        if step < self.constant_steps:
            return 1.0
        decay = self.total_steps - self.constant_steps
        return (self.total_steps - step) / decay

    def autocast(self) -> AbstractContextManager:
        """The forward passes' precision (TrainConfig.amp): bf16 autocast on the training device, or fp32."""
        if self.config.train.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self, batch: dict[str, Tensor], g_net: nn.Module, d_net: nn.Module) -> dict[str, Tensor]:
        tc = self.config.train
        factor = self.learning_rate_factor(self.step)
        for group in self.opt_g.param_groups:
            group["lr"] = tc.lr_g * factor
        for group in self.opt_d.param_groups:
            group["lr"] = tc.lr_d * factor

        image = batch["image"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        mask = make_mask(labels, batch["extra"].to(self.device), self.config.model.num_classes)
        b = image.shape[0]
        pair_mask = torch.cat([mask, mask])

        # Generator step. D runs unwrapped: its weights are not updated here, so nothing to sync.
        self.disc.requires_grad_(False)
        with self.autocast():
            fake = g_net(image, mask, self._noise(NOISE_PHASE_G, b))
            fake_out, real_out = split_fake_real(self.disc(pair_mask, torch.cat([fake, image])), b)
            losses = {
                "g_gan": hinge_g_loss(fake_out),
                "g_feat": feature_matching_loss(fake_out, real_out, tc.lambda_feat),
            }
            if self.vgg_loss is not None:
                losses["g_vgg"] = self.vgg_loss(fake, image) * tc.lambda_vgg
            if tc.lambda_l1 > 0:
                losses["g_l1"] = F.l1_loss(fake, image) * tc.lambda_l1
            g_total = torch.stack([loss.float() for loss in losses.values()]).sum()
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()  # outside autocast, as PyTorch prescribes: the backward ops take the forward's dtypes
        self.opt_g.step()

        # Discriminator step on a fake regenerated with new noise, as the official code does.
        self.disc.requires_grad_(True)
        with self.autocast():
            with torch.no_grad():
                fake = self.model(image, mask, self._noise(NOISE_PHASE_D, b))
            fake_out, real_out = split_fake_real(d_net(pair_mask, torch.cat([fake, image])), b)
            d_fake, d_real = (loss.float() for loss in hinge_d_loss(fake_out, real_out))
        self.opt_d.zero_grad(set_to_none=True)
        (d_fake + d_real).backward()
        self.opt_d.step()

        losses.update({"g_total": g_total, "d_fake": d_fake, "d_real": d_real})
        return {k: v.detach() for k, v in losses.items()}

    # --- the loop -------------------------------------------------------------------------------
    def run(self, until_step: int | None = None) -> int:
        """Train to the end of the schedule (or to `until_step`), checkpointing on the way.

        SIGINT / SIGTERM stop the run cleanly at the next step boundary with a checkpoint.
        Returns the step reached.
        """
        tc = self.config.train
        end = self.total_steps if until_step is None else min(until_step, self.total_steps)
        if self.dist.is_main:
            clean_partial(self.run_dir)
        g_net: nn.Module = self.model
        d_net: nn.Module = self.disc
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # static_graph: the last ResBlk's blending scalars are never used (no style path there,
            # as in the official model), and a static graph lets DDP skip them on every step.
            g_net = DistributedDataParallel(self.model, device_ids=ids, static_graph=True)
            d_net = DistributedDataParallel(self.disc, device_ids=ids)
        self.model.train()
        self.disc.train()
        loader = DataLoader(
            self.dataset,
            batch_sampler=ResumableBatchSampler(self.order, self.step, end, self.dist.rank),
            num_workers=tc.workers,
            pin_memory=self.device.type == "cuda",
            # Its own generator: iter(DataLoader) draws a base seed at every start, which would
            # otherwise advance the global torch RNG once per resume.
            generator=torch.Generator().manual_seed(tc.seed),
        )
        bar = progress_bar(
            total=self.total_steps, initial=self.step, desc="train", unit="step",
            disable=not (self.progress and self.dist.is_main), dynamic_ncols=True,
        )
        previous_handlers = self._install_stop_handlers()
        started, start_step = time.perf_counter(), self.step
        batches = iter(loader)
        try:
            last = time.perf_counter()
            while (batch := self._next_batch(batches)) is not None:
                losses = self.train_step(batch, g_net, d_net)
                self.step += 1
                now = time.perf_counter()
                values = distributed.mean_over_processes(torch.stack(list(losses.values())).float(), self.dist)
                record = {k: round(float(v), 6) for k, v in zip(losses, values.tolist(), strict=True)}
                record["img_per_s"] = round(tc.batch_size / max(now - last, 1e-9), 2)
                last = now
                stop = self._agree_to_stop()
                save = self.step % tc.checkpoint_every == 0 or self.step == end or stop
                folded, score = self._score() if save else (None, None)
                if score is not None:
                    record[VAL_METRIC] = self.val_score = score
                self._log(record)  # before the checkpoint: a kill between the two loses no log line
                rate = tc.batch_size * (self.step - start_step) / max(now - started, 1e-9)
                val = "" if self.val_score is None else f" val {self.val_score:.2f} dB"
                # drawn by update(): a refresh here would write every step into a log file (sean_core.progress)
                bar.set_postfix_str(
                    f"G {record['g_total']:.3f} D {record['d_fake'] + record['d_real']:.3f} {rate:.1f} img/s{val}",
                    refresh=False,
                )
                bar.update(1)
                if self.step % tc.sample_every == 0 or self.step == self.total_steps:
                    self._write_samples()
                if save:
                    self._save(folded, score)
                if stop:
                    break
        except Exception as exc:
            # a peer gone or silent (peers_watched) and weights that differ (check_in_sync) keep SIGTERM ignored
            if self.dist.enabled and (distributed.lost_peer(exc) or isinstance(exc, distributed.WeightsDifferError)):
                distributed.outlive_the_launchers_stop()
                previous_handlers.pop(signal.SIGTERM, None)  # kept ignored by the restore below
            raise
        finally:
            stop_workers(batches)
            bar.close()
            self._restore_handlers(previous_handlers)
            if self._tensorboard:
                self._tensorboard.close()
        return self.step

    def _next_batch(self, batches: Iterator[dict[str, Tensor]]) -> dict[str, Tensor] | None:
        """The next batch, None at the end. A sample that cannot be read (a corrupt file found only now: the
        start checks list the pairs, and decoding them all would take as long as an epoch) stops the run
        as a stop signal would, with a checkpoint of the steps done, so that no work is lost."""
        try:
            return next(batches)
        except StopIteration:
            return None
        except DATA_ERRORS as exc:
            latest = latest_checkpoint(self.run_dir)
            if not self.dist.enabled and self.step > 0 and (latest is None or latest.name != step_dir_name(self.step)):
                latest = self.checkpoint()  # all ranks would have to take part in a distributed one
            if latest is not None and latest.name == step_dir_name(self.step):
                then = f"the steps up to {self.step} are saved: {FIX_SAMPLE}, then continue with"
            elif latest is not None:
                then = f"{FIX_SAMPLE}, then continue from its last checkpoint with"
            else:
                then = f"nothing is saved yet: {FIX_SAMPLE}, then start over with"
            # A DataLoader worker's error arrives with its whole traceback: the error's own line is the last.
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
            reason = lines[-1].removeprefix(f"{type(exc).__module__}.{type(exc).__name__}: ")
            # with --restart where no checkpoint is saved
            command = self.dist.resume_command(self.run_dir)
            raise DatasetError(f"{reason} (reading step {self.step + 1}); {then} `{command}`") from exc

    # --- checkpoints, logs, samples -------------------------------------------------------------
    def checkpoint(self) -> Path | None:
        """Score on held-out data, write a resumable checkpoint, keep the last N and the best."""
        return self._save(*self._score())

    def _score(self) -> tuple[nn.Module | None, float | None]:
        """(folded generator, validation PSNR) on the main process, (None, None) on the others."""
        distributed.check_in_sync({"generator": self.model, "discriminator": self.disc}, self.dist, self.step,
                                  self.run_dir)
        if not self.dist.is_main:
            return None, None
        folded = folded_model(self.model)
        return folded, self._validation_psnr(folded)

    def _save(self, folded: nn.Module | None, score: float | None) -> Path | None:
        path = None
        if self.dist.is_main:
            extra: dict[str, Any] = {
                "run_config": self.config.to_dict(), "train_samples": self.order.num_samples,
                **computed_on(self.device.type, torch.get_num_threads(), self.dist.world_size),
            }
            if score is not None:
                extra[VAL_METRIC] = score
            path = save_training_checkpoint(
                self.run_dir, self.step, self.model, folded, self.disc, self.opt_g, self.opt_d, extra,
                model_extra={"step": self.step, "training": self.config.to_dict()},
            )
            best = read_best(self.run_dir)
            if score is not None and (best is None or score > best["value"] or best["step"] == self.step):
                write_best(self.run_dir, self.step, VAL_METRIC, score)
            prune(self.run_dir, self.config.train.keep_last)
        distributed.barrier(self.dist)
        return path

    @torch.no_grad()
    def _validation_psnr(self, folded: nn.Module) -> float | None:
        count = self.config.train.val_samples
        if self.val_source is None or count == 0:
            return None
        folded = folded.to(self.device)
        total, n = 0.0, 0
        for batch in iterate_batches(self.val_source, self.config.train.batch_size, count):
            image = batch["image"].to(self.device)
            mask = make_mask(batch["labels"].to(self.device), batch["extra"].to(self.device),
                             self.config.model.num_classes)
            recon = folded(image, mask, folded.generator.zero_noise(image.shape[0], self.device))
            total += psnr_255(to_255(recon), to_255(image)).sum().item()
            n += image.shape[0]
        return round(total / n, 4)

    def _write_samples(self) -> None:
        if not self.dist.is_main:
            return
        source = self.val_source if self.val_source is not None else self.dataset.source
        batch = next(iterate_batches(source, SAMPLE_ROWS, SAMPLE_ROWS))
        write_sample_grid(self.run_dir / SAMPLES_DIR / f"step_{self.step:08d}.png", self.model, batch, self.domain)

    def _log(self, record: dict[str, float]) -> None:
        if not self.dist.is_main:
            return
        record = {"step": self.step, "epoch": (self.step - 1) // self.order.steps_per_epoch,
                  "lr_g": self.config.train.lr_g * self.learning_rate_factor(self.step - 1), **record}
        self._append_log(json.dumps(record) + "\n")
        writer = self._tensorboard_writer()
        if writer is not None:
            for key, value in record.items():
                if key != "step":
                    writer.add_scalar(key, value, self.step)

    def _append_log(self, text: str) -> None:
        path = self.run_dir / LOG_FILE
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise write_problem(path, exc) from exc

    def _tensorboard_writer(self):
        if self._tensorboard is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # TensorBoard is optional
                self._tensorboard = False
            else:
                self._tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._tensorboard or None

    def _truncate_log(self, step: int) -> None:
        """Drop log lines of steps after the checkpoint being resumed (they will be redone)."""
        path = self.run_dir / LOG_FILE
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by a kill
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    # --- clean stop -----------------------------------------------------------------------------
    def _install_stop_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}

        def request_stop(signum: int, frame: Any) -> None:
            self._stop_requested = True
            # A second signal falls back to the default behaviour (immediate exit).
            signal.signal(signum, previous.get(signum, signal.SIG_DFL))
            if self.dist.is_main:  # said at once: the step, validation and checkpoint may take minutes
                sys.stderr.write(f"\n{stop_message(signum)}\n")
                sys.stderr.flush()

        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        except ValueError:  # not the main thread: no clean-stop handling
            pass
        return previous

    @staticmethod
    def _restore_handlers(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _agree_to_stop(self) -> bool:
        if not self.dist.enabled:
            return self._stop_requested
        flag = torch.tensor([1.0 if self._stop_requested else 0.0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())
