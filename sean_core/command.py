"""What every `sean` subcommand shares: one-line errors instead of tracebacks, install hints for extras.

Subcommands are declared with `@click.command(cls=SeanCommand)`: a SeanError (bad input, a broken
file, a missing backend) ends the command with its one-line message, and a missing optional
dependency with the extra that provides it. No command lists exception types of its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from sean_core.errors import NotFoundError, SeanError
from sean_core.files import output_problem, shown_path
from sean_core.install import extra_of, missing_module_message
from sean_core.shipped import find_config, find_model


def missing_dependency(command: str, exc: ModuleNotFoundError) -> Exception:
    """A one-line install hint for a missing optional dependency; other import errors pass through."""
    if extra_of(exc.name or "") is None:
        return exc
    return click.ClickException(missing_module_message(exc.name or "", f"`sean {command}`"))


class SeanCommand(click.Command):
    """A click command that shows the project's errors as one line (exit 1), never as a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_empty_paths(self, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SeanError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # a path the OS refuses to look up (a name too long, ...) where no check names it
            if exc.filename is None or not exc.strerror:
                raise
            raise click.ClickException(f"{shown_path(exc.filename)}: {exc.strerror}") from exc
        except ModuleNotFoundError as exc:
            hint = missing_dependency(self.name or ctx.info_name or "?", exc)
            if hint is exc:
                raise
            raise hint from exc


def refuse_empty_paths(command: click.Command, args: list[str]) -> None:
    """A path option given as "" (`-o "$OUT"` with OUT unset) is a usage error: click reads it as ".", the
    current folder, where `sean synth -o ""` wrote its images and export named the output "-o ."."""
    names = {name for param in command.params if isinstance(param, click.Option)
             and isinstance(param.type, (click.Path, Shipped)) for name in param.opts}
    for index, arg in enumerate(args):
        option, equals, value = arg.partition("=")
        if option in names and ((equals and not value) or (not equals and index + 1 < len(args)
                                                            and args[index + 1] == "")):
            raise click.UsageError(f"{option} is empty (an unset shell variable?); name the path", ctx=None)


def check_output(
    path: str | Path,
    option: str,
    inputs: Iterable[str | Path | None] = (),
    force: bool = False,
    suffixes: tuple[str, ...] = (),
    folder: bool = False,
) -> Path:
    """An output path of a command (--json, --plot, -o), checked before the work starts by the rules of
    sean_core.files.output_problem; a path that breaks one is a usage error (exit 2), one line naming the
    option. Write the file afterwards with an atomic_write helper, exclusive=not force, so that a file made
    by another process meanwhile is not replaced either."""
    problem = output_problem(path, inputs, force, suffixes, folder)
    if problem is not None:
        raise click.UsageError(f"{option} {path} {problem}")
    return Path(path)


FORCE_HELP = "Replace an existing output file (inputs are never replaced)."


class Shipped(click.ParamType):
    """A path, or the name of something shipped (`shapes`), from any directory: a model checkpoint folder
    (find_model) or a run config file (find_config). Converts to a Path (folder) or a str (file)."""

    def __init__(self, name: str, find: Any, folder: bool, expected: str) -> None:
        self.name, self.find, self.folder, self.expected = name, find, folder, expected

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        try:
            path = self.find(value)
        except NotFoundError as exc:
            self.fail(str(exc), param, ctx)
        if path.is_dir() != self.folder:
            kind = "folder" if path.is_dir() else "file"
            self.fail(f"{value} is a {kind}; expected {self.expected} (or a shipped {self.name}'s name)", param, ctx)
        return path if self.folder else str(path)


MODEL_FOLDER = Shipped("model", find_model, folder=True, expected="a model checkpoint folder")
RUN_CONFIG = Shipped("config", find_config, folder=False, expected="a run config YAML file")

PACKAGE = click.Path(file_okay=False, path_type=Path)
"""A package folder argument. Not click's exists=True: load_package checks the folder and says how to make
one, and puts back a package that an export killed while replacing it had set aside."""


class Count(click.IntRange):
    """A count option (threads, batch sizes, requests, samples, ...): a whole number from `low` to `high`.

    Every count option of every `sean` command takes this type, so none is unbounded: a slip such as
    `--threads 100000` is a one-line usage error at once, not minutes of thread start-up and gigabytes.
    `why` says where the upper bound comes from, with the error.
    """

    name = "integer"

    def __init__(self, low: int, high: int, why: str = "") -> None:
        super().__init__(low, high)
        self.why = why

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = click.INT.convert(value, param, ctx)
        if not self.min <= number <= self.max:
            why = f" ({self.why})" if self.why else ""
            self.fail(f"{number} is not in the range {self.min}..{self.max}{why}", param, ctx)
        return number


class Counts(click.ParamType):
    """A comma-separated list of counts, each a Count from `low` to `high` ("1,4,8" -> [1, 4, 8])."""

    name = "counts"

    def __init__(self, low: int, high: int) -> None:
        self.count = Count(low, high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            parts = [part.strip() for part in str(value).split(",") if part.strip()]
        if not parts:
            self.fail(f"expected counts separated by commas like 1,2,4,8, got {value!r}", param, ctx)
        try:
            return [self.count.convert(part, param, ctx) for part in parts]
        except click.BadParameter as exc:
            self.fail(f"{value!r}: {exc.message}", param, ctx)


class Amount(click.FloatRange):
    """A real-number option (seconds, megabytes, weights) from `low` to `high`; nan and inf are refused
    (a nan passes every comparison with a bound, so FloatRange alone would take it)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


THREADS_PER_CPU = 4  # intra-op threads beyond a few per CPU only wait on each other (the run slows, never speeds up)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks (macOS, Windows)
        return os.cpu_count() or 1


THREADS = Count(
    1, THREADS_PER_CPU * usable_cpus(), f"at most {THREADS_PER_CPU} per CPU; this machine lets it use {usable_cpus()}"
)
"""--threads of every command: CPU threads for a backend or torch, at most THREADS_PER_CPU per usable CPU."""
