"""Prometheus metrics of the service, through prometheus-client, in a registry of its own.

sean_http_requests_total{route,code}            requests answered (code: the HTTP status code)
sean_http_request_duration_seconds{route,code}  latency histogram, by status so fast errors and slow answers
                                                do not share percentiles
sean_batch_images{op}                           histogram of images per backend call (op: encode | generate)
sean_inference_duration_seconds{op}             time of each backend call
sean_queue_depth                                jobs waiting for the inference thread
sean_requests_in_flight                         /v1 requests being answered
sean_images_total                               images synthesized (images per second: rate(sean_images_total[1m]))
sean_connections_dropped_total                  connections whose client read none of its answers for --timeout-s
process_*                                       resident memory, CPU seconds, ... of the server process

The names follow https://prometheus.io/docs/practices/naming/: counters end in _total, durations are in
seconds, and the status label is `code`, as in Prometheus's own prometheus_http_requests_total and
client_golang's promhttp, so dashboards written for those fit. No rate is computed here: a gauge of the
last N seconds would fix the window for every dashboard, miss the images between two scrapes and cannot
be summed over replicas correctly, while rate() of the counter does all three.
"""

from __future__ import annotations

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

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, max_batch: int) -> None:
        disable_created_metrics()  # the *_created series only double the scrape here (process-wide setting)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter("sean_http_requests", "Requests answered", ["route", "code"], registry=r)
        self.latency = Histogram(
            "sean_http_request_duration_seconds", "Request latency", ["route", "code"], buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Named for what it counts (its _sum is images, its _count backend calls): "size" could be bytes or pixels.
        self.batch_images = Histogram(
            "sean_batch_images", "Images per backend call", ["op"], buckets=tuple(range(1, max_batch + 1)), registry=r
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

    def request(self, route: str, status: int, seconds: float) -> None:
        code = str(status)  # the `code` label of both families, so their series match
        self.requests.labels(route, code).inc()
        self.latency.labels(route, code).observe(seconds)

    def batch(self, op: str, size: int, seconds: float) -> None:
        self.batch_images.labels(op).observe(size)
        self.inference.labels(op).observe(seconds)
        if op == "generate":
            self.images.inc(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
