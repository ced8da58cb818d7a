"""Progress bars: redrawn in place on a terminal, whole lines in a log file (sean_core.progress)."""

from __future__ import annotations

import io
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


PACKAGE_CODE = ("sean_core", "sean_export", "sean_train", "sean_tools", "sean_runtime/commands", "plugins/sean_domains")


def test_progress_bar_is_the_only_maker_of_progress_bars_in_the_package_code():
    # sean eval, export, synth, bench, bf16-check and the dataset writers each opened tqdm: "\r" redraws in logs
    root = Path(__file__).resolve().parents[1]
    direct = [f"{path.relative_to(root)}:{number}"
              for folder in PACKAGE_CODE for path in sorted((root / folder).rglob("*.py"))
              if path.name != "progress.py"
              for number, line in enumerate(path.read_text().splitlines(), 1)
              if "import tqdm" in line or "tqdm(" in line]
    assert direct == []


@pytest.mark.slow
def test_sean_eval_writes_whole_lines_to_a_log_file(tiny_checkpoint, tmp_path):
    log = tmp_path / "eval.log"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{root}"}
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "sean_core.cli", "eval", str(tiny_checkpoint), "--limit", "4",
                               "--batch-size", "2", "--device", "cpu", "--json", str(tmp_path / "eval.json")],
                              stderr=stderr, stdout=subprocess.PIPE,
                              env=env, cwd=tmp_path, timeout=300)
    text = log.read_bytes().decode()  # read_text() would turn each "\r" into a newline
    assert done.returncode == 0, text
    assert "\r" not in text
    assert text.endswith("\n") and "4/4" in text  # the last state, kept although the bar is leave=False


def test_a_log_file_gets_a_line_at_most_once_an_interval_when_steps_are_slow(monkeypatch):
    # `sean train > train.log` at 2-3 s a step wrote a line every ~20 s: tqdm's monitor thread forced one
    # 10 s (its maxinterval) after each, not once a LOG_INTERVAL_S. A fake clock and a fast monitor.
    import time

    import tqdm._monitor
    import tqdm.std

    clock = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])
    monkeypatch.setattr(tqdm._monitor, "time", lambda: clock[0])
    if tqdm.std.tqdm.monitor is not None:
        tqdm.std.tqdm.monitor.exit()
    monkeypatch.setattr(tqdm.std.tqdm, "monitor", None)
    monkeypatch.setattr(tqdm.std.tqdm, "monitor_interval", 0.002)
    log = io.StringIO()
    bar = progress_bar(file=log, total=90, desc="train", unit="step")
    try:
        for _ in range(90):
            clock[0] += 3.0
            bar.update(1)
            time.sleep(0.01)  # the monitor looks at the bar between steps
    finally:
        bar.close()
        tqdm.std.tqdm.monitor.exit()
    elapsed = [int(m) * 60 + int(s) for m, s in re.findall(r"\[(\d+):(\d+)[<\]]", log.getvalue())]
    assert len(elapsed) >= 4 and elapsed[-1] == 270, log.getvalue()
    interval_lines = elapsed[:-1]  # the start and the lines between; the end comes when it comes
    assert all(b - a >= 60 for a, b in itertools.pairwise(interval_lines)), log.getvalue()


def test_a_bar_is_named_from_its_first_line_on():
    # `sean export 2> export.log` began with "  0%| | 0/4": its bar was named after the line was written
    with pytest.raises(TypeError, match="desc"):
        progress_bar(file=io.StringIO(), total=4)


@pytest.mark.slow
def test_the_first_line_an_export_writes_to_a_log_names_its_step(tiny_export_checkpoint, tmp_path, capsys):
    from sean_export.package import FROM_MODEL, export_package

    export_package(tiny_export_checkpoint, tmp_path / "package", validate=False, progress=True)
    first = capsys.readouterr().err.splitlines()[0]
    assert re.match(rf"{FROM_MODEL}: folded generator: +0%", first), first
