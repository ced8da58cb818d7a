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
