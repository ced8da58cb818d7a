"""`sean bench-serve URL`: load a loopback `sean serve` (or, with --triton, a Triton server of a `sean
export-triton` repository) at several concurrencies (and optionally soak a `sean serve`)."""

from __future__ import annotations

from pathlib import Path

import click

from sean_core.command import Amount, Count, Counts, SeanCommand
from sean_core.files import atomic_write_json
from sean_tools.serve_load.loadtest import KINDS, Server, as_json, check_loopback, format_levels, run_level, run_soak


@click.command(cls=SeanCommand)
@click.argument("url")
@click.option("--concurrency", "concurrency", type=Counts(1, 1024), default="1,4,8", show_default=True,
              help="Client counts, one level each.")
@click.option("--requests", "max_requests", type=Count(1, 1_000_000), default=200, show_default=True,
              help="Requests per level (after a warm-up of 2 per client).")
@click.option("--seconds", "max_seconds", type=Amount(1, 86_400), default=60.0, show_default=True,
              help="Time limit per level.")
@click.option("--kind", type=click.Choice(KINDS), default="image", show_default=True,
              help="image: the server encodes a style image per request; styles: styles JSON (generator only).")
@click.option("--soak-s", type=Amount(0, 7 * 86_400), default=0.0, show_default=True,
              help="Afterwards, run the highest concurrency this long and sample the server's memory.")
@click.option("--soak-warmup-s", type=Amount(0, 7 * 86_400), default=60.0, show_default=True,
              help="Memory growth is measured from this point of the soak.")
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--triton", is_flag=True,
              help="URL is a Triton server (http://HOST:PORT or grpc://HOST:PORT) of `sean export-triton` / `sean "
              "triton`; batching is read from Triton's nv_inference_exec_count against its request count.")
@click.option("--metrics-url", default=None,
              help="--triton: Triton's metrics (default: the HTTP port + 2, as `sean triton` starts it).")
@click.option("--model", default="sean", show_default=True, help="--triton: the model clients call.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results here.")
def bench_serve(
    url: str,
    concurrency: list[int],
    max_requests: int,
    max_seconds: float,
    kind: str,
    soak_s: float,
    soak_warmup_s: float,
    api_key_file: Path | None,
    triton: bool,
    metrics_url: str | None,
    model: str,
    json_out: Path | None,
) -> None:
    """Throughput, p50/p90/p99 latency, errors and server memory of a running `sean serve` or Triton server.

    Closed-loop clients on this machine (loopback URLs only). Run it once against a server started
    with --max-batch 1 and once with the default to compare with and without batching.

    \b
    Examples:
      sean serve packages/shapes --port 8000 &
      sean bench-serve http://127.0.0.1:8000 --concurrency 1,4,8 --requests 400
      sean bench-serve http://127.0.0.1:8000 --concurrency 8 --soak-s 600 --json runs/soak.json
      sean triton models/triton --port 8100 &
      sean bench-serve --triton http://127.0.0.1:8100 --concurrency 1,4,8 --requests 400
    """
    levels_wanted = concurrency
    if triton:
        if soak_s > 0 or api_key_file is not None:
            raise click.UsageError("--soak-s and --api-key-file are for `sean serve`; Triton reports no process memory")
        from sean_tools.serve_load.triton import TritonTarget

        server = TritonTarget(url, metrics_url, model)
    else:
        check_loopback(url)
        api_key = api_key_file.read_text().strip() if api_key_file else None
        server = Server(url, api_key)
    try:
        levels, soak = _measure(server, kind, levels_wanted, max_requests, max_seconds, soak_s, soak_warmup_s)
    finally:
        server.close()
    if json_out is not None:
        atomic_write_json(json_out, as_json(levels, soak, server.info, kind))
        click.echo(f"wrote {json_out}")


def _measure(server, kind: str, levels_wanted: list[int], max_requests: int, max_seconds: float, soak_s: float,
             soak_warmup_s: float):
    """The levels (and the soak) against a target, printed as they finish -> (levels, soak or None)."""
    body = server.body(kind)
    click.echo(f"{server.client.describe()}; max batch {server.info['max_batch']}; requests: {kind}")
    levels = []
    for clients in levels_wanted:
        levels.append(run_level(server, body, clients, max_requests, max_seconds))
        click.echo(f"  {clients} client(s): {levels[-1].throughput:.1f} req/s", err=True)
    click.echo(format_levels(levels))
    soak = None
    if soak_s > 0:
        warmup = min(soak_warmup_s, soak_s / 3)
        window = min(60.0, soak_s / 3)
        soak = run_soak(server, body, max(levels_wanted), soak_s, warmup, every_s=5.0, window_s=window)
        click.echo(
            f"soak: {soak.concurrency} clients, {soak.seconds:.0f} s, {soak.requests} requests, {soak.errors} "
            f"errors; server RSS (window medians) {soak.warm_rss_mb:.1f} MB after warm-up -> "
            f"{soak.end_rss_mb:.1f} MB at the end ({soak.growth * 100:+.2f}%), "
            f"max {max(r for _, r in soak.rss_mb):.1f} MB"
        )
    return levels, soak
