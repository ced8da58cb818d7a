"""`sean triton`: serve an exported repository with the tritonserver of nvidia-pytriton (docs/triton.md)."""

from __future__ import annotations

import signal
import sys
from dataclasses import astuple
from pathlib import Path
from types import FrameType

import click
import tritonclient.grpc  # noqa: F401 (the `triton` extra: configs are read with its model_config_pb2)

from sean_core.command import Count, SeanCommand
from sean_core.errors import PackageError
from sean_core.interrupts import heeded
from sean_runtime.triton.environment import ENV_VARIABLE, server_environment
from sean_runtime.triton.repository import check_repository_package, read_repository
from sean_runtime.triton.server import Ports, TritonServer, bind_address, ports_in_use

MAX_PORT = 65535


@click.command(cls=SeanCommand)
@click.argument("repository", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0: every interface; a host name binds its IPv4 address).")
@click.option("--port", type=click.IntRange(1, MAX_PORT), default=8000, show_default=True, help="HTTP port.")
@click.option("--grpc-port", type=click.IntRange(1, MAX_PORT), default=None, help="gRPC port (default: --port + 1).")
@click.option("--metrics-port", type=click.IntRange(1, MAX_PORT), default=None,
              help="Prometheus metrics port (default: --port + 2).")
@click.option("--instances", type=Count(1, 64), default=None,
              help="Instances of every model (default: as exported).")
@click.option("--env", "env_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"The Python models' environment (default: built once in the user's cache; or ${ENV_VARIABLE}).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write tritonserver's log here instead of the terminal.")
def triton(
    repository: Path, host: str, port: int, grpc_port: int | None, metrics_port: int | None, instances: int | None,
    env_dir: Path | None, log_file: Path | None,
) -> None:
    """Start Triton Inference Server on a repository of `sean export-triton --backend python`.

    The first start builds the Python models' environment (numpy < 2 for Triton's Python backend stub,
    ONNX Runtime, nvidia-pytriton with tritonserver, this project; about a minute, from PyPI); later
    starts reuse it. Prints one line with the URLs when every model is ready; SIGTERM / SIGINT / SIGHUP
    let the requests in flight finish and exit 0 (before it is ready: one line saying it stopped, exit 0).

    \b
    Examples (models/triton from `sean export-triton demo-out/package -o models/triton`, after
    `sean demo -o demo-out`):
      sean triton models/triton
      sean triton models/triton --port 9000 --instances 2
      sean synth --triton http://127.0.0.1:8000 --label demo-out/inputs/test/labels/00.png \\
          --style demo-out/inputs/test/images/00.png -o out.png
    """
    ports = Ports(port, grpc_port or port + 1, metrics_port or port + 2)
    beyond = [f"{what} port {number}" for what, number in (("gRPC", ports.grpc), ("metrics", ports.metrics))
              if number > MAX_PORT]
    if beyond:  # the defaults --port + 1 and + 2
        raise click.UsageError(
            f"--port {port} puts the {' and '.join(beyond)} above {MAX_PORT}: choose a lower --port, or give "
            f"--grpc-port and --metrics-port"
        )
    if len(set(astuple(ports))) < 3:
        raise click.UsageError(f"HTTP, gRPC and metrics need three different ports, got {astuple(ports)}: "
                               f"change --port, --grpc-port or --metrics-port")
    host = bind_address(host)
    facts = read_repository(repository)
    if facts.get("backend") != "python":
        raise PackageError(
            f"{repository} runs its graphs on Triton's {facts.get('backend')} backend, which the tritonserver of "
            f"nvidia-pytriton lacks: run it in NVIDIA's container ({repository / 'README.md'}), or export with "
            f"--backend python"
        )
    check_repository_package(repository, facts)
    taken = ports_in_use(host, ports)
    if taken:
        raise click.UsageError(
            f"port {', '.join(taken)} is in use on {host} (another server?): choose another --port (gRPC and "
            f"metrics take the next two unless --grpc-port and --metrics-port are given)"
        )
    env = server_environment(env_dir, log=lambda line: click.echo(line, err=True))
    server: TritonServer | None = None
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        if server is not None and server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)

    # From here a stop signal is this handler, not a KeyboardInterrupt that could come between starting the
    # child and keeping its handle: tritonserver is started and stopped in one piece (its own SIGTERM lets the
    # requests in flight finish).
    for sig in heeded((signal.SIGTERM, signal.SIGINT, signal.SIGHUP)):
        signal.signal(sig, stop)
    server = TritonServer(env, repository.resolve(), ports, host, instances, log_file)
    try:
        server.start()
        try:
            if not stopping:
                server.wait_ready()
        except Exception:
            if not stopping:
                raise
        if stopping:
            raise KeyboardInterrupt  # a server's stop before serving: one line and exit 0 (sean_core.cli)
        click.echo(f"Triton ready: {server.url} (gRPC {server.grpc_url.removeprefix('grpc://')}, metrics "
                   f"{server.metrics_url}), models {', '.join(facts['models'])}", err=False)
        sys.stdout.flush()
        code = server.wait()
    finally:
        server.stop()
    if code != 0:
        raise click.ClickException(f"tritonserver exited with code {code}")
