"""The load benchmark behind `sean bench-serve`: closed-loop clients against a loopback server.

Each level runs `concurrency` threads, each with its own client of the target (one kept-alive
connection), sending synthesize requests back to back until the level's request or time budget is
spent. Reported per level: throughput, latency percentiles, errors, the server's resident memory (from
its /metrics, where it reports it) and the mean images per generator call. A soak runs one level for a
long time and samples the server's memory, to show it stays flat.

A target is `Server` (a `sean serve`) or sean_tools.serve_load.triton.TritonTarget (a Triton server of
a `sean export-triton` repository): open_client(), send(client, body, seed), metrics(), batching(before,
after) and rss_mb(text).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError
from sean_core.text_table import format_table
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.serve.codec import encode_png

KINDS = ("image", "styles")  # style image encoded by the server per request, or styles JSON (generator only)


@dataclass(frozen=True)
class Level:
    concurrency: int
    requests: int  # answered with 200
    errors: int
    seconds: float
    throughput: float  # requests per second
    p50_ms: float
    p90_ms: float
    p99_ms: float
    server_rss_mb: float  # nan where the server's metrics do not report it (Triton)
    images_per_call: float  # mean generator batch during the level
    executions: int = 0  # Triton: executions of the front model during the level (vs `requests`)


@dataclass(frozen=True)
class Soak:
    concurrency: int
    seconds: float
    requests: int
    errors: int
    rss_mb: list[tuple[float, float]]  # (seconds since start, server RSS MB)
    warm_rss_mb: float  # median over the first window after the warm-up
    end_rss_mb: float  # median over the last window

    @property
    def growth(self) -> float:
        """RSS growth from just after the warm-up to the end, as a fraction."""
        return self.end_rss_mb / self.warm_rss_mb - 1.0


def check_loopback(url: str) -> None:
    """Only this machine's servers are loaded: the host must resolve to loopback addresses only."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve {host!r}: {exc}") from exc
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise InputError(f"bench-serve loads loopback servers only (127.0.0.1, ::1, localhost); {host!r} is not one")


def series(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text (labels in any order), None when absent."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:]+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name and dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")) == labels:
            return float(match.group(3))
    return None


class Server:
    """The benchmarked server's facts, metrics and request body."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.client = RemoteSynthesizer(url, api_key=api_key, retries=0)
        self.info = self.client.info()

    def metrics(self) -> str:
        request = urllib.request.Request(self.url + "/metrics")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def rss_mb(self, text: str | None = None) -> float:
        return (series(self.metrics() if text is None else text, "process_resident_memory_bytes") or 0.0) / 2**20

    def close(self) -> None:
        self.client.close()

    def open_client(self) -> RemoteSynthesizer:
        return RemoteSynthesizer(self.url, api_key=self.api_key, retries=0)

    def send(self, client: RemoteSynthesizer, body: dict[str, Any], seed: int) -> None:
        client.synthesize_request({**body, "seed": seed})

    def batching(self, before: str, after: str) -> tuple[float, int]:
        """(mean images per generator call, 0) between two scrapes of the metrics."""

        def grown(name: str) -> float:
            return (series(after, name, op="generate") or 0.0) - (series(before, name, op="generate") or 0.0)

        return grown("sean_batch_images_sum") / max(grown("sean_batch_images_count"), 1.0), 0

    def body(self, kind: str) -> dict[str, Any]:
        """A synthesize body: the first served sample, or every class in vertical bands on a noise image."""
        h, w = self.client.resolution
        if self.info.get("samples"):
            sample = self.client.call("GET", "/v1/samples")["samples"][0]
            label, image = sample["label"], sample["image"]
        else:
            k = len(self.client.class_names)
            label = encode_png(np.repeat((np.arange(w) * k // w)[None, :], h, axis=0).astype(np.uint8))
            image = encode_png(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
        if kind == "image":
            return {"label": label, "style_image": image}
        styles = self.client.call("POST", "/v1/encode", {"image": image, "label": label})["styles"]
        return {"label": label, "styles": styles}


def _clients(server: Any, body: Any, concurrency: int, max_requests: int, max_seconds: float):
    """Run the clients; -> (latencies in s of answered requests, errors, wall seconds)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    issued = [0]
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        with server.open_client() as client:
            while time.monotonic() < deadline:
                with lock:
                    if issued[0] >= max_requests:
                        return
                    issued[0] += 1
                    seed = issued[0]
                start = time.perf_counter()
                try:
                    server.send(client, body, seed)
                except (InputError, BackendError):
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)

    # Daemon threads: a Ctrl-C in the main thread ends the run at once; the clients do not go on sending to a
    # stopped server until the level's deadline.
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - start


