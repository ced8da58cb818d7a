"""Progress bars of long work: redrawn in place on a terminal, whole lines in a log file.

tqdm redraws its line with a carriage return. Written to a file (`nohup sean train ... > train.log`, a
cluster job's log) that is one ever-growing line holding every update since the start, which `tail`
prints whole and no editor opens comfortably; there the bar is written as one line per update instead,
at most once a LOG_INTERVAL_S.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 60.0  # seconds between the progress lines written to a file

ProgressBar = tqdm  # what progress_bar returns, for annotations


class _LineWriter:
    """A stream for tqdm that turns each redraw ("\\r" + line + padding) into a line of its own."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        for line in text.replace("\r", "\n").split("\n"):
            if line.strip():  # the padding and the blank redraw a closing bar leaves are dropped
                self.stream.write(line.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(*, desc: str, file: TextIO | None = None, **options: Any) -> tqdm:
    """tqdm(desc=desc, **options) writing to `file` (default stderr): redrawn in place on a terminal;
    elsewhere one whole line per update, at most once a LOG_INTERVAL_S (and the first and last state).
    desc is required: the first line, written at creation, stays in a log file, and without a name
    ("  0%| | 0/4") it says nothing of what the work is."""
    options["desc"] = desc
    stream = sys.stderr if file is None else file
    if _is_terminal(stream):
        return tqdm(file=stream, **options)
    options.setdefault("mininterval", LOG_INTERVAL_S)
    # tqdm's monitor thread forces a line once maxinterval (10 s) has passed without one, so slow steps
    # (a training step of seconds) got a line every ~20 s: a line is forced only after a whole interval.
    options.setdefault("maxinterval", options["mininterval"])
    options["leave"] = True  # a line written to a file is not taken back: leave=False would lose the last state
    return tqdm(file=_LineWriter(stream), **options)
