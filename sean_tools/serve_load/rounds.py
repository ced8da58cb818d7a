"""Rounds of started servers (`sean bench-serve --start PACKAGE --rounds N --compare OPTION=V1,V2`).

Each round starts one `sean serve` per compared value in turn (A B A B ...: a shared machine's drift
falls on every server alike), loads it at every level for every request kind, and stops it. The
summary gives, per (server, kind, level), the medians over rounds and the median of two ratios taken
within each round: throughput against the round's first level on the same server, and against the
first compared server at the same level.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sean_core.errors import InputError
from sean_core.text_table import format_table
from sean_tools.serve_load.launch import started_server
from sean_tools.serve_load.loadtest import Server, check_loopback, run_level

MAX_VALUES = 8  # servers compared in one run
MEDIANS = ("throughput", "p50_ms", "p90_ms", "p99_ms", "images_per_call", "server_rss_mb")


@dataclass(frozen=True)
class Compare:
    """The `sean serve` option that differs between the servers of a round (none: one server a round)."""

    option: str | None  # the option's name without its dashes, e.g. "max-batch"
    values: tuple[str, ...]

    def args(self, value: str) -> list[str]:
        return [f"--{self.option}", value] if self.option else []

    def name(self, value: str) -> str:
        return f"{self.option} {value}" if self.option else "server"


ONE_SERVER = Compare(None, ("",))


def parse_compare(text: str) -> Compare:
    """"max-batch=1,8" -> Compare("max-batch", ("1", "8")): each value once, in order, at most MAX_VALUES."""
    option, sep, listed = text.partition("=")
    option = option.strip().lstrip("-")
    values = tuple(dict.fromkeys(v.strip() for v in listed.split(",") if v.strip()))
    if not sep or not option or not values or any(c.isspace() for c in option):
        raise InputError(f"{text!r}: give a `sean serve` option and its values, like max-batch=1,8")
    if option in ("host", "port"):
        raise InputError(f"{text!r}: the servers listen on 127.0.0.1 at a free port; compare another option")
    if len(values) > MAX_VALUES:
        raise InputError(f"{text!r}: at most {MAX_VALUES} values")
    return Compare(option, values)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (the machine may be shared: the record says how busy it was)."""
    return [round(v, 2) for v in os.getloadavg()]


def run_rounds(
    package: Path, serve_args: list[str], compare: Compare, rounds: int, kinds: list[str], levels: list[int],
    max_requests: int, max_seconds: float, api_key: str | None, echo: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every round's levels -> (runs: one dict per level, with round, server and kind; each server's facts)."""
    runs: list[dict[str, Any]] = []
    facts: dict[str, dict[str, Any]] = {}
    for round_index in range(rounds):
        for value in compare.values:
            with started_server(package, [*serve_args, *compare.args(value)]) as url:
                check_loopback(url)
                server = Server(url, api_key)
                try:
                    facts.setdefault(value, server.info)
                    for kind in kinds:
                        body = server.body(kind)
                        for clients in levels:
                            level = run_level(server, body, clients, max_requests, max_seconds)
                            runs.append({"round": round_index, "server": value, "kind": kind, **asdict(level)})
                            echo(f"  round {round_index + 1}/{rounds}, {compare.name(value)}, {kind}, {clients} "
                                 f"client(s): {level.throughput:.1f} req/s, {level.errors} errors "
                                 f"(load {' '.join(map(str, load_average()))})")
                finally:
                    server.close()
    return runs, facts


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else math.nan


def summarize(runs: list[dict[str, Any]], compare: Compare, kinds: list[str], levels: list[int]) -> list[dict]:
    """Per (server, kind, clients): medians over rounds, summed requests and errors, and the medians of the
    within-round ratios (vs_first_level, vs_first_server; see the module docstring)."""
    at = {(r["round"], r["server"], r["kind"], r["concurrency"]): r for r in runs}
    rows = []
    for value in compare.values:
        for kind in kinds:
            for clients in levels:
                mine = [r for r in runs if (r["server"], r["kind"], r["concurrency"]) == (value, kind, clients)]
                first_level = [_ratio(r["throughput"], at[r["round"], value, kind, levels[0]]["throughput"])
                               for r in mine]
                first_server = [_ratio(r["throughput"], at[r["round"], compare.values[0], kind, clients]["throughput"])
                                for r in mine]
                rows.append({
                    "server": value, "kind": kind, "clients": clients, "rounds": len(mine),
                    "requests": sum(r["requests"] for r in mine), "errors": sum(r["errors"] for r in mine),
                    **{key: _median([r[key] for r in mine]) for key in MEDIANS},
                    "p99_over_p50": _median([_ratio(r["p99_ms"], r["p50_ms"]) for r in mine]),
                    "vs_first_level": _median(first_level),
                    "vs_first_server": _median(first_server),
                })
    return rows


def format_summary(rows: list[dict[str, Any]], compare: Compare, levels: list[int]) -> str:
    several = len(compare.values) > 1
    head = ["server", "requests", "clients", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99/p50",
            f"vs {levels[0]} client(s)", *([f"vs {compare.name(compare.values[0])}"] if several else []),
            "errors", "img/call", "RSS MB"]
    table = [
        [compare.name(r["server"]), r["kind"], str(r["clients"]), f"{r['throughput']:.1f}", f"{r['p50_ms']:.1f}",
         f"{r['p90_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['p99_over_p50']:.2f}", f"{r['vs_first_level']:.2f}x",
         *([f"{r['vs_first_server']:.2f}x"] if several else []), str(r["errors"]), f"{r['images_per_call']:.2f}",
         f"{r['server_rss_mb']:.0f}"]
        for r in rows
    ]
    return format_table(head, table)
