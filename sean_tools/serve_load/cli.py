"""`sean bench-serve`: load a loopback `sean serve` (or, with --triton, a Triton server of a `sean export-triton`
repository) at several concurrencies, or start the servers itself (--start) in rounds that compare one
`sean serve` option; optionally soak a `sean serve` and sample its memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from sean_core.command import FORCE_HELP, PACKAGE, Amount, Count, Counts, SeanCommand, check_output
from sean_core.errors import InputError
from sean_core.files import atomic_write_json
from sean_core.interrupts import stopped_on_sigterm
from sean_tools.serve_load.launch import check_serve_args, started_server
from sean_tools.serve_load.launch import serve_args as parse_serve_args
from sean_tools.serve_load.loadtest import (
    KINDS,
    Level,
    Server,
    Soak,
    as_json,
    check_loopback,
    format_levels,
    run_level,
    run_soak,
    soak_json,
)
from sean_tools.serve_load.rounds import (
    ONE_SERVER,
    Compare,
    format_summary,
    load_average,
    parse_compare,
    run_rounds,
    summarize,
)

START_ONLY = ("serve_args_text", "compare", "rounds")  # the options of --start (parameter names)


class KindList(click.ParamType):
    """Request kinds separated by commas ("image,styles" -> ["image", "styles"]), each once, in order."""

    name = "kinds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        if isinstance(value, (list, tuple)):
            return list(value)
        kinds = list(dict.fromkeys(k.strip() for k in str(value).split(",") if k.strip()))
        wrong = [k for k in kinds if k not in KINDS]
        if not kinds or wrong:
            self.fail(f"{value!r}: give {' or '.join(KINDS)}, or both separated by a comma", param, ctx)
        return kinds


class CompareOption(click.ParamType):
    name = "option=values"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Compare:
        if isinstance(value, Compare):
            return value
        try:
            return parse_compare(str(value))
        except InputError as exc:
            self.fail(str(exc), param, ctx)


@click.command(cls=SeanCommand)
@click.argument("url", required=False)
@click.option("--start", "package", type=PACKAGE, default=None, metavar="PACKAGE",
              help="Start the servers instead: `sean serve PACKAGE` on 127.0.0.1 (a free port), one per --compare "
              "value in each round, each stopped after its levels (also on an error or Ctrl-C).")
@click.option("--serve-args", "serve_args_text", default="", metavar="TEXT",
              help="--start: options of every started server, e.g. \"--threads 1 --workers 2\" (not --host/--port).")
@click.option("--compare", type=CompareOption(), default=None,
              help="--start: one `sean serve` option and its values, one server each, e.g. max-batch=1,8; the "
              "summary adds each level's throughput against the first value's, within each round.")
@click.option("--rounds", type=Count(1, 100), default=1, show_default=True,
              help="--start: rounds of the servers in turn (A B A B ...): medians over rounds.")
@click.option("--concurrency", "concurrency", type=Counts(1, 1024), default="1,4,8", show_default=True,
              help="Client counts, one level each.")
@click.option("--requests", "max_requests", type=Count(1, 1_000_000), default=200, show_default=True,
              help="Requests per level (after a warm-up of 2 per client).")
@click.option("--seconds", "max_seconds", type=Amount(1, 86_400), default=60.0, show_default=True,
              help="Time limit per level.")
@click.option("--kind", "kinds", type=KindList(), default="image", show_default=True,
              help="image: the server encodes a style image per request; styles: styles JSON (generator only); "
              "image,styles: both, one after the other.")
@click.option("--soak-s", type=Amount(0, 7 * 86_400), default=0.0, show_default=True,
              help="Afterwards, run the highest concurrency this long (the first --kind; with --start, on one more "
              "server with the last --compare value) and sample the server's memory.")
@click.option("--soak-warmup-s", type=Amount(0, 7 * 86_400), default=60.0, show_default=True,
              help="Memory growth is measured from this point of the soak.")
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The server's key (with --start, give its --api-key-file in --serve-args too).")
@click.option("--triton", is_flag=True,
              help="URL is a Triton server (http://HOST:PORT or grpc://HOST:PORT) of `sean export-triton` / `sean "
              "triton`; batching is read from Triton's nv_inference_exec_count against its request count.")
@click.option("--metrics-url", default=None,
              help="--triton: Triton's metrics (default: the HTTP port + 2, as `sean triton` starts it).")
@click.option("--model", default="sean", show_default=True, help="--triton: the model clients call.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results here (a .json file; checked before the load starts).")
@click.option("--force", is_flag=True, help=FORCE_HELP)
def bench_serve(
    url: str | None,
    package: Path | None,
    serve_args_text: str,
    compare: Compare | None,
    rounds: int,
    concurrency: list[int],
    max_requests: int,
    max_seconds: float,
    kinds: list[str],
    soak_s: float,
    soak_warmup_s: float,
    api_key_file: Path | None,
    triton: bool,
    metrics_url: str | None,
    model: str,
    json_out: Path | None,
    force: bool,
) -> None:
    """Throughput, p50/p90/p99 latency, errors and server memory of `sean serve` or a Triton server.

    Closed-loop clients on this machine, loopback servers only: a running one at URL, or (--start)
    servers that bench-serve starts and stops itself, in rounds that compare one `sean serve` option.

    \b
    Examples:
      sean serve packages/shapes --port 8000 &
      sean bench-serve http://127.0.0.1:8000 --concurrency 1,4,8 --requests 400
      sean bench-serve http://127.0.0.1:8000 --concurrency 8 --soak-s 600 --json runs/soak.json
      sean bench-serve --start packages/shapes --compare max-batch=1,8 --rounds 3 --kind image,styles \\
          --serve-args "--threads 1 --workers 2" --soak-s 600 --json runs/serve-batching.json
      sean bench-serve --start packages/shapes --concurrency 1,2 --requests 20 --seconds 5   # a quick check
      sean triton models/triton --port 8100 &
      sean bench-serve --triton http://127.0.0.1:8100 --concurrency 1,4,8 --requests 400

    With --start, the summary gives per server, request kind and client count the medians over rounds,
    and the medians of two ratios taken within each round: throughput against the first client count
    on the same server, and against the first --compare value's server at the same client count.
    """
    ctx = click.get_current_context()
    if (url is None) == (package is None):
        raise click.UsageError("give the URL of a running server, or --start PACKAGE (not both)")
    if package is None:
        given = [param.opts[0] for param in ctx.command.params
                 if param.name in START_ONLY and ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"{', '.join(given)}: options of --start PACKAGE (a URL's server runs already)")
    elif triton:
        raise click.UsageError("--start starts `sean serve`; a Triton server starts with `sean triton`")
    if triton and (soak_s > 0 or api_key_file is not None):
        raise click.UsageError("--soak-s and --api-key-file are for `sean serve`; Triton reports no process memory")
    if json_out is not None:
        check_output(json_out, "--json", [package, api_key_file], force, suffixes=(".json",))
    api_key = api_key_file.read_text().strip() if api_key_file else None
    if package is not None:
        with stopped_on_sigterm():
            result = _rounds(package, serve_args_text, compare or ONE_SERVER, rounds, kinds, concurrency,
                             max_requests, max_seconds, soak_s, soak_warmup_s, api_key)
    elif triton:
        from sean_tools.serve_load.triton import TritonTarget

        result = _one_server(TritonTarget(url, metrics_url, model), kinds, concurrency, max_requests, max_seconds,
                             0.0, soak_warmup_s)
    else:
        check_loopback(url)
        result = _one_server(Server(url, api_key), kinds, concurrency, max_requests, max_seconds, soak_s,
                             soak_warmup_s)
    if json_out is not None:
        atomic_write_json(json_out, result, exclusive=not force)
        click.echo(f"wrote {json_out}")


def _progress(line: str) -> None:
    click.echo(line, err=True)


def _one_server(server, kinds: list[str], levels_wanted: list[int], max_requests: int, max_seconds: float,
                soak_s: float, soak_warmup_s: float) -> dict[str, Any]:
    """The levels of every kind (and the soak) against a running target, printed as they finish -> the JSON."""
    try:
        click.echo(f"{server.client.describe()}; max batch {server.info['max_batch']}")
        measured: list[tuple[str, list[Level]]] = []
        for kind in kinds:
            body = server.body(kind)
            levels = []
            for clients in levels_wanted:
                levels.append(run_level(server, body, clients, max_requests, max_seconds))
                _progress(f"  {kind}, {clients} client(s): {levels[-1].throughput:.1f} req/s")
            click.echo(f"requests: {kind}\n{format_levels(levels)}")
            measured.append((kind, levels))
        soak = _soak(server, kinds[0], max(levels_wanted), soak_s, soak_warmup_s) if soak_s > 0 else None
    finally:
        server.close()
    return as_json(measured, soak, server.info)


def _soak(server: Server, kind: str, clients: int, soak_s: float, soak_warmup_s: float) -> Soak:
    soak = run_soak(server, server.body(kind), clients, soak_s, min(soak_warmup_s, soak_s / 3), every_s=5.0,
                    window_s=min(60.0, soak_s / 3))
    click.echo(
        f"soak: {soak.concurrency} clients, {kind} requests, {soak.seconds:.0f} s, {soak.requests} requests, "
        f"{soak.errors} errors; server RSS (window medians) {soak.warm_rss_mb:.1f} MB after warm-up -> "
        f"{soak.end_rss_mb:.1f} MB at the end ({soak.growth * 100:+.2f}%), max {max(r for _, r in soak.rss_mb):.1f} MB"
    )
    return soak


def _rounds(package: Path, serve_args_text: str, compare: Compare, rounds: int, kinds: list[str],
            levels: list[int], max_requests: int, max_seconds: float, soak_s: float, soak_warmup_s: float,
            api_key: str | None) -> dict[str, Any]:
    """--start: the rounds, their summary, and the soak on one more server -> the JSON."""
    args = parse_serve_args(serve_args_text, compare.option)
    for value in compare.values:
        check_serve_args(package, [*args, *compare.args(value)])
    load_at_start = load_average()
    click.echo(f"sean serve {package} {serve_args_text}".rstrip() + f"; {rounds} round(s) of "
               f"{', '.join(compare.name(v) for v in compare.values)}; load average {load_at_start}")
    runs, facts = run_rounds(package, args, compare, rounds, kinds, levels, max_requests, max_seconds, api_key,
                             _progress)
    summary = summarize(runs, compare, kinds, levels)
    click.echo(format_summary(summary, compare, levels))
    soak = None
    if soak_s > 0:
        last = compare.values[-1]
        with started_server(package, [*args, *compare.args(last)]) as url:
            server = Server(url, api_key)
            try:
                soak = _soak(server, kinds[0], max(levels), soak_s, soak_warmup_s)
            finally:
                server.close()
    load_at_end = load_average()
    click.echo(f"load average at the end {load_at_end}")
    return {
        "package": str(package), "serve_args": args, "compare": {"option": compare.option, "values": compare.values},
        "rounds": rounds, "kinds": kinds, "concurrency": levels, "servers": facts, "runs": runs, "summary": summary,
        "soak": None if soak is None else {**soak_json(soak), "server": compare.values[-1], "kind": kinds[0]},
        "load_average": {"start": load_at_start, "end": load_at_end},
    }
