"""A termination signal ending a command as Ctrl-C does, so that its cleanup runs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import click

# Set in the environment of a `sean` child process whose parent prints the one line of a stop (`sean demo`'s
# export): the child ends on a stop with its exit status alone, so that the user reads that line once.
STOP_SAID_BY_PARENT = "SEAN_STOP_SAID_BY_PARENT"


def stop_said_by_parent() -> bool:
    """Whether this process is a `sean` child whose parent says what a stop left (STOP_SAID_BY_PARENT)."""
    return os.environ.get(STOP_SAID_BY_PARENT) == "1"


def child_environment() -> dict[str, str]:
    """The environment of a `sean` child process whose stop this process reports in its own line."""
    return {**os.environ, STOP_SAID_BY_PARENT: "1"}


class StoppedError(click.ClickException):
    """The one line of a command ended by Ctrl-C, SIGTERM or SIGHUP (exit 1); unsaid in a child whose
    parent says its own (stop_said_by_parent)."""

    def show(self, file: object = None) -> None:
        if not stop_said_by_parent():
            super().show(file)


def heeded(signals: Iterable[signal.Signals]) -> list[signal.Signals]:
    """`signals` less those this process ignores: an ignored signal stays ignored, as `nohup sean ...` must
    outlive the terminal it was started from (its SIGHUP ignored)."""
    return [sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN]


@contextmanager
def stopped_on_sigterm() -> Iterator[None]:
    """SIGTERM or SIGHUP (`timeout`, a job scheduler's cancel, `docker stop`, a closed terminal) raise
    KeyboardInterrupt inside the block, as Ctrl-C does, so that its finally blocks run: Python's default
    for these signals ends the process at once (a `sean bench-serve` left its servers running, a `sean
    export` its half-built package folder)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in heeded((signal.SIGTERM, signal.SIGHUP))}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def stopped_saying(line: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP in the block end its command with the one line line() (exit 1), which says
    what is left: click's "Aborted!" said nothing, and the signals ended the process without its cleanup."""
    try:
        with stopped_on_sigterm():
            yield
    except KeyboardInterrupt:
        raise StoppedError(line()) from None


def stopped_cleanly(command: str, thing: str, out: Path) -> AbstractContextManager[None]:
    """The block of a command that builds the folder `out` beside it and moves it in whole (building_folder):
    Ctrl-C, SIGTERM or SIGHUP end it with one line saying that nothing half-written is left (click's
    "Aborted!" said nothing; the signals left the build folder until the next run)."""
    kept = as_it_was(thing, out)
    return stopped_saying(lambda: f"{stopped(command)} before the {thing} was complete; {kept}")


def as_it_was(thing: str, out: Path) -> str:
    """What a command stopped before it changed `out` left there (read before it starts)."""
    earlier = out.is_dir() and any(out.iterdir())
    return f"the earlier {thing} in {out} is as it was" if earlier else f"nothing was written to {out}"


def stop_child(process: subprocess.Popen, timeout_s: float) -> int | None:
    """Stop a child process as a process manager does: SIGTERM (it runs its own cleanup), then SIGKILL if it
    has not exited within timeout_s or a second Ctrl-C comes meanwhile (re-raised). -> its exit code, None
    when it had to be killed."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    except KeyboardInterrupt:
        process.kill()
        process.wait()
        raise


def stopped(command: str) -> str:
    """The start of every line that says a command ended on Ctrl-C, SIGTERM or SIGHUP."""
    return f"{command} stopped (Ctrl-C or a termination signal)"


def stopped_before_serving(command: str) -> str:
    """The one line of a server (`sean serve`) stopped at any moment before it served: an operator's stop
    during start-up is a normal end (exit 0), not a failure."""
    return f"{stopped(command)} before serving"


def exit_now(code: int) -> None:
    """End the process at once with `code`, its output flushed: for a stop while a thread still runs native
    code that cannot be interrupted (a package load); a normal exit would wait for that thread or tear the
    interpreter down under it."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said on it
            pass
    os._exit(code)
