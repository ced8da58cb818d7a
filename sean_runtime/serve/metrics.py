"""Prometheus metrics of the service, through prometheus-client, in a registry of its own.

sean_http_requests_total{route,status}       requests answered
sean_http_request_duration_seconds{route}    latency histogram
sean_batch_size{op}                          images per backend call (op: encode | generate)
sean_inference_duration_seconds{op}          time of each backend call
sean_queue_depth                             jobs waiting for the inference thread
sean_requests_in_flight                      /v1 requests being answered
sean_images_total                            images synthesized
sean_images_per_second                       over the last WINDOW_S seconds
sean_connections_dropped_total               connections whose client read none of its answers for --timeout-s
process_*                                    resident memory, CPU seconds, ... of the server process
"""

from __future__ import annotations

import threading
import time
from collections import deque

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

WINDOW_S = 10.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, max_batch: int) -> None:
        disable_created_metrics()  # the *_created series only double the scrape here (process-wide setting)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter("sean_http_requests", "Requests answered", ["route", "status"], registry=r)
        self.latency = Histogram(
            "sean_http_request_duration_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "sean_batch_size", "Images per backend call", ["op"], buckets=tuple(range(1, max_batch + 1)), registry=r
        )
        self.inference = Histogram(
            "sean_inference_duration_seconds", "Backend call time", ["op"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("sean_queue_depth", "Jobs waiting for the inference thread", registry=r)
        self.in_flight = Gauge("sean_requests_in_flight", "/v1 requests being answered", registry=r)
        self.images = Counter("sean_images", "Images synthesized", registry=r)
        self.dropped = Counter(
            "sean_connections_dropped", "Connections dropped: their client read none of its answers for --timeout-s",
            registry=r,
        )
        rate = Gauge("sean_images_per_second", f"Images per second over the last {WINDOW_S:g} s", registry=r)
        rate.set_function(self._images_per_second)
        self._recent: deque[tuple[float, int]] = deque()  # (monotonic time, images) of recent generator calls
        self._lock = threading.Lock()  # the scrape may run while the loop records

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def batch(self, op: str, size: int, seconds: float) -> None:
        self.batch_size.labels(op).observe(size)
        self.inference.labels(op).observe(seconds)
        if op == "generate":
            self.images.inc(size)
            now = time.monotonic()
            with self._lock:
                self._recent.append((now, size))
                self._forget(now)

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            self._recent.popleft()

    def _images_per_second(self) -> float:
        with self._lock:
            self._forget(time.monotonic())
            return sum(n for _, n in self._recent) / WINDOW_S

    def render(self) -> bytes:
        return generate_latest(self.registry)
