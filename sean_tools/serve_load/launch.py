"""The servers `sean bench-serve --start PACKAGE` starts: `sean serve PACKAGE` on 127.0.0.1, any free port.

A server is a child process that is always stopped when its block ends, by an error or Ctrl-C too (and,
inside stopped_on_sigterm, by SIGTERM or SIGHUP to bench-serve):
SIGTERM (it drains and exits 0), then SIGKILL if it has not exited within STOP_TIMEOUT_S. Its output
goes to temporary files, not pipes, so a chatty log never blocks it; the URL comes from its ready
line, which it prints once the package is loaded (within START_TIMEOUT_S, or it is stopped).
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from sean_core.errors import BackendError, InputError
from sean_core.interrupts import stop_child

START_TIMEOUT_S = 300.0  # loading a package (sessions, the first run) on a busy machine
STOP_TIMEOUT_S = 60.0  # the drain of requests in flight, then the exit
RESERVED = ("--host", "--port")  # bench-serve chooses these: loopback, a free port


def serve_args(text: str, compared: str | None) -> list[str]:
    """The --serve-args words for every started server; the address and the compared option are bench-serve's."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"--serve-args {text!r}: {exc}") from exc
    if "--help" in words:
        raise InputError("--serve-args: options of `sean serve` to run with, not --help (see `sean serve --help`)")
    taken = [*RESERVED, *([f"--{compared}"] if compared else [])]
    for word in words:
        if word.split("=", 1)[0] in taken:
            raise InputError(f"--serve-args: leave out {word.split('=', 1)[0]} (bench-serve sets it: the servers "
                             "listen on 127.0.0.1, on a free port, and --compare sets the compared option)")
    return words


def check_serve_args(package: Path, args: list[str]) -> None:
    """Parse a server's options as `sean serve` will, before any server starts: a misspelt option or a value
    out of range is one line now, not after the rounds before it."""
    from sean_runtime.commands.serve import serve_command  # the serve extra, which --start needs anyway

    try:
        serve_command.make_context("sean serve", [str(package), "--port", "0", *args])
    except click.ClickException as exc:
        raise InputError(f"`sean serve {shlex.join(args)}`: {exc.format_message()}") from exc


def _tail(stream: IO[bytes]) -> str:
    """The server's one-line error where it printed one, else the end of its output."""
    stream.seek(0)
    lines = stream.read().decode(errors="replace").strip().splitlines()
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    return errors[-1] if errors else " | ".join(lines[-3:]) or "no output"


@contextmanager
def started_server(package: Path, args: list[str]) -> Iterator[str]:
    """`sean serve PACKAGE --host 127.0.0.1 --port 0 ARGS` running for the block -> its URL."""
    command = [sys.executable, "-m", "sean_core.cli", "serve", str(package), "--host", "127.0.0.1", "--port", "0",
               *args]
    shown = "sean serve " + " ".join(shlex.quote(word) for word in command[4:])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            url = _ready_url(process, out, shown, err)
            yield url
        finally:
            code = stop(process)
        if code not in (0, -signal.SIGTERM):
            raise BackendError(f"`{shown}` exited with {code} when stopped: {_tail(err)}")


def _ready_url(process: subprocess.Popen, out: IO[bytes], shown: str, err: IO[bytes]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        out.seek(0)
        match = re.search(rb"http://\S+", out.read())
        if match:
            return match.group(0).decode()
        if process.poll() is not None:
            raise BackendError(f"`{shown}` did not start (exit {process.returncode}): {_tail(err)}")
        time.sleep(0.1)
    raise BackendError(f"`{shown}` printed no URL within {START_TIMEOUT_S:.0f} s: {_tail(err)}")


def stop(process: subprocess.Popen) -> int:
    """SIGTERM -> its exit code; SIGKILL, and the error, when it has not exited within STOP_TIMEOUT_S or a
    second Ctrl-C comes while it drains."""
    code = stop_child(process, STOP_TIMEOUT_S)
    if code is None:
        raise BackendError(f"a server did not exit within {STOP_TIMEOUT_S:.0f} s of SIGTERM: killed")
    return code
