"""Every number option of every `sean` command is bounded: counts (threads, batches, requests, ...) have an
upper bound, real numbers refuse nan and inf, and a value out of range is one usage line, before any work."""

from __future__ import annotations

import time

import click
import pytest
from click.testing import CliRunner

from sean_core.cli import all_commands, main
from sean_core.command import THREADS, THREADS_PER_CPU, Amount, Count, Counts, usable_cpus


def loaded_commands() -> dict[str, click.Command]:
    """Every registered subcommand whose extra is installed here."""
    commands = {}
    for name in all_commands():
        try:
            commands[name] = main.get_command(click.Context(main), name)
        except click.ClickException:  # an extra that is not installed: its command cannot be inspected
            continue
    return commands


COMMANDS = loaded_commands()


def number_options() -> list[tuple[str, click.Parameter]]:
    return [
        (name, param)
        for name, command in sorted(COMMANDS.items())
        for param in command.params
        if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType, Counts))
    ]


def test_the_runtime_commands_are_among_those_inspected():
    assert {"synth", "serve", "demo", "bench-serve"} <= set(COMMANDS)


@pytest.mark.parametrize(("command", "param"), number_options(), ids=lambda x: getattr(x, "name", x))
def test_every_number_option_has_both_bounds(command, param):
    kind = param.type
    if isinstance(kind, click.types.IntParamType):
        assert isinstance(kind, click.IntRange) and kind.min is not None and kind.max is not None, (
            f"sean {command} {param.opts[0]} takes integers without an upper bound; give it a Count"
        )
    elif isinstance(kind, click.types.FloatParamType):
        assert isinstance(kind, Amount) and kind.min is not None and kind.max is not None, (
            f"sean {command} {param.opts[0]} takes any real number (nan, inf); give it an Amount with bounds"
        )
    else:
        assert kind.count.max is not None


def test_every_threads_option_is_bounded_by_the_cpus_of_this_machine():
    threads = [(name, p) for name, p in number_options() if p.name == "threads"]
    assert len(threads) >= 3
    assert all(p.type is THREADS for _, p in threads), [name for name, p in threads if p.type is not THREADS]
    assert THREADS.max == THREADS_PER_CPU * usable_cpus()


def error_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_synth_threads_100000_is_one_line_at_once(tmp_path, shapes_split):
    label, style = shapes_split / "labels/00000.png", shapes_split / "images/00000.png"
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["synth", str(tmp_path), "--label", str(label), "--style", str(style),
                                       "--threads", "100000", "-o", str(tmp_path / "out.png")])
    line = error_line(result)
    assert "'--threads': 100000 is not in the range 1.." in line and "per CPU" in line
    assert time.perf_counter() - started < 5 and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "--alpha", "nan"], "'--alpha': 'nan' is not a finite number"),
        (["serve", "--timeout-s", "inf"], "'--timeout-s': inf is not in the range"),
        (["serve", "--max-queue", "10000000"], "'--max-queue': 10000000 is not in the range 1..100000"),
        (["serve", "--threads", str(10 * THREADS.max)], "'--threads'"),
        (["bench-serve", "http://127.0.0.1:9", "--concurrency", "1,100000"], "'--concurrency': '1,100000': 100000"),
        (["bench-serve", "http://127.0.0.1:9", "--concurrency", "1,x"], "'x' is not a valid integer"),
    ],
)
def test_out_of_range_numbers_are_usage_errors(tmp_path, args, message):
    command, *rest = args
    extra = [str(tmp_path)] if command == "serve" else []
    assert message in error_line(CliRunner().invoke(main, [command, *extra, *rest]))


def test_count_types_on_their_own():
    assert Count(1, 4).convert("4", None, None) == 4
    with pytest.raises(click.BadParameter, match=r"5 is not in the range 1\.\.4 \(because\)"):
        Count(1, 4, "because").convert("5", None, None)
    assert Counts(1, 8).convert("8, 1,8", None, None) == [8, 1, 8]
    for text in ("", "0,2", "9"):
        with pytest.raises(click.BadParameter):
            Counts(1, 8).convert(text, None, None)
    assert Amount(0, 1).convert("0.25", None, None) == 0.25
    assert Amount(0, None).convert("1e300", None, None) == 1e300
    for low, high, text in ((0, None, "nan"), (0, None, "inf"), (0, 1, "2"), (0, 1, "nan")):
        with pytest.raises(click.BadParameter):
            Amount(low, high).convert(text, None, None)
