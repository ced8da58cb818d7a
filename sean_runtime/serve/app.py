"""The aiohttp application: routes, status codes, the API key, the body limit and JSON errors.

Every answer that is not a success is JSON {"error": "one line"} with its status:
400 bad input, 401 missing or wrong API key, 404 / 405 unknown route or method, 413 body over the
limit, 503 (with Retry-After) queue full, still loading or shutting down, 504 past the per-request
timeout, 500 anything else; the traceback of a 500 goes to the server log, never to the client.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from sean_runtime.serve.batching import QueueFull
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.runtime import is_bad_input
from sean_runtime.serve.schema import parse_body
from sean_runtime.serve.service import Limits, Service

log = logging.getLogger(__name__)

OPEN_ROUTES = ("/healthz", "/")  # no API key: load balancers probe /healthz; the editor page holds no data
STATIC_PREFIX = "/static/"  # the editor's files (package data), open like its page
STATIC_DIR = Path(__file__).parent / "static"
RETRY_AFTER_S = "1"
ROUTES = (
    "GET / (the editor), GET /healthz, GET /v1/info, GET /v1/samples, POST /v1/encode, POST /v1/synthesize, "
    "GET /metrics"
)
# The browser revalidates (ETag) on every load, so a new version of the editor shows at once.
NO_CACHE = {"Cache-Control": "no-cache"}


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass
class ServerState:
    """What the routes share: the service once the package is loaded, and the drain state."""

    limits: Limits
    metrics: Metrics
    api_key: str | None = None
    service: Service | None = None
    draining: bool = False
    in_flight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def ready_service(self) -> Service:
        """The service, or 503 while the package loads or the server drains."""
        if self.draining:
            raise HttpError(
                503,
                "the server is shutting down; retry (another replica will answer)",
                {"Retry-After": RETRY_AFTER_S},
            )
        if self.service is None:
            raise HttpError(503, "the package is still loading; retry shortly", {"Retry-After": RETRY_AFTER_S})
        return self.service


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(exc: BaseException, state: ServerState, request: web.Request) -> web.Response:
    """Any exception -> a JSON error answer with its status; unexpected ones are logged with their traceback."""
    headers: dict[str, str] = {}
    if isinstance(exc, HttpError):
        status, message, headers = exc.status, str(exc), exc.headers
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        status, message = 413, body_too_large(state.limits)
    elif isinstance(exc, web.HTTPNotFound):
        status, message = 404, f"no route {request.method} {request.path}; the routes are {ROUTES}"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        status, message = 405, f"{request.path} does not take {request.method}; use {', '.join(exc.allowed_methods)}"
    elif isinstance(exc, web.HTTPException):
        status, message = exc.status, exc.reason
    elif isinstance(exc, QueueFull):
        status, message, headers = 503, str(exc), {"Retry-After": RETRY_AFTER_S}
    elif isinstance(exc, asyncio.TimeoutError):
        status, message = 504, f"the request took longer than the server's limit of {state.limits.timeout_s:g} s"
    elif is_bad_input(exc):
        status, message = 400, str(exc)
    else:
        log.exception("%s %s failed", request.method, request.path, exc_info=exc)
        status, message = 500, "internal error: the server log has the details"
    return _json({"error": " ".join(message.split())}, status, headers)


def body_too_large(limits: Limits) -> str:
    return f"the request body is over the server's limit of {limits.max_body_bytes} bytes; send smaller images"


def _authorize(request: web.Request, state: ServerState) -> None:
    if state.api_key is None or request.path in OPEN_ROUTES or request.path.startswith(STATIC_PREFIX):
        return
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else request.headers.get("X-API-Key", "")
    if not hmac.compare_digest(given.encode(), state.api_key.encode()):
        raise HttpError(
            401, "missing or wrong API key: send the header Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"}
        )


def _route(request: web.Request) -> str:
    """The route's path template for metric labels (one label value per route, not per URL)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def build_app(state: ServerState) -> web.Application:
    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    @web.middleware
    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        counted = request.path.startswith("/v1/")
        if counted:
            state.in_flight += 1
            state.metrics.in_flight.inc()
            state.idle.clear()
        try:
            _authorize(request, state)
            response = await handler(request)
        except Exception as exc:
            response = error_response(exc, state, request)
        finally:
            if counted:
                state.in_flight -= 1
                state.metrics.in_flight.dec()
                if state.in_flight == 0:
                    state.idle.set()
        if state.draining:
            response.force_close()  # no keep-alive on a server that is going away
        state.metrics.request(_route(request), response.status, time.perf_counter() - start)
        return response

    async def read_json(request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > state.limits.max_body_bytes:
            raise HttpError(413, body_too_large(state.limits))
        return parse_body(await request.read())

    def inference(run: Callable[[Service, dict[str, Any]], Awaitable[dict[str, Any]]]) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            service = state.ready_service()

            async def work() -> dict[str, Any]:
                return await run(service, await read_json(request))

            return _json(await asyncio.wait_for(work(), state.limits.timeout_s))

        return handle

    async def healthz(request: web.Request) -> web.Response:
        if state.draining or state.service is None:
            return _json({"status": "draining" if state.draining else "loading"}, 503, {"Retry-After": RETRY_AFTER_S})
        return _json({"status": "ok"})

    async def info(request: web.Request) -> web.Response:
        return _json(state.ready_service().info())

    async def samples(request: web.Request) -> web.Response:
        return _json(state.ready_service().samples())

    async def editor(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)

    async def static(request: web.Request) -> web.FileResponse:
        # {name} matches no "/", so only files directly in STATIC_DIR are reachable
        path = STATIC_DIR / request.match_info["name"]
        if request.match_info["name"].startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=NO_CACHE)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=state.metrics.render(), headers={"Content-Type": state.metrics.content_type})

    app = web.Application(middlewares=[answer], client_max_size=state.limits.max_body_bytes)
    app.router.add_get("/", editor)
    app.router.add_get(STATIC_PREFIX + "{name}", static)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/info", info)
    app.router.add_get("/v1/samples", samples)
    app.router.add_post("/v1/encode", inference(Service.encode))
    app.router.add_post("/v1/synthesize", inference(Service.synthesize))
    app.router.add_get("/metrics", metrics)
    return app
