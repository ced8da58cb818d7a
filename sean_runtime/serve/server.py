"""Start the service, say when it is ready, drain on SIGTERM / SIGINT.

The port is bound first and /healthz answers 503 while the package loads, so a load balancer or an
orchestrator can watch a replica come up. On SIGTERM or SIGINT the server stops taking work (503 with
Retry-After, /healthz 503) and finishes the requests in flight; then it stops new connections while
it still listens, answers every connection the kernel had already accepted, closes and returns
normally (exit 0). Closing a listening socket resets the connections waiting in its accept queue,
so on Linux a socket filter that drops each connection's first packet (SYN without ACK) makes the
kernel stop starting handshakes first (the client's SYN goes unanswered, and after the close it is
refused), while handshakes already under way complete; the accept queue is read empty before the
close. A signal during the drain is logged; the process still exits 0.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import ipaddress
import logging
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from sean_core.interrupts import heeded
from sean_runtime.serve.app import (
    HANDLER_ARGS,
    REFUSAL_LOG_EVERY_S,
    ServerState,
    ServiceProtocol,
    ThrottledLog,
    build_app,
    held_back,
    http11_requests,
)
from sean_runtime.serve.batching import InferenceQueue
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.runtime import BackendError, Synthesizer
from sean_runtime.serve.service import Limits, Service, load_samples

log = logging.getLogger(__name__)

DRAIN_GRACE_S = 5.0  # beyond the request timeout, for answers to be written
ANSWER_GRACE_S = 2.0  # for connections accepted at the end of the drain to send their request
HANDSHAKE_S = 0.1  # for the handshakes under way when new ones stop
ACCEPT_SETTLE_S = 0.1
SO_ATTACH_FILTER = 26  # Linux socket option: a classic BPF program run on each packet the socket receives
# Classic BPF opcodes; a TCP socket's filter sees the packet from the TCP header on (byte 13: the flags).
BPF_LD_B_ABS, BPF_AND_K, BPF_JEQ_K, BPF_RET_K = 0x30, 0x54, 0x15, 0x06
TCP_FLAGS_OFFSET, TCP_SYN, TCP_ACK = 13, 0x02, 0x10
TCP_INFO = 11  # Linux: struct tcp_info; for a listening socket tcpi_unacked is the accept queue's length
TCPI_UNACKED_OFFSET = 24
BACKLOG = 128  # connections the kernel completes before the server accepts them
# Descriptors beyond --max-connections: asyncio accepts up to BACKLOG sockets at a time before the
# connections count them, refused ones hold theirs until they close, and the package, the log and the
# backend's threads need some.
FILES_RESERVED = 2 * BACKLOG + 256
ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's log message, once per failed accept
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024


@dataclass(frozen=True)
class ServeConfig:
    package: Path
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port (the ready line names it)
    backend: str = "auto"
    threads: int | None = None
    precision: str = "f32"  # Synthesizer.load's precision_hint (bf16 / f16: OpenVINO)
    max_batch: int = 8
    max_wait_ms: float = 5.0
    workers: int = 1  # backend calls at once (ONNX Runtime or OpenVINO above 1)
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    access_log: bool = True  # one INFO line per request answered (app.ServerState.answered)
    # Host names answered besides the loopback's by a server without a key on a loopback address, as
    # app.host_name gives them (lower case, IPv6 without brackets); "*": any
    allowed_hosts: tuple[str, ...] = ()
    samples: Path | None = None  # a dataset folder in the domain's layout
    samples_split: str = "test"
    max_samples: int = 16
    segmenter: Path | None = None  # Synthesizer.load's segmenter (None: $SEAN_SEGMENTER, else the domain's)


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


def connections_allowed(wanted: int) -> int:
    """How many connections the process can hold open, up to `wanted`: the soft limit on open files is
    raised toward the hard one as far as `wanted` + FILES_RESERVED needs; what it still lacks lowers
    the count. A process out of descriptors cannot accept, and asyncio logs a traceback per try."""
    try:
        import resource
    except ImportError:  # not POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FILES_RESERVED
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FILES_RESERVED))


class ThrottledAcceptErrors(logging.Filter):
    """asyncio logs a traceback for every accept that fails for want of descriptors, thousands a second
    under a flood of connections: one of them per period passes, with the count of the others."""

    def __init__(self, period_s: float) -> None:
        super().__init__()
        self.throttle = ThrottledLog(period_s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(ACCEPT_ERROR):
            return True
        held = self.throttle.admit()
        if held is None:
            return False
        record.msg = f"{record.msg}{held_back(held)}"
        record.exc_info, record.exc_text = None, None  # the reason is in the message; no traceback
        return True


def is_loopback_socket(sock: socket.socket) -> bool:
    try:
        return ipaddress.ip_address(sock.getsockname()[0]).is_loopback
    except ValueError:  # not an IP socket
        return False


class _BpfInstruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_BpfInstruction))]


def stop_handshakes(sock: socket.socket) -> bool:
    """Make the kernel drop the SYNs that reach a listening socket, so that it starts no new connection;
    a handshake under way still completes (its ACK passes) and lands in the accept queue. False where
    this is not Linux."""
    if not sys.platform.startswith("linux"):
        return False
    program = (_BpfInstruction * 5)(
        _BpfInstruction(BPF_LD_B_ABS, 0, 0, TCP_FLAGS_OFFSET),  # A = the TCP flags
        _BpfInstruction(BPF_AND_K, 0, 0, TCP_SYN | TCP_ACK),
        _BpfInstruction(BPF_JEQ_K, 0, 1, TCP_SYN),  # SYN without ACK: the next instruction, else skip it
        _BpfInstruction(BPF_RET_K, 0, 0, 0),  # drop
        _BpfInstruction(BPF_RET_K, 0, 0, 0xFFFFFFFF),  # keep the whole packet
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(_BpfProgram(len(program), program)))
    except OSError:
        return False
    return True


def accept_queue_length(sock: socket.socket) -> int | None:
    """Connections the kernel completed that the server has not accepted yet; None where unknown."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
    except OSError:
        return None
    return struct.unpack_from("I", info, TCPI_UNACKED_OFFSET)[0] if len(info) >= TCPI_UNACKED_OFFSET + 4 else None


