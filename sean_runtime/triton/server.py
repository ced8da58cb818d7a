"""`sean triton`: the tritonserver that nvidia-pytriton ships, started directly on a repository.

The server runs in the environment of sean_runtime.triton.environment (its Python backend stub and
numpy < 2 interpreter), listens on 127.0.0.1 unless told otherwise (tritonserver binds every address
by default), is ready when GET /v2/health/ready answers 200, and stops on SIGTERM after its in-flight
requests (EXIT_TIMEOUT_S), taking its stub processes with it.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sean_core.errors import BackendError
from sean_core.interrupts import stop_child
from sean_runtime.backends.openvino import executed_precision
from sean_runtime.triton import config as cfg
from sean_runtime.triton.environment import ServerEnvironment
from sean_runtime.triton.interface import COMPUTES_PARAMETER, graph_runtime

EXIT_TIMEOUT_S = 30  # tritonserver --exit-timeout-secs: how long SIGTERM waits for in-flight requests
PR_SET_PDEATHSIG = 1  # prctl option (Linux): the signal a process gets when its parent dies


def _stop_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, however it dies (kill -9
    of `sean triton` included), so no server is left behind listening."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
READY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Ports:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002


def bind_address(host: str) -> str:
    """The address tritonserver is given for `host`: an IP address as it is, a host name resolved to its first
    IPv4 address. tritonserver's HTTP and metrics servers take the address literally: given `localhost` they
    listened on 255.255.255.255, which nothing reaches, and `sean triton` waited for readiness until its timeout."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except (OSError, UnicodeError) as exc:
        raise BackendError(
            f"host {host!r} has no IPv4 address here ({exc}): give an IP address such as 127.0.0.1 or 0.0.0.0"
        ) from exc


def ports_in_use(host: str, ports: Ports) -> list[str]:
    """The ports of `ports` that another process listens on at `host` ("8000 (HTTP)"): tritonserver would
    fail on them after its models loaded, while a readiness check found the other server ready."""
    taken = []
    host = host.strip("[]")  # an IPv6 address as a URL writes it
    for what, port in (("HTTP", ports.http), ("gRPC", ports.grpc), ("metrics", ports.metrics)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed server's TIME_WAIT is no user
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    taken.append(f"{port} ({what})")
    return taken


def server_command(env: ServerEnvironment, repository: Path, ports: Ports, host: str) -> list[str]:
    return [
        str(env.binary),
        f"--model-repository={repository}",
        f"--backend-directory={env.backends}",
        f"--http-port={ports.http}", f"--grpc-port={ports.grpc}", f"--metrics-port={ports.metrics}",
        f"--http-address={host}", f"--grpc-address={host}", f"--metrics-address={host}",
        f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
        "--allow-gpu-metrics=false",
        "--strict-readiness=true",
    ]


def serving_view(repository: Path, instances: int | None = None) -> Path | None:
    """The repository as this machine serves it: a view with new config.pbtxt files and the version folders
    linked (nothing copied), or None where the repository is served as it is. Its models run `instances`
    instances each (None: as exported), and each Python graph model that runs OpenVINO says in
    COMPUTES_PARAMETER what this machine's CPU computes its precision hint in (fp32 where it lacks the units),
    which clients report as what the graphs compute in: Triton keeps no parameter a model sets itself. The
    caller removes the view."""
    from google.protobuf import text_format

    models = sorted(p for p in repository.iterdir() if (p / cfg.CONFIG_FILE).is_file())
    configs = {m.name: cfg.parse((m / cfg.CONFIG_FILE).read_text(encoding="utf-8"), str(m / cfg.CONFIG_FILE))
               for m in models}
    hints = {name: graph_runtime({k: v.string_value for k, v in parsed.parameters.items()})
             for name, parsed in configs.items()}
    openvino = {name: hint for name, (runtime, hint) in hints.items() if runtime == "openvino"}
    if instances is None and not openvino:
        return None
    computes = {hint: executed_precision(hint) for hint in set(openvino.values())}  # asks OpenVINO once per hint
    view = Path(tempfile.mkdtemp(prefix="sean-triton-"))
    for model in models:
        parsed = configs[model.name]
        if instances is not None:
            for group in parsed.instance_group:
                group.count = instances
        if model.name in openvino:
            parsed.parameters[COMPUTES_PARAMETER].string_value = computes[openvino[model.name]]
        (view / model.name).mkdir()
        (view / model.name / cfg.CONFIG_FILE).write_text(text_format.MessageToString(parsed), encoding="utf-8")
        for version in model.iterdir():
            if version.is_dir():
                (view / model.name / version.name).symlink_to(version.resolve())
    return view


class TritonServer:
    """One tritonserver process: start(), wait_ready(), stop()."""

    def __init__(self, env: ServerEnvironment, repository: Path, ports: Ports = Ports(), host: str = "127.0.0.1",
                 instances: int | None = None, log_file: Path | None = None) -> None:
        self.env, self.ports, self.host = env, ports, bind_address(host)
        self.view = serving_view(repository, instances)
        self.repository = self.view or repository
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        return f"http://{shown}:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.ports.metrics}/metrics"

    def start(self) -> None:
        output = open(self.log_file, "ab") if self.log_file else None
        self.process = subprocess.Popen(
            server_command(self.env, self.repository, self.ports, self.host),
            env=self.env.process_env(), stdout=output, stderr=subprocess.STDOUT if output else None,
            preexec_fn=_stop_with_parent,
        )
        if output:
            output.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until /v2/health/ready answers 200; BackendError when the server exits first or takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                where = f" (its log: {self.log_file})" if self.log_file else ""
                raise BackendError(f"tritonserver exited with code {code} before it was ready{where}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise BackendError(f"tritonserver was not ready within {timeout:.0f} s")

    def stop(self, timeout: float = EXIT_TIMEOUT_S + 15) -> int:
        """SIGTERM, wait for the exit; a server that outlives the timeout is killed. -> its exit code."""
        try:
            if self.process is None:
                return 0
            stop_child(self.process, timeout)
            return self.process.returncode
        finally:
            if self.view is not None:
                shutil.rmtree(self.view, ignore_errors=True)

    def wait(self) -> int:
        return self.process.wait()