SETTLE_S = 2.0  # the longest wait for a server's batching counters to take in the last responses


def settled_metrics(server: Any) -> str:
    """A scrape of the target's metrics once its batching counters have stopped moving: a server may count
    a request after the client has its response (Triton does), so a scrape right after the last response
    can miss it, and the next level would count it as its own."""
    text = server.metrics()
    deadline = time.perf_counter() + SETTLE_S
    while time.perf_counter() < deadline:
        time.sleep(0.05)
        again = server.metrics()
        if server.batching(text, again) == (0.0, 0):
            return again
        text = again
    return text


def run_level(server: Any, body: Any, concurrency: int, max_requests: int, max_seconds: float) -> Level:
    """One level against a target (Server or TritonTarget, see the module docstring)."""
    _clients(server, body, concurrency, 2 * concurrency, max_seconds)  # warm-up: connections, first runs
    before = settled_metrics(server)
    latencies, errors, seconds = _clients(server, body, concurrency, max_requests, max_seconds)
    after = settled_metrics(server)
    per_call, executions = server.batching(before, after)
    p50, p90, p99 = np.percentile(np.array(latencies) * 1000.0, [50, 90, 99]) if latencies else (np.nan,) * 3
    return Level(
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=round(seconds, 3),
        throughput=round(len(latencies) / seconds, 2),
        p50_ms=round(float(p50), 2),
        p90_ms=round(float(p90), 2),
        p99_ms=round(float(p99), 2),
        server_rss_mb=round(server.rss_mb(after), 1),
        images_per_call=round(per_call, 2),
        executions=executions,
    )


def run_soak(
    server: Any, body: Any, concurrency: int, seconds: float, warmup_s: float, every_s: float,
    window_s: float = 60.0,
) -> Soak:
    """`concurrency` clients for `seconds`, the server's RSS sampled every `every_s` seconds.

    A sample may fall inside a generator call (its buffers are resident then) or between calls, so
    growth compares medians over `window_s` after the warm-up and at the end, not two single samples.
    """
    result: list[Any] = []
    runner = threading.Thread(
        target=lambda: result.append(_clients(server, body, concurrency, 10**12, seconds)), daemon=True
    )
    start = time.monotonic()
    runner.start()
    samples = []
    while runner.is_alive():
        samples.append((round(time.monotonic() - start, 1), round(server.rss_mb(), 1)))
        runner.join(every_s)
    samples.append((round(time.monotonic() - start, 1), round(server.rss_mb(), 1)))
    latencies, errors, wall = result[0]
    end_t = samples[-1][0]
    warm = [rss for t, rss in samples if warmup_s <= t <= warmup_s + window_s] or [samples[0][1]]
    end = [rss for t, rss in samples if t >= end_t - window_s]
    return Soak(
        concurrency, round(wall, 1), len(latencies), errors, samples, float(np.median(warm)), float(np.median(end))
    )


def format_levels(levels: list[Level]) -> str:
    head = ["clients", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99/p50", "img/call", "RSS MB"]
    rows = [
        [
            str(v.concurrency), str(v.requests), str(v.errors), f"{v.throughput:.1f}", f"{v.p50_ms:.1f}",
            f"{v.p90_ms:.1f}", f"{v.p99_ms:.1f}", f"{v.p99_ms / v.p50_ms:.2f}", f"{v.images_per_call:.2f}",
            "-" if np.isnan(v.server_rss_mb) else f"{v.server_rss_mb:.0f}",
        ]
        for v in levels
    ]
    if any(v.executions for v in levels):  # Triton: the front model's executions against the requests
        head.append("execs")
        for row, v in zip(rows, levels, strict=True):
            row.append(str(v.executions))
    return format_table(head, rows)


def soak_json(soak: Soak) -> dict[str, Any]:
    return {**asdict(soak), "growth": round(soak.growth, 4)}


def as_json(measured: list[tuple[str, list[Level]]], soak: Soak | None, info: dict[str, Any]) -> dict[str, Any]:
    """One running server's results: its facts, each level with its request kind, and the soak (of the first kind)."""
    out: dict[str, Any] = {
        "server": info, "kinds": [kind for kind, _ in measured],
        "levels": [{"kind": kind, **asdict(v)} for kind, levels in measured for v in levels],
    }
    if soak is not None:
        out["soak"] = {**soak_json(soak), "kind": measured[0][0]}
    return out
