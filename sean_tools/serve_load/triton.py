"""The Triton target of `sean bench-serve --triton`: a Triton server running a `sean export-triton` repository.

Each client is a TritonSynthesizer (KServe v2, binary tensors, HTTP or gRPC) sending one synthesize
request of the front model per call, so the server encodes the style image (kind "image") or takes
the styles (kind "styles") exactly as `sean serve` does. Batching is read from Triton's own metrics:
nv_inference_exec_count against nv_inference_request_success of the front model. Triton's metrics
carry no process memory, so RSS is not reported.
"""

from __future__ import annotations

import math
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

from sean_core.errors import InputError
from sean_runtime.triton.client import TritonSynthesizer, split_url
from sean_tools.serve_load.loadtest import check_loopback, series

METRICS_PORT_OFFSET = 2  # `sean triton --port P` serves metrics on P + 2 unless told otherwise


def default_metrics_url(url: str) -> str:
    """The metrics URL of a `sean triton` started with its default ports: HTTP port + 2 (gRPC URL: port + 1)."""
    protocol, address = split_url(url)
    host, port = address.rsplit(":", 1)
    http_port = int(port) - (1 if protocol == "grpc" else 0)
    return f"http://{host}:{http_port + METRICS_PORT_OFFSET}/metrics"


class TritonTarget:
    def __init__(self, url: str, metrics_url: str | None = None, model: str = "sean") -> None:
        self.url = url
        self.metrics_url = metrics_url or default_metrics_url(url)
        for checked in (url, self.metrics_url):
            check_loopback(checked if "://" in checked else f"http://{checked}")
        if urllib.parse.urlsplit(self.metrics_url).scheme != "http":
            raise InputError(f"--metrics-url {self.metrics_url}: Triton serves its metrics over http://")
        self.model = model
        self.client = TritonSynthesizer(url, model)
        self.info = {**self.client.info(), "max_batch": self.client.max_batch}

    def open_client(self) -> TritonSynthesizer:
        return TritonSynthesizer(self.url, self.model)

    def body(self, kind: str) -> dict[str, Any]:
        """Every class in vertical bands, styled by a noise image (encoded per request, or once: kind "styles")."""
        h, w = self.client.resolution
        k = len(self.client.class_names)
        label = np.repeat((np.arange(w) * k // w)[None, :], h, axis=0).astype(np.int32)
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        style = (image, label) if kind == "image" else self.client.encode(image, label)
        return {"label": label, "style": style}

    def send(self, client: TritonSynthesizer, body: dict[str, Any], seed: int) -> None:
        client.request(body["label"], body["style"], seed=seed)

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=30) as response:
            return response.read().decode()

    def batching(self, before: str, after: str) -> tuple[float, int]:
        """(requests per execution of the front model, its executions) between two scrapes."""

        def grown(name: str) -> float:
            return (series(after, name, model=self.model, version="1") or 0.0) - (
                series(before, name, model=self.model, version="1") or 0.0)

        executions = grown("nv_inference_exec_count")
        return grown("nv_inference_request_success") / max(executions, 1.0), int(executions)

    def rss_mb(self, text: str | None = None) -> float:
        return math.nan

    def close(self) -> None:
        """Close the facts client's connection (tritonserver's SIGTERM waits for open HTTP connections)."""
        self.client.close()
