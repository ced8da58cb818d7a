"""`sean serve`: a package over HTTP with dynamic batching, limits and Prometheus metrics (docs/serving.md)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import click

from sean_core.command import PACKAGE, THREADS, Amount, Count, SeanCommand
from sean_core.interrupts import exit_now, stopped_before_serving
from sean_runtime.backends import BACKENDS, PRECISION_HINTS
from sean_runtime.commands import BACKEND_HELP, PRECISION_HELP
from sean_runtime.serve.app import host_name
from sean_runtime.serve.server import ServeConfig, serve
from sean_runtime.serve.service import Limits
from sean_runtime.synthesizer import Synthesizer


def read_api_key(path: Path) -> str:
    """The key is the file's content without surrounding whitespace; a file that cannot be read, is not
    UTF-8, is empty or holds white space inside the key is an error that says which."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.ClickException(f"--api-key-file {path}: cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"--api-key-file {path}: the file is not UTF-8 text ({exc.reason} at byte "
                                   f"{exc.start}); write the key as text") from exc
    if not key:
        raise click.ClickException(f"--api-key-file {path}: the file must hold one key (no spaces), found none")
    if any(c.isspace() for c in key):
        raise click.ClickException(f"--api-key-file {path}: the file must hold one key, with no spaces or line "
                                   f"breaks inside it; found white space inside it")
    return key


HOST_NAME = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")  # a name, an IPv4 or a bracketed IPv6 address


def host_names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """--allow-host: '*', or names / addresses as a Host header gives them without its port -> as
    app.host_name reads them from a request (lower case, IPv6 without brackets)."""
    names = []
    for value in values:
        name = "*" if value == "*" else (host_name(value) if HOST_NAME.fullmatch(value) else None)
        if name is None:
            raise click.BadParameter(f"{value!r} is not a host name without a port (e.g. sean.example.com), or '*'")
        names.append(name)
    return tuple(names)


@click.command(cls=SeanCommand)
@click.argument("package", type=PACKAGE)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help=BACKEND_HELP)
@click.option("--threads", type=THREADS, default=None,
              help="CPU threads for ONNX Runtime / OpenVINO (default: one per physical core).")
@click.option("--precision", type=click.Choice(PRECISION_HINTS), default="f32", show_default=True,
              help=PRECISION_HELP)
@click.option("--workers", type=Count(1, 64), default=1, show_default=True,
              help="Backend calls at once, each on its own thread (onnxruntime or openvino above 1; OpenVINO "
              "then compiles as many streams); on a CPU, workers x --threads = cores gives the most throughput.")
@click.option("--max-batch", type=Count(1, 256), default=8, show_default=True,
              help="Most images in one generator call (1: no batching).")
@click.option("--max-wait-ms", type=Amount(0, 1000), default=5.0, show_default=True,
              help="Longest a batch waits for more requests.")
@click.option("--max-queue", type=Count(1, 100_000), default=64, show_default=True,
              help="Jobs waiting for inference before requests get 503 + Retry-After; a request that needs "
              "more encoder jobs at once (one per style image) gets 413.")
@click.option("--timeout-s", type=Amount(0.1, 86_400), default=30.0, show_default=True,
              help="Per-request limit (504 past it; 408 where the body has not all arrived).")
@click.option("--header-timeout-s", type=Amount(0.1, 3600), default=10.0, show_default=True,
              help="Longest a request's headers may take from its first byte (408 and closed past it).")
@click.option("--max-connections", type=Count(1, 1_000_000), default=1000, show_default=True,
              help="Connections open at once; one more is answered 503 and closed (the open-file limit is "
              "raised to fit, where the system allows).")
@click.option("--max-body-mb", type=Amount(0.001, 4096), default=16.0, show_default=True,
              help="Largest request body (413 past it).")
@click.option("--max-image-pixels", type=Count(1, 1 << 30), default=4096 * 4096, show_default=True,
              help="Largest decoded image or label map, width x height (400 past it).")
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Require `Authorization: Bearer KEY` (or X-API-Key) with the key in this file (401 without).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request answered: client, method, path (no query), status, ms; never a header.")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME", callback=host_names,
              help="Without --api-key-file on a loopback address, the server answers only requests whose Host is "
              "localhost or a loopback address (a guard against DNS rebinding); also answer NAME (repeatable; "
              "'*': any, e.g. behind a balancer that forwards its clients' Host).")
@click.option("--samples", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Dataset folder in the domain's layout whose pairs GET /v1/samples serves.")
@click.option("--samples-split", default="test", show_default=True, help="Split of --samples.")
@click.option("--max-samples", type=Count(1, 1000), default=16, show_default=True, help="Samples served.")
@click.option("--segmenter", type=click.Path(path_type=Path), default=None, metavar="ONNX",
              help="Segmenter that labels style images sent without a label map (docs/plugins.md, \"Segmenters\"). "
              "Default: $SEAN_SEGMENTER, else the domain plugin's.")
def serve_command(
    package: Path,
    host: str,
    port: int,
    backend: str,
    threads: int | None,
    precision: str,
    workers: int,
    max_batch: int,
    max_wait_ms: float,
    max_queue: int,
    timeout_s: float,
    header_timeout_s: float,
    max_connections: int,
    max_body_mb: float,
    max_image_pixels: int,
    api_key_file: Path | None,
    access_log: bool,
    allowed_hosts: tuple[str, ...],
    samples: Path | None,
    samples_split: str,
    max_samples: int,
    segmenter: Path | None,
) -> None:
    """Serve a package over HTTP: JSON in and out, images as base64 PNG / JPEG.

    Prints one line with the URL when the package is loaded. SIGTERM / SIGINT finish the requests in
    flight, refuse new ones and exit 0. Routes: GET / (the editor, docs/editor.md), GET /healthz,
    GET /v1/info, GET /v1/samples, POST /v1/encode, POST /v1/synthesize, GET /metrics, GET /openapi.json
    (this server's OpenAPI 3.1 document; docs/serving.md).

    \b
    Examples:
      sean serve packages/shapes
      python3 -c "import secrets; print(secrets.token_urlsafe(32))" > key.txt   # an API key
      sean serve packages/shapes --port 9000 --max-batch 8 --api-key-file key.txt
      sean serve packages/shapes --precision bf16
      curl -s localhost:8000/v1/info
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServeConfig(
        package=package,
        host=host,
        port=port,
        backend=backend,
        threads=threads,
        precision=precision,
        max_batch=max_batch,
        workers=workers,
        max_wait_ms=max_wait_ms,
        limits=Limits(
            max_body_bytes=int(max_body_mb * 2**20),
            max_pixels=max_image_pixels,
            max_queue=max_queue,
            timeout_s=timeout_s,
            header_timeout_s=header_timeout_s,
            max_connections=max_connections,
        ),
        api_key=read_api_key(api_key_file) if api_key_file else None,
        access_log=access_log,
        allowed_hosts=allowed_hosts,
        samples=samples,
        samples_split=samples_split,
        max_samples=max_samples,
        segmenter=segmenter,
    )

    def ready(url: str, synth: Synthesizer) -> None:
        click.echo(f"serving {url} : {synth.describe()}")

    try:
        served = asyncio.run(serve(config, ready))
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    if not served:
        click.echo(stopped_before_serving("serve"), err=True)
        exit_now(0)
