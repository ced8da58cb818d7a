"""Progress bars: redrawn in place on a terminal, whole lines in a log file (sean_core.progress)."""

from __future__ import annotations

import io

from sean_core.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_whole_lines_not_one_line_of_redraws():
    # `sean train > train.log` wrote every step's redraw after a "\r": one line as long as the run
    log = io.StringIO()
    bar = progress_bar(file=log, total=500, desc="train", unit="step")
    for step in range(500):
        bar.set_postfix_str(f"G {step}", refresh=False)
        bar.update(1)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 2  # the start and the end: the steps took less than the interval
    assert lines[0].startswith("train:   0%") and "500/500" in lines[1] and lines[1].endswith("G 499]")


def test_a_terminal_gets_the_bar_redrawn_in_place():
    screen = Terminal()
    bar = progress_bar(file=screen, total=3, desc="train", mininterval=0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert screen.getvalue().count("\r") >= 3
