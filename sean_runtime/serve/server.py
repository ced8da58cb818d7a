"""Start the service, say when it is ready, drain on SIGTERM / SIGINT.

The port is bound first and /healthz answers 503 while the package loads, so a load balancer or an
orchestrator can watch a replica come up. On SIGTERM or SIGINT the server stops taking work (503 with
Retry-After, /healthz 503), finishes the requests in flight, closes and returns normally (exit 0).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from sean_runtime.serve.app import ServerState, build_app
from sean_runtime.serve.batching import InferenceQueue
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.runtime import BackendError, Synthesizer
from sean_runtime.serve.service import Limits, Service, load_samples

log = logging.getLogger(__name__)

DRAIN_GRACE_S = 5.0  # beyond the request timeout, for answers to be written
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024


@dataclass(frozen=True)
class ServeConfig:
    package: Path
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port (the ready line names it)
    backend: str = "auto"
    threads: int | None = None
    max_batch: int = 8
    max_wait_ms: float = 5.0
    workers: int = 1  # backend calls at once (ONNX Runtime only above 1)
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    samples: Path | None = None  # a dataset folder in the domain's layout
    samples_split: str = "test"
    max_samples: int = 16


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def return_large_blocks_to_the_os() -> bool:
    """Let glibc serve every block of 128 KiB or more with mmap, so that freeing it gives it back.

    By default glibc raises that threshold (up to 32 MiB) after the first large free, and per-batch
    buffers then stay in the malloc heaps of each thread, and the server's resident memory swings with
    the load; with a fixed threshold it stays flat (docs/performance.md, "Serving"; measured when ONNX
    Runtime ran without an arena; its shared arena, backends.onnxruntime.shared_cpu_arena, keeps its own
    blocks either way). False where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


def _load(config: ServeConfig) -> tuple[Synthesizer, list[dict[str, str]]]:
    synth = Synthesizer.load(config.package, backend=config.backend, threads=config.threads)
    if config.workers > 1 and synth.backend.name != "onnxruntime":
        raise BackendError(
            f"--workers {config.workers} needs the onnxruntime backend: the {synth.backend.name} backend holds one "
            f"execution context, so it runs one call at a time; use --workers 1"
        )
    samples = (
        load_samples(synth, config.samples, config.samples_split, config.max_samples) if config.samples else []
    )
    return synth, samples


async def serve(config: ServeConfig, on_ready: Callable[[str, Synthesizer], None]) -> None:
    """Run until SIGTERM / SIGINT; on_ready(url, synthesizer) once the package is loaded.

    Raises the runtime's errors when the package or the samples cannot be loaded.
    """
    return_large_blocks_to_the_os()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics(config.max_batch)
    state = ServerState(config.limits, metrics, config.api_key)
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    queue: InferenceQueue | None = None
    try:
        site = web.TCPSite(runner, config.host, config.port, shutdown_timeout=DRAIN_GRACE_S)
        await site.start()
        host, port = runner.addresses[0][:2]
        loading = asyncio.ensure_future(asyncio.to_thread(_load, config))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not loading.done():
            log.info("stopped while loading the package")
            return
        stopping.cancel()
        synth, samples = loading.result()
        queue = InferenceQueue(
            synth,
            config.max_batch,
            config.max_wait_ms / 1000.0,
            config.limits.max_queue,
            workers=config.workers,
            on_batch=metrics.batch,
            on_depth=metrics.queue_depth.set,
        )
        queue.start()
        state.service = Service(synth, queue, config.limits, samples)
        on_ready(url_of(host, port), synth)
        await stop.wait()
        state.draining = True
        log.info("draining: %d request(s) in flight", state.in_flight)
        try:
            await asyncio.wait_for(state.idle.wait(), config.limits.timeout_s + DRAIN_GRACE_S)
        except asyncio.TimeoutError:
            log.warning("%d request(s) still in flight after the drain timeout", state.in_flight)
    finally:
        await runner.cleanup()
        if queue is not None:
            await queue.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