async def _until(done: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Poll done() until it holds or `timeout` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def close_listener(listener: asyncio.AbstractServer, state: ServerState) -> None:
    """Stop new connections, accept what the kernel already completed, answer it, then close."""
    sockets = list(listener.sockets)
    for sock in sockets:
        stop_handshakes(sock)

    def queues_empty() -> bool:
        return all(accept_queue_length(s) in (0, None) for s in sockets)

    await asyncio.sleep(HANDSHAKE_S)  # handshakes under way complete
    await _until(queues_empty, ANSWER_GRACE_S)
    # asyncio gives each accepted socket its transport in a task of its own; a close before that task
    # runs would drop the socket (Server._attach asserts the server is open)
    await asyncio.sleep(ACCEPT_SETTLE_S)
    listener.close()
    if not await _until(lambda: state.answers_owed() == 0, ANSWER_GRACE_S):
        log.warning("%d connection(s) sent no complete request in %g s; closing them", state.answers_owed(),
                    ANSWER_GRACE_S)


def _load(config: ServeConfig) -> tuple[Synthesizer, list[dict[str, str]]]:
    synth = Synthesizer.load(
        config.package, backend=config.backend, threads=config.threads, precision_hint=config.precision,
        segmenter=config.segmenter, workers=config.workers,
    )
    if config.workers > 1 and synth.backend.name == "tensorrt":
        synth.close()
        raise BackendError(
            f"--workers {config.workers} needs the onnxruntime or openvino backend: the tensorrt backend holds one "
            f"execution context, so it runs one call at a time; use --workers 1"
        )
    samples = (
        load_samples(synth, config.samples, config.samples_split, config.max_samples) if config.samples else []
    )
    return synth, samples


def in_daemon_thread(loop: asyncio.AbstractEventLoop, function: Callable, *args: object) -> asyncio.Future:
    """function(*args) on a daemon thread, its result in the returned future. Not asyncio.to_thread: its
    executor's threads are joined when the loop and the interpreter close, so a SIGTERM during a load waited
    for the whole load; a daemon thread can be left behind (interrupts.exit_now)."""
    future = loop.create_future()

    def settle(result: object, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        result, error = None, None
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting coroutine, as to_thread does
            error = exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop closed: the server stopped without waiting for this
            pass

    threading.Thread(target=run, name="sean-load", daemon=True).start()
    return future


async def serve(config: ServeConfig, on_ready: Callable[[str, Synthesizer], None]) -> bool:
    """Run until SIGTERM / SIGINT; on_ready(url, synthesizer) once the package is loaded. Returns whether
    it served: False when stopped while the package loads, with the load's thread left running (end the
    process with interrupts.exit_now rather than wait for it).

    Raises the runtime's errors when the package or the samples cannot be loaded.
    """
    return_large_blocks_to_the_os()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.info("%s: already draining (%d request(s) in flight); exiting when done", sig.name, state.in_flight)
        stop.set()

    # SIGTERM is how a process manager stops a replica, so it always drains it. SIGINT (Ctrl-C) and SIGHUP
    # (a closed terminal) do too unless the process ignores them (interrupts.heeded): `nohup sean serve`
    # ignores SIGHUP, and a script's `sean serve &` starts with SIGINT ignored, as its shell leaves a background
    # job out of the Ctrl-C that the script gets.
    stop_signals = [signal.SIGTERM, *heeded([signal.SIGINT, signal.SIGHUP])]
    for sig in stop_signals:
        loop.add_signal_handler(sig, on_signal, sig)
    accept_errors = ThrottledAcceptErrors(REFUSAL_LOG_EVERY_S)
    logging.getLogger("asyncio").addFilter(accept_errors)
    metrics = Metrics(config.max_batch)
    limits = config.limits
    allowed = connections_allowed(limits.max_connections)
    if allowed < limits.max_connections:
        log.warning("--max-connections %d lowered to %d: the process may open no more files (ulimit -n)",
                    limits.max_connections, allowed)
        limits = dataclasses.replace(limits, max_connections=allowed)
    state = ServerState(limits, metrics, config.api_key, access_log=config.access_log)
    runner = web.AppRunner(build_app(state), handle_signals=False, shutdown_timeout=DRAIN_GRACE_S)
    await runner.setup()
    http11_requests(runner.server)
    queue: InferenceQueue | None = None
    listener: asyncio.AbstractServer | None = None
    try:
        # The listener is the service's own, not an aiohttp site: its connections get ServiceProtocol,
        # and the drain closes it as described above.
        listener = await loop.create_server(
            lambda: ServiceProtocol(runner.server, state, loop=loop, access_log=None, **HANDLER_ARGS),
            config.host,
            config.port,
            backlog=BACKLOG,
        )
        host, port = listener.sockets[0].getsockname()[:2]
        loopback = all(map(is_loopback_socket, listener.sockets))
        if config.api_key is None and loopback and "*" not in config.allowed_hosts:
            state.allowed_hosts = frozenset(config.allowed_hosts)
        loading = in_daemon_thread(loop, _load, config)
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not loading.done():
            state.draining = True
            await close_listener(listener, state)
            return False
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
        await close_listener(listener, state)
    finally:
        logging.getLogger("asyncio").removeFilter(accept_errors)
        if listener is not None:
            listener.close()
        await runner.cleanup()
        if queue is not None:
            await queue.stop()
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
            if stop.is_set():  # the process is only exiting now: a late signal must not kill it (exit 0)
                signal.signal(sig, signal.SIG_IGN)
    log.info("stopped")
    return True
