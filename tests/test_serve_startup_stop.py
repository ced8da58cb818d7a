"""`sean serve` stopped by SIGTERM at each moment of its start-up, as systemd or Kubernetes stop a replica:
the process ends promptly with exit 0 and one line saying it stopped before serving."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STOPPED = "serve stopped (Ctrl-C or a termination signal) before serving"

# The child stalls (30 s) at one point of the start-up, after printing a line that says it got there.
STALLED_SERVE = """
import sys, time
point, package, port = sys.argv[1], sys.argv[2], sys.argv[3]
if point == "import":
    import importlib.abc
    class Stall(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "sean_runtime.serve.app":
                print("stalled", flush=True)
                time.sleep(30)
            return None
    sys.meta_path.insert(0, Stall())
else:  # "load": the package loads for 30 s
    import sean_runtime.serve.server as server
    load = server._load
    def slow_load(config):
        time.sleep(30)
        print("loaded", flush=True)
        return load(config)
    server._load = slow_load
from sean_core.cli import main
main(["serve", package, "--port", port])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port: int) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    except OSError:
        return None


def stop_and_wait(proc: subprocess.Popen) -> tuple[float, str, str]:
    """SIGTERM, then (seconds to the exit, stdout, stderr)."""
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 5 s after SIGTERM: {err[-500:]}")
    return time.monotonic() - start, out, err


def stalled(point: str, package: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    return subprocess.Popen([sys.executable, "-c", STALLED_SERVE, point, str(package), str(port)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_while_serve_imports_ends_it_at_once_with_exit_0_and_one_line(shapes_package):
    # it ended as the signal does by default: status 143 (-15 to Popen), nothing said
    proc = stalled("import", shapes_package, free_port())
    assert proc.stdout.readline() == "stalled\n"
    seconds, _out, err = stop_and_wait(proc)
    assert proc.returncode == 0, err
    assert err.strip() == STOPPED
    assert seconds < 1.0


@pytest.mark.slow
def test_sigterm_while_the_package_loads_ends_serve_at_once_without_waiting_for_the_load(shapes_package):
    # the stop waited for the whole load (the loop's executor thread is joined at exit), then said it in the log
    port = free_port()
    proc = stalled("load", shapes_package, port)
    deadline = time.monotonic() + 60
    while healthz(port) != 503:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "no port"
        time.sleep(0.05)
    seconds, out, err = stop_and_wait(proc)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == STOPPED  # after the access log's line of the /healthz above
    assert "Traceback" not in err and "loaded" not in out
    assert seconds < 1.0


@pytest.mark.slow
def test_sighup_drains_a_serving_server_as_sigterm_does(shapes_package):
    # a closed terminal (SIGHUP) ended the process at once (status 129)
    from tests.test_serve import Server

    server = Server(shapes_package)
    assert server.stop(signal.SIGHUP) == 0
    log = "".join(server.log)
    assert "draining" in log and STOPPED not in log


@pytest.mark.slow
def test_an_ignored_sigint_stays_ignored_and_sigterm_still_drains(shapes_package):
    # a script's `sean serve &` starts with SIGINT ignored, so that the script's Ctrl-C leaves the server
    # running: the server installs no handler of its own over it
    from tests.test_serve import Server

    server = Server(shapes_package, ignoring=(signal.SIGINT,))
    try:
        server.process.send_signal(signal.SIGINT)
        time.sleep(0.5)  # a heeded SIGINT sets the drain going within milliseconds
        assert server.process.poll() is None and healthz(server.port) == 200
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0 and "draining" in "".join(server.log)


def test_an_ignored_hangup_stays_ignored_so_that_nohup_works():
    # the CLI turns SIGHUP into a stop; under `nohup` (SIGHUP ignored) a closed terminal must not stop it
    from sean_core.interrupts import stopped_on_sigterm

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stopped_on_sigterm():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


# `sean triton` stalled at one point of its start-up: "environment" (building or checking the Python models'
# environment, 30 s), or "ready" (a child in tritonserver's place that never gets ready; it prints its pid).
STALLED_TRITON = """
import sys, time
from pathlib import Path
point, repository, port = sys.argv[1], sys.argv[2], sys.argv[3]
import sean_runtime.triton.environment as environment
import sean_runtime.triton.repository as repositories
import sean_runtime.triton.server as server
repositories.read_repository = lambda path: {"backend": "python", "models": ["sean"]}
repositories.check_repository_package = lambda path, facts: None
if point == "environment":
    def stalled_environment(location=None, log=print):
        print("stalled", flush=True)
        time.sleep(30)
    environment.server_environment = stalled_environment
else:
    env = environment.ServerEnvironment(Path(sys.prefix), Path(sys.prefix))
    environment.server_environment = lambda location=None, log=print: env
    server.serving_view = lambda repository, instances=None: None
    child = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    server.server_command = lambda env, repository, ports, host: [sys.executable, "-c", child]
from sean_core.cli import main
main(["triton", repository, "--port", port])
"""


@pytest.mark.slow
@pytest.mark.parametrize("point", ["environment", "ready"])
def test_sigterm_during_the_start_up_of_sean_triton_stops_it_and_its_server_with_exit_0_and_one_line(point, tmp_path):
    # it ended with "Aborted!" (exit 1) while its environment was checked, and with tritonserver's status and
    # nothing said (exit 241) while the models loaded
    pytest.importorskip("tritonclient.grpc", reason="needs the 'triton' extra (tritonclient)")
    from sean_core.files import process_alive

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    # three free ports in a row: HTTP, gRPC and metrics
    port = next(p for p in iter(free_port, None) if p < 65000 and all(is_free(p + i) for i in (1, 2)))
    proc = subprocess.Popen([sys.executable, "-c", STALLED_TRITON, point, str(tmp_path), str(port)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    child = None if point == "environment" else int(first)
    assert point != "environment" or first == "stalled\n", proc.stderr.read() if proc.poll() is not None else first
    seconds, _out, err = stop_and_wait(proc)
    assert proc.returncode == 0, err
    assert err.strip() == "triton stopped (Ctrl-C or a termination signal) before serving"
    assert child is None or not process_alive(child)
    assert seconds < 5.0


def is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
