"""The inference queue: worker threads run the backend; generator calls are batched across requests.

Requests put jobs on one queue. Encoder jobs run one image per call, because the encoder's codes
change in the last bits with the batch size (ONNX Runtime CPU: up to 6e-7), and a request must get
the same styles whatever else is in flight. Generator jobs are gathered into one call of up to
`max_batch` images; each image keeps its own seed and noise flag (Synthesizer.synthesize_each), and
the generator's output for one image does not depend on the rest of its batch, so a batched answer
equals the unbatched one byte for byte.

A batch waits for more images at most `max_wait` seconds after its oldest job arrived, and not at all
when no admitted request is still on its way to a generator job (`Ticket`): at low load dynamic
batching adds no latency. While a batch waits, queued encoder jobs run: they are what the requests
still on their way are waiting for.

`workers` backend calls may run at once, each on its own thread (ONNX Runtime sessions may be run
from several threads; on a CPU, workers x intra-op threads = cores keeps every core busy at high load).
A batch never waits while another worker is idle, and waiting jobs are shared out among the workers
(see _serve).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sean_runtime.serve.runtime import Styles, Synthesizer


class QueueFull(Exception):
    """More jobs waiting than --max-queue allows (HTTP 503 with Retry-After)."""


class RequestTooLarge(Exception):
    """One request needs more jobs at once than --max-queue allows, so no wait would help (HTTP 413)."""


@dataclass
class Job:
    kind: str  # "encode" or "generate"
    args: tuple[Any, ...]
    future: asyncio.Future
    queued_at: float = field(default_factory=time.monotonic)


class Ticket:
    """A synthesize request on its way to a generator job; while it holds one, batches wait for it."""

    def __init__(self, queue: InferenceQueue) -> None:
        self._queue = queue
        self._open = True
        queue._announced += 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self._queue._announced -= 1
            self._queue._wake.set()

    async def generate(self, labels: np.ndarray, styles: Styles, seed: int, noise: bool) -> np.ndarray:
        """labels ids [H, W] at the package resolution, styles of batch 1 -> uint8 RGB [H, W, 3]."""
        future = self._queue.submit("generate", (labels, styles, seed, noise))
        self.close()
        return await future


class InferenceQueue:
    def __init__(
        self,
        synth: Synthesizer,
        max_batch: int,
        max_wait: float,
        max_queue: int,
        workers: int = 1,
        on_batch: Callable[[str, int, float], None] = lambda op, size, seconds: None,
        on_depth: Callable[[int], None] = lambda depth: None,
    ) -> None:
        """on_batch(op, images, seconds) after each backend call; on_depth(jobs waiting) when it changes."""
        self.synth = synth
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.workers = workers
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._jobs: deque[Job] = deque()
        self._wake = asyncio.Event()
        self._announced = 0  # open tickets
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="sean-inference")
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()  # backend calls in progress

    # --- the requests' side -------------------------------------------------------------------------
    def submit(self, kind: str, args: tuple[Any, ...]) -> asyncio.Future:
        # Jobs of requests that timed out do not count: they are dropped when the worker looks.
        if sum(not j.future.cancelled() for j in self._jobs) >= self.max_queue:
            raise QueueFull(f"the inference queue is full ({self.max_queue} jobs waiting); retry shortly")
        job = Job(kind, args, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._on_depth(len(self._jobs))
        self._wake.set()
        return job.future

    def check_fits(self, jobs: int, what: str) -> None:
        """RequestTooLarge when `jobs` submitted at once could never all wait in the queue."""
        if jobs > self.max_queue:
            raise RequestTooLarge(
                f"this request needs {jobs} {what} at once, more than the server's queue limit of {self.max_queue} "
                f"(--max-queue); split it, send styles from /v1/encode instead of style images, or start the "
                f"server with --max-queue {jobs} or more"
            )

    async def encode(self, image: np.ndarray, label: np.ndarray) -> Styles:
        """One style image uint8 [H, W, 3] and its label ids [H, W] (sizes as sent) -> Styles of batch 1."""
        return await self.submit("encode", (image, label))

    @contextmanager
    def ticket(self) -> Iterator[Ticket]:
        ticket = Ticket(self)
        try:
            yield ticket
        finally:
            ticket.close()

    # --- the worker's side --------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await asyncio.gather(*self._running)
        self._executor.shutdown(wait=True)

    def _take(self, kind: str, limit: int) -> list[Job]:
        """Up to `limit` live jobs of a kind, oldest first; cancelled ones (timed-out requests) are dropped."""
        taken, kept = [], deque()
        while self._jobs:
            job = self._jobs.popleft()
            if job.future.cancelled():
                continue
            if job.kind == kind and len(taken) < limit:
                taken.append(job)
            else:
                kept.append(job)
        self._jobs = kept
        self._on_depth(len(self._jobs))
        return taken

    def _next(self, free: int, divisor: int) -> tuple[list[Job], float | None]:
        """The jobs of the next call, or none and how long to wait for more; `free` workers are idle.

        A generator call takes its share of the waiting jobs, len / divisor (at most max_batch), so
        that on several workers one big batch does not leave another worker idle while its own
        clients wait behind that batch.
        """
        live = [j for j in self._jobs if not j.future.cancelled()]
        generates = [j for j in live if j.kind == "generate"]
        if generates:
            waited = time.monotonic() - generates[0].queued_at
            # With another worker idle, running now beats waiting for a fuller batch.
            if len(generates) >= self.max_batch or self._announced == 0 or waited >= self.max_wait or free > 1:
                return self._take("generate", min(self.max_batch, -(-len(generates) // divisor))), None
            if not any(j.kind == "encode" for j in live):
                return [], self.max_wait - waited
        if any(j.kind == "encode" for j in live):
            return self._take("encode", 1), None
        self._take("none", 0)  # drop cancelled jobs
        return [], None

    async def _serve(self) -> None:
        while True:
            # One round hands work to every idle worker. When all are idle the waiting jobs are split
            # among them; when some are busy, a call takes 1 / workers of what waits and leaves the
            # rest for the busy ones, which will be free soon.
            free = self.workers - len(self._running)
            divisor = free if free == self.workers else self.workers
            wait, started = None, 0
            while started < free:
                jobs, wait = self._next(free - started, divisor)
                if not jobs:
                    break
                if jobs[0].kind == "generate":
                    divisor = max(divisor - 1, 1) if free == self.workers else divisor
                task = asyncio.get_running_loop().create_task(self._call(jobs))
                self._running.add(task)
                started += 1
            if started:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def _call(self, jobs: list[Job]) -> None:
        start = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, jobs)
        except Exception as exc:  # a backend failure: every job of the call gets it
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
        else:
            for job, result in zip(jobs, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)
        finally:
            self._running.discard(asyncio.current_task())
            self._wake.set()  # a worker is free
        self._on_batch(jobs[0].kind, len(jobs), time.perf_counter() - start)

    def _run(self, jobs: list[Job]) -> list[Any]:
        """In the worker thread: one backend call for the jobs (one encoder image, or a generator batch)."""
        if jobs[0].kind == "encode":
            image, label = jobs[0].args
            return [self.synth.encode(image, label)]
        labels = np.stack([job.args[0] for job in jobs])
        styles = Styles.concat([job.args[1] for job in jobs])
        images = self.synth.synthesize_each(labels, styles, [j.args[2] for j in jobs], [j.args[3] for j in jobs])
        return list(images)
