#!/usr/bin/env python3
"""Load benchmark of `sean serve` with the shipped shapes package (docs/performance.md, "Serving").

Rounds alternate a server without batching (--max-batch 1) and one with it (--max-batch 8); each
round measures concurrency 1, 4 and 8 for both request kinds (style image encoded per request, or
styles JSON). The machine is shared, so the summary gives medians over rounds and the ratios within
each round. Then a soak at concurrency 8 samples the server's memory. Loopback only.

    .venv/bin/python scripts/bench_serve.py                       # 3 rounds, 10-minute soak
    .venv/bin/python scripts/bench_serve.py --rounds 1 --soak-s 0 --serve-args "--threads 2"
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sean_tools.serve_load.loadtest import KINDS, Server, run_level, run_soak  # noqa: E402

LEVELS = (1, 4, 8)


def start(package: Path, args: list[str]) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "sean_core.cli", "serve", str(package), "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    match = re.search(r"http://\S+", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit(f"the server did not start: {' '.join(command)}")
    return process, match.group(0)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    if process.wait(60) != 0:
        raise SystemExit(f"the server exited with {process.returncode}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="per level")
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit per level")
    parser.add_argument("--serve-args", default="--threads 1 --workers 2", help="for both servers")
    parser.add_argument("--soak-s", type=float, default=600.0)
    parser.add_argument("--package", type=Path, default=ROOT / "packages/shapes")
    parser.add_argument("--out", type=Path, default=ROOT / "runs/bench-serve/results.json")
    a = parser.parse_args()
    if not (a.package / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "sean_core.cli", "export", "sean_core/pretrained/shapes",
                        "-o", str(a.package)], check=True, cwd=ROOT)
    print(f"load at start {load()}; server options {a.serve_args}", flush=True)
    runs = []
    for round_index in range(a.rounds):
        for batch in (1, 8):
            process, url = start(a.package, [*a.serve_args.split(), "--max-batch", str(batch)])
            server = Server(url, None)
            for kind in KINDS:
                body = server.body(kind)
                for clients in LEVELS:
                    level = run_level(server, body, clients, a.requests, a.seconds)
                    runs.append({"round": round_index, "max_batch": batch, "kind": kind, **asdict(level)})
                    print(f"round {round_index} batch {batch} {kind:6s} {clients} clients: {level.throughput:6.1f} "
                          f"req/s p50 {level.p50_ms:6.1f} p99 {level.p99_ms:6.1f} errors {level.errors} "
                          f"(load {load()})", flush=True)
            server.client.close()
            stop(process)
    summary = summarize(runs)
    soak = None
    if a.soak_s > 0:
        process, url = start(a.package, [*a.serve_args.split(), "--max-batch", "8"])
        server = Server(url, None)
        soak = run_soak(server, server.body("image"), 8, a.soak_s, warmup_s=60.0, every_s=5.0, window_s=60.0)
        server.client.close()
        stop(process)
        print(f"soak: {soak.requests} requests, {soak.errors} errors, RSS {soak.warm_rss_mb:.1f} -> "
              f"{soak.end_rss_mb:.1f} MB ({soak.growth * 100:+.2f}%), max {max(r for _, r in soak.rss_mb):.1f} MB")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"serve_args": a.serve_args, "runs": runs, "summary": summary,
                                 "soak": None if soak is None else {**asdict(soak), "growth": soak.growth},
                                 "load_at_end": load()}, indent=1))
    print(f"load at end {load()}; wrote {a.out}")


def summarize(runs: list[dict]) -> list[dict]:
    """Medians over rounds per (max_batch, kind, clients), and per-round ratios to 1 client."""
    print("\n| batching | requests | clients | req/s | p50 ms | p90 ms | p99 ms | p99/p50 | vs 1 client | errors "
          "| img/call | RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for batch in (1, 8):
        for kind in KINDS:
            for clients in LEVELS:
                def at(n: int, batch: int = batch, kind: str = kind) -> list[dict]:
                    return [r for r in runs if (r["max_batch"], r["kind"], r["concurrency"]) == (batch, kind, n)]

                mine, ones = at(clients), {r["round"]: r for r in at(1)}
                speedup = statistics.median(r["throughput"] / ones[r["round"]]["throughput"] for r in mine)
                tail = statistics.median(r["p99_ms"] / r["p50_ms"] for r in mine)
                row = {"max_batch": batch, "kind": kind, "clients": clients, "vs_1_client": round(speedup, 2),
                       "p99_over_p50": round(tail, 2), "errors": sum(r["errors"] for r in mine)}
                for key in ("throughput", "p50_ms", "p90_ms", "p99_ms", "images_per_call", "server_rss_mb"):
                    row[key] = statistics.median(r[key] for r in mine)
                rows.append(row)
                print(f"| {'max-batch ' + str(batch)} | {kind} | {clients} | {row['throughput']:.1f} | "
                      f"{row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {tail:.2f} | "
                      f"{speedup:.2f}x | {row['errors']} | {row['images_per_call']:.2f} | {row['server_rss_mb']:.0f} |")
    return rows


if __name__ == "__main__":
    main()
