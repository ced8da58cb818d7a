"""The aiohttp application: routes, status codes, the API key, the body limit and JSON errors.

Every answer that is not a success is JSON {"error": "one line"} with its status:
400 bad input (also a malformed HTTP request: ServiceProtocol), 401 missing or wrong API key,
403 a Host that is not this machine's (a server without a key on a loopback address), 404 / 405
unknown route or method, 408 headers slower than --header-timeout-s or a body not all arrived within
--timeout-s (the connection closed), 413 body over the limit or more
jobs than --max-queue, 415 a Content-Encoding other than gzip or deflate, 417 an Expect other than
100-continue, 505 an HTTP version other than HTTP/1.x (closed, in HTTP/1.1; HTTP/1.2 .. 1.9 are read as
HTTP/1.1 where aiohttp's parser takes them: HTTP_VERSIONS), 503 (with Retry-After)
queue full, still loading, shutting down or --max-connections open, 504 past the per-request
timeout, 500 anything else; the traceback of a 500 goes to the server log, never to the client.

Nothing a request carries becomes a path: the editor's files are a table of names made once from
the package's static folder, and images travel inside the JSON bodies (docs/serving.md, "What is open").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http
import ipaddress
import itertools
import json
import logging
import mimetypes
import re
import time
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import HttpVersion, HttpVersion10, HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import ERROR as REFUSED_REQUEST

from sean_runtime.serve.batching import QueueFull, RequestTooLarge
from sean_runtime.serve.encoding import BodyTooLarge, UnsupportedEncoding, decode_body
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.openapi import openapi_document
from sean_runtime.serve.routes import (
    API_KEY_HEADER,
    HEALTH_DRAINING,
    HEALTH_LOADING,
    HEALTH_OK,
    OPEN_ROUTES,
    OPENAPI_PATH,
    RETRY_AFTER_S,
    STATIC_PREFIX,
)
from sean_runtime.serve.runtime import is_bad_input
from sean_runtime.serve.schema import parse_body
from sean_runtime.serve.service import Limits, Service

log = logging.getLogger(__name__)
# One line per request the routes answer (ServerState.answered); --no-access-log turns it off.
access_logger = logging.getLogger(__name__.rsplit(".", 1)[0] + ".access")

STATIC_DIR = Path(__file__).parent / "static"
# A connection that sends nothing (before its first request or between two) is closed after this long;
# above the common load balancers' idle timeout (60 s), so that they close an idle connection first.
KEEPALIVE_S = 75.0
HANDLER_ARGS = {"auto_decompress": False, "keepalive_timeout": KEEPALIVE_S}  # aiohttp's connection settings
MALFORMED_ROUTE = "malformed"  # the metrics' route label of requests the HTTP parser refused
CONNECTION_ROUTE = "connection"  # ... of connections the server answered itself (408 slow headers, 503 too many)
UNMATCHED_ROUTE = "unmatched"  # ... of requests no route takes (404, 405)
EXCERPT_CHARS = 100  # of request data quoted back in an error
ROUTES = (
    "GET / (the editor), GET /healthz, GET /v1/info, GET /v1/samples, POST /v1/encode, POST /v1/synthesize, "
    f"GET /metrics, GET {OPENAPI_PATH}"
)
# The browser revalidates (ETag) on every load, so a new version of the editor shows at once.
NO_CACHE = {"Cache-Control": "no-cache"}
# Every answer's Server header, for aiohttp's "Python/3.11 aiohttp/3.x.y": a scan learns no versions to match
# against advisories (/v1/info, behind the key, has the package's version).
SERVER_HEADER = "sean"
REFUSAL_LOG_EVERY_S = 10.0  # malformed requests, connections the server refused itself: a log line per period
# The HTTP versions the server speaks. aiohttp's parser also takes HTTP/2.0 and HTTP/0.9 (a request line
# without a version): those are answered 505 (RFC 9110, 15.6.6), in HTTP/1.1 (http11_requests). Its pure-Python
# parser takes HTTP/1.2 .. 1.9 too: those are HTTP/1.1 (RFC 9110, 2.5; its C parser refuses them as malformed).
HTTP_VERSIONS = (HttpVersion11, HttpVersion10)
# A request's version as sent, where it is none of HTTP_VERSIONS (http11_requests); see version_sent.
VERSION_SENT = web.RequestKey("version_sent", HttpVersion)


class ThrottledLog:
    """One INFO line for the first of many like events in each period, with the count of those held back
    since the last line (also the throttle of server.ThrottledAcceptErrors)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.last = -float("inf")
        self.unlogged = 0

    def admit(self) -> int | None:
        """None for an event inside the current period (counted); else the count held back before it."""
        now = time.monotonic()
        if now - self.last < self.period_s:
            self.unlogged += 1
            return None
        held, self.last, self.unlogged = self.unlogged, now, 0
        return held

    def event(self, message: str) -> None:
        held = self.admit()
        if held is not None:
            log.info("%s%s", message, held_back(held))


def held_back(count: int) -> str:
    """The suffix of a throttled log line that says how many like it were not logged."""
    return f" (and {count} more since the last such line)" if count else ""


class HttpError(Exception):
    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.close = close  # the connection is closed after the answer


@dataclass
class ServerState:
    """What the routes share: the service once the package is loaded, and the drain state."""

    limits: Limits
    metrics: Metrics
    api_key: str | None = None
    access_log: bool = True  # a log line per request answered (answered)
    # The Host names answered besides the loopback's, lower case; None: any. server.py sets it for a server
    # without an API key on a loopback address: a web page whose name was rebound to 127.0.0.1 gets 403.
    allowed_hosts: frozenset[str] | None = None
    service: Service | None = None
    draining: bool = False
    in_flight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    connections: set[ServiceProtocol] = field(default_factory=set)  # open ones
    refusals: ThrottledLog = field(default_factory=lambda: ThrottledLog(REFUSAL_LOG_EVERY_S))
    malformed: ThrottledLog = field(default_factory=lambda: ThrottledLog(REFUSAL_LOG_EVERY_S))

    def __post_init__(self) -> None:
        self.idle.set()

    def answers_owed(self) -> int:
        """Open connections that sent bytes not answered yet, or have not had their first answer."""
        return sum(c.owes_answer for c in self.connections)

    def answered(self, request: web.BaseRequest, status: int, seconds: float) -> None:
        """A request the routes answered: counted in the metrics and, with the access log on, one INFO line
        (client address, method, path without its query, status, milliseconds). No header is logged, so
        neither is the API key; nor the query string, where a client may have put one."""
        self.metrics.request(_route(request), status, seconds)
        if self.access_log:
            access_logger.info("%s %s %s %d %.1f ms", request.remote, request.method,
                            shown_path(request), status, seconds * 1000)

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
    close = isinstance(exc, HttpError) and exc.close
    if isinstance(exc, HttpError):
        status, message, headers = exc.status, str(exc), exc.headers
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        status, message = 413, body_too_large(state.limits)
    elif isinstance(exc, (RequestTooLarge, BodyTooLarge)):
        status, message = 413, str(exc)
    elif isinstance(exc, UnsupportedEncoding):
        status, message = 415, str(exc)
    elif isinstance(exc, web.RequestPayloadError):  # a body that cannot be read (bad chunk, not the gzip it says)
        status, message = 400, f"the request body cannot be read: {_last_line(str(exc))}"
    elif isinstance(exc, web.HTTPNotFound):
        status, message = 404, f"no route {request.method} {shown_path(request)}; the routes are {ROUTES}"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        status, message = 405, f"{shown_path(request)} does not take {request.method}; use {allowed}"
        headers = {"Allow": allowed}  # RFC 9110, 15.5.6
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
    response = _json({"error": " ".join(message.split())}, status, headers)
    if close:
        response.force_close()
    return response


def release_frames(exc: BaseException | None) -> None:
    """Clear the variables of the finished frames an error's traceback holds, and those of the errors chained
    to it. A rejected request's decoded images are locals of those frames, and asyncio.wait_for keeps the
    error in a reference cycle: without this they stay in memory until the cycle collector runs (hundreds
    of MB for a 4096² image of 64-bit pixels)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)  # frames still running are left as they are
        exc = exc.__cause__ or exc.__context__


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def shown_path(request: web.BaseRequest) -> str:
    """A request's path as sent (percent escapes kept: /v1%2Finfo is not /v1/info), without its query, cut to
    EXCERPT_CHARS: in error messages and the access log."""
    return _excerpt(request.rel_url.raw_path)


def body_too_large(limits: Limits) -> str:
    return f"the request body is over the server's limit of {limits.max_body_bytes} bytes; send smaller images"


def host_name(host: str) -> str | None:
    """The name or address of a Host header, without its port, lower case; None when malformed."""
    try:
        return urllib.parse.urlsplit("//" + host).hostname or None
    except ValueError:  # a port that is not a number
        return None


def is_loopback_name(host: str) -> bool:
    """Whether a Host header (name or address, with or without a port) names this machine's loopback."""
    name = host_name(host)
    if name is None or "@" in host:  # user info is no part of a Host header; urlsplit would drop it
        return False
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always the loopback
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_host(request: web.Request, state: ServerState) -> None:
    # /healthz says only ok / loading / draining, and health checkers often send no Host (HTTP/1.0)
    if state.allowed_hosts is None or _route(request) == "/healthz":
        return
    host = request.headers.get("Host", "")
    if not is_loopback_name(host) and host_name(host) not in state.allowed_hosts:
        raise HttpError(
            403,
            f"Host {_excerpt(host)!r} is not this machine's loopback: a server without an API key on a loopback "
            f"address answers only requests to localhost or a loopback address (a guard against DNS rebinding); "
            f"serve with --allow-host NAME (or --api-key-file) to answer other names",
        )


def _authorize(request: web.Request, state: ServerState) -> None:
    # By the route the request resolved to, never by the path's text: an unknown path needs the key too.
    if state.api_key is None or _route(request) in OPEN_ROUTES:
        return
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    # the scheme's name is case-insensitive (RFC 9110, 11.1)
    given = credentials.strip() if scheme.lower() == "bearer" else request.headers.get(API_KEY_HEADER, "")
    # aiohttp gives header bytes that are not UTF-8 as surrogate escapes: compared as the bytes sent
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), state.api_key.encode()):
        raise HttpError(
            401, "missing or wrong API key: send the header Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"}
        )


def version_sent(request: web.BaseRequest) -> HttpVersion:
    """The HTTP version the client sent (request.version is HTTP/1.1 for one the server does not speak)."""
    return request.get(VERSION_SENT, request.version)


def _check_version(request: web.Request) -> None:
    sent = version_sent(request)
    if sent not in HTTP_VERSIONS:
        hint = " (a request line without a version is HTTP/0.9)" if sent.major == 0 else ""
        raise HttpError(505, f"HTTP/{sent.major}.{sent.minor} is not supported{hint}; send HTTP/1.1 or HTTP/1.0",
                        close=True)


def http11_requests(server: web.Server) -> None:
    """Make `server` turn a request in a version it does not speak (not in HTTP_VERSIONS) into an HTTP/1.1
    request that closes its connection, with the version sent under VERSION_SENT: the middleware answers it
    505. aiohttp writes an answer's status line in its request's version ("HTTP/2.0 505 ..." with HTTP/1.1
    headers otherwise) and has no setting for it; web.Server's request_factory, the hook that makes every
    request, is where the version can be set (test_serve_security checks the status line).

    A request aiohttp's parser refused reaches the factory as aiohttp's one stand-in message (REFUSED_REQUEST,
    web_protocol.ERROR, in HTTP/1.0 and outside that module's __all__: pyproject.toml's pin says so;
    ServiceProtocol.handle_error answers it 400): it is made HTTP/1.1 too, as the version the
    client sent is not known and a server answers in the highest version it speaks (RFC 9110, 6.2), and
    HTTP/1.1 writes the Connection: close that HTTP/1.0 leaves implicit. A request in a later HTTP/1 minor
    version (HTTP/1.2, which aiohttp's pure-Python parser takes) is made HTTP/1.1 and answered as one."""
    make = server.request_factory

    def request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
        if message is REFUSED_REQUEST or (message.version.major == 1 and message.version > HttpVersion11):
            # a later HTTP/1 minor version is read as the highest one the server speaks (RFC 9110, 2.5)
            return make(message._replace(version=HttpVersion11), payload, protocol, writer, task)
        if message.version in HTTP_VERSIONS:
            return make(message, payload, protocol, writer, task)
        # should_close: closed whatever path answers it (the middleware, the Expect handler, an aiohttp error)
        request = make(message._replace(version=HttpVersion11, should_close=True), payload, protocol, writer, task)
        request[VERSION_SENT] = message.version
        return request

    server.request_factory = request_factory


def _route(request: web.Request) -> str:
    """The route's path template for metric labels (one label value per route, not per URL)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None and resource.name != UNMATCHED_ROUTE else UNMATCHED_ROUTE


@dataclass(frozen=True)
class EditorFile:
    """A fixed answer with an ETag: one of the editor's files, read once when the server starts, or the OpenAPI
    document, made once the package is loaded."""

    body: bytes
    content_type: str
    etag: str  # the tag's value: the ETag header carries it in quotes

    @classmethod
    def of(cls, body: bytes, content_type: str) -> EditorFile:
        return cls(body, content_type, hashlib.sha256(body).hexdigest()[:32])

    def response(self, request: web.Request) -> web.Response:
        """The file, or 304 when the browser's copy is this one (it revalidates on every load: NO_CACHE):
        If-None-Match with this tag, weak or strong (W/"..."), or "*" (RFC 9110, 13.1.2: a weak comparison;
        "*" matches any current representation).

        Served from memory, not with sendfile: a sendfile to a client that reads nothing waits for good,
        where a write from memory is under the connection's stall limit (ServiceProtocol.pause_writing)."""
        headers = {**NO_CACHE, "ETag": f'"{self.etag}"'}
        # aiohttp's parse gives "*" and the tag "*" alike, as an ETag of value *: the header tells them apart
        current = request.headers.get(hdrs.IF_NONE_MATCH) == "*"
        if current or any(tag.value == self.etag for tag in request.if_none_match or ()):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, headers={**headers, "Content-Type": self.content_type})


def editor_files(folder: Path) -> dict[str, EditorFile]:
    """The editor's files by name: the regular files directly in `folder`, read once. Dot files are left out, and
    so are links to a file outside `folder` (is_file follows links): /static/NAME is never a file elsewhere."""
    files = {}
    inside = folder.resolve()
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.resolve().parent == inside:
            body = path.read_bytes()
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind == "application/javascript":
                kind += "; charset=utf-8"
            files[path.name] = EditorFile.of(body, kind)
    return files


def registered_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of each route build_app registers (HEAD with each GET), without the catch-all."""
    return [(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None and route.resource.name != UNMATCHED_ROUTE]


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
        if isinstance(request.protocol, ServiceProtocol):
            request.protocol.request_started(request)
        try:
            _check_version(request)  # before all else: the rest of the request is in a version not spoken
            _check_host(request, state)
            _authorize(request, state)
            response = await handler(request)
        except Exception as exc:
            response = error_response(exc, state, request)
            release_frames(exc)
        finally:
            if counted:
                state.in_flight -= 1
                state.metrics.in_flight.dec()
                if state.in_flight == 0:
                    state.idle.set()
        if state.draining:
            response.force_close()  # no keep-alive on a server that is going away
        state.answered(request, response.status, time.perf_counter() - start)
        return response

    async def read_body(request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > state.limits.max_body_bytes:
            raise HttpError(413, body_too_large(state.limits))
        try:
            return await request.read()
        except ConnectionError:  # aiohttp's "Connection lost": the client left before its whole body came
            log.info("%s %s: the client closed the connection before its whole body arrived", request.method,
                     request.path)
            raise HttpError(400, "the connection closed before the whole request body arrived") from None

    async def parse_json(request: web.Request, body: bytes) -> dict[str, Any]:
        encoding = request.headers.get("Content-Encoding", "")
        # in the thread pool: decompressing and parsing 16 MB of JSON takes a second of the event loop's time
        return await asyncio.to_thread(lambda: parse_body(decode_body(body, encoding, state.limits.max_body_bytes)))

    def inference(run: Callable[[Service, dict[str, Any]], Awaitable[dict[str, Any]]]) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            service = state.ready_service()
            # Whether the whole body came: past the timeout without it the client was slow (408), else the server (504).
            received = False

            async def work() -> dict[str, Any]:
                nonlocal received
                body = await read_body(request)
                received = True
                return await run(service, await parse_json(request, body))

            try:
                return _json(await asyncio.wait_for(work(), state.limits.timeout_s))
            except asyncio.TimeoutError:
                if received:
                    raise
                # with Connection: close (RFC 9110, 15.5.9), the connection closed once aiohttp has read what comes
                # of the body for a while (a close with bytes unread would reset it, and the answer with it)
                raise HttpError(408, f"the request body did not all arrive within the server's limit of "
                                f"{state.limits.timeout_s:g} s; send it at once", close=True) from None

        return handle

    async def healthz(request: web.Request) -> web.Response:
        if state.draining or state.service is None:
            status = HEALTH_DRAINING if state.draining else HEALTH_LOADING
            return _json({"status": status}, 503, {"Retry-After": RETRY_AFTER_S})
        return _json({"status": HEALTH_OK})

    async def info(request: web.Request) -> web.Response:
        return _json(state.ready_service().info())

    async def samples(request: web.Request) -> web.Response:
        return _json(state.ready_service().samples())

    files = editor_files(STATIC_DIR)

    async def editor(request: web.Request) -> web.Response:
        return files["index.html"].response(request)

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        file = files.get(name)  # the name is only ever a key of the table
        if file is None:
            raise HttpError(404, f"the editor has no file named {json.dumps(_excerpt(name))}")
        return file.response(request)

    document: list[tuple[Service, EditorFile]] = []  # the OpenAPI document and the service it describes

    async def openapi(request: web.Request) -> web.Response:
        service = state.ready_service()  # the document names the package's classes and size
        if not document or document[0][0] is not service:
            text = json.dumps(openapi_document(service.info(), registered_routes(app), state.api_key is not None))
            document[:] = [(service, EditorFile.of(text.encode(), "application/json"))]
        return document[0][1].response(request)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=state.metrics.render(), headers={"Content-Type": state.metrics.content_type})

    async def expect(request: web.Request) -> web.Response | None:
        """The Expect header, read before the middleware: 100-continue as aiohttp does it; anything else the
        service's JSON 417 (aiohttp's own is plain text), counted like every answer."""
        value = request.headers.get("Expect", "")
        if version_sent(request) != HttpVersion11:
            return None
        if value.lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer proper has not started
            return None
        state.answered(request, 417, 0.0)
        return _json({"error": f"Expect: {_excerpt(value)} is not understood; only 100-continue is"}, 417)

    # Bodies are decoded by read_json (encoding.py), under any runner: aiohttp's decoder is off.
    app = web.Application(
        middlewares=[answer], client_max_size=state.limits.max_body_bytes, handler_args=HANDLER_ARGS
    )

    async def server_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[hdrs.SERVER] = SERVER_HEADER

    app.on_response_prepare.append(server_header)  # every routed answer; ServiceProtocol sets its own
    for path, handler in (("/", editor), (STATIC_PREFIX + "{name}", static), ("/healthz", healthz),
                          ("/v1/info", info), ("/v1/samples", samples), ("/metrics", metrics),
                          (OPENAPI_PATH, openapi)):  # fmt: skip
        app.router.add_get(path, handler, expect_handler=expect)
    app.router.add_post("/v1/encode", inference(Service.encode), expect_handler=expect)
    app.router.add_post("/v1/synthesize", inference(Service.synthesize), expect_handler=expect)

    async def unmatched(request: web.Request) -> web.Response:
        """404, or 405 with the methods the path's route takes (aiohttp's answers when no route matches)."""
        allowed: set[str] = set()
        for resource in app.router.resources():
            if resource is not catch_all.resource:
                allowed |= (await resource.resolve(request))[1]
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound()

    # Last, so that it takes only what no other route does: through it an unknown route or method gets the
    # same Expect handling as a known one (aiohttp's own is a plain-text 417 before the middleware).
    catch_all = app.router.add_route("*", "/{path:.*}", unmatched, name=UNMATCHED_ROUTE, expect_handler=expect)

    return app


TLS_HANDSHAKE = b"\x16\x03"  # a TLS record of type handshake, version 3.x: what a TLS client sends first
BLANK_LINE = b"\r\n\r\n"  # the end of a request's header section (aiohttp's parsers take no bare LF in requests)
EMPTY_LINES = re.compile(rb"[\r\n]*")  # before a request: ignored (RFC 9112, 2.2)


def _holds_a_header_section(data: bytes) -> bool:
    """Whether bytes after the end of a request hold a whole header section: a request aiohttp has received
    and holds back unparsed, which no header clock is for."""
    return data.find(BLANK_LINE, EMPTY_LINES.match(data).end()) >= 0


def _content_length(message: Any) -> int | None:
    """A parsed request's Content-Length, None without one (aiohttp has checked it: ASCII digits only)."""
    length = message.headers.get(hdrs.CONTENT_LENGTH, "")
    return int(length) if length.isascii() and length.isdigit() else None


def _malformed(reason: str) -> str:
    """The message of a request the server refuses as malformed HTTP (400, route "malformed")."""
    return f"malformed HTTP request: {reason}"


HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")
NOT_CR = re.compile(rb"[^\r]")
CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[^\n]*\n")


class ChunkedBody:
    """Where a chunked body ends in the bytes received, piece by piece (RFC 9112, 7.1): its chunk sizes are
    followed, so a blank line or a whole request inside a chunk is body, and the end is known where another
    request follows it in the same piece. aiohttp's parser has accepted the body (a malformed one is refused,
    and the connection closed), so lines end with LF (after a CR) and the size is the line's leading hex
    digits (extensions after them are skipped). Bytes are fed once each, in order."""

    SIZE, DATA, DATA_END, TRAILERS = range(4)  # a size line, chunk data, the CRLF after it, the trailer section

    __slots__ = ("blank", "in_digits", "left", "size", "state")

    def __init__(self) -> None:
        self.state = self.SIZE
        self.size = 0  # of the chunk whose size line is being read, from its digits so far
        self.in_digits = True  # the size line's digits may go on (a line can be split between pieces)
        self.left = 0  # chunk data bytes still to come
        self.blank = True  # the trailer line read so far is empty (CRs only): its LF ends the body

    def end_in(self, data: bytes, pos: int) -> int | None:
        """Read data[pos:]: where the body ends in it (past its last byte), or None while it goes on."""
        while pos < len(data):
            if self.state == self.SIZE and self.in_digits and self.size == 0:
                # Whole chunks in one step each: a body of 1-byte chunks costs about what aiohttp's parse of it does.
                whole = CHUNK_SIZE_LINE.match(data, pos)
                if whole is not None and (size := int(whole.group(1), 16)):
                    line_end = data.find(b"\n", whole.end() + size)
                    if line_end >= 0:
                        pos = line_end + 1
                        continue
            if self.state == self.DATA:
                step = min(self.left, len(data) - pos)
                pos, self.left = pos + step, self.left - step
                if self.left == 0:
                    self.state = self.DATA_END
                continue
            line_end = data.find(b"\n", pos)
            stop = len(data) if line_end < 0 else line_end
            if self.state == self.SIZE and self.in_digits:
                digits = HEX_DIGITS.match(data, pos, stop).group()
                self.size = self.size * 16 ** len(digits) + int(digits or b"0", 16)
                self.in_digits = pos + len(digits) == stop
            elif self.state == self.TRAILERS:
                self.blank = self.blank and NOT_CR.search(data, pos, stop) is None
            if line_end < 0:
                return None
            pos = line_end + 1
            if self.state == self.DATA_END:
                self.state = self.SIZE
            elif self.state == self.SIZE:
                self.state, self.left = (self.DATA, self.size) if self.size else (self.TRAILERS, 0)
                self.size, self.in_digits = 0, True
            elif self.blank:  # the empty line that ends the trailer section, and the body
                return pos
            else:
                self.blank = True
        return None


def _end_of_requests(
    data: bytes, pos: int, chunks: ChunkedBody | None, requests: list[tuple[Any, Any]]
) -> tuple[int | None, ChunkedBody | None]:
    """Where the last of `requests` ends in `data` (past its end while a Content-Length body goes on; len(data)
    while a chunked body goes on, with that body's scan to go on from the next piece), or None where that is
    not known. `requests`: aiohttp's parse of `data` (message, payload), in order; `pos`: where the request
    before them ends (`chunks`: the scan of its chunked body, which goes on there instead).

    A request begins after the empty lines at `pos`, its header section ends with its first blank line, and its
    body is its Content-Length bytes, or, chunked, its chunks (ChunkedBody). Anything else (a request aiohttp
    refused, an upgrade, a header section not found) is None: no header clock rather than a wrong one, which
    would cut a request with 408."""
    for message, payload in requests:
        if chunks is not None:  # the body before this request ends in `data`: aiohttp parsed a request after it
            end = chunks.end_in(data, pos)
            if end is None:
                return None, None
            pos, chunks = end, None
        if not hasattr(message, "headers") or message.upgrade or message.method == hdrs.METH_CONNECT:
            return None, None
        found = data.find(BLANK_LINE, EMPTY_LINES.match(data, pos).end())
        if found < 0:
            return None, None
        pos = found + len(BLANK_LINE)
        if payload is EMPTY_PAYLOAD:
            continue
        length = _content_length(message)
        if message.chunked:
            chunks = ChunkedBody()
        elif length is not None:
            pos += length
        else:
            return None, None
    if chunks is not None:
        end = chunks.end_in(data, pos)
        return (len(data), chunks) if end is None else (end, None)
    return pos, None


class ServiceProtocol(web.RequestHandler):
    """aiohttp's HTTP/1.1 connection with the service's answers to what its parser refuses, and limits on
    connections.

    aiohttp answers a malformed request (Content-Length with chunked, a bad chunk size, an 8 KB header,
    TLS bytes, ...) with a plain-text page drawing a caret under the bad byte, and logs a traceback for
    each: here it is the service's JSON 400 and one log line. A request whose headers take longer than
    --header-timeout-s from its first bytes is answered 408 and closed (a client dripping its headers
    would otherwise hold the connection for good): every request of a connection, the first, one after a
    keep-alive answer, and one pipelined behind others (see data_received). The deadline is fixed from
    the first bytes but never cuts into an answer: a request whose headers are still incomplete when the
    answers before it end, past its deadline, is answered 408 then. A connection beyond --max-connections
    is answered 503 and closed, so that open connections never use up the process's file descriptors; a
    client that reads none of its answers for --timeout-s is dropped. It also tracks
    whether the connection owes an answer, for the drain (server.py): bytes received and not answered
    yet, or no answer at all.
    """

    def __init__(self, manager: web.Server, state: ServerState, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.state = state
        self.owes_answer = True  # a connection is accepted to be answered
        self.in_request = False  # from the end of a request's headers to its answer
        self.header_deadline: asyncio.TimerHandle | None = None
        self.write_deadline: asyncio.TimerHandle | None = None
        # The loop time of the first byte of a request whose headers are still arriving, else None.
        self.head_since: float | None = None
        self.newest_payload: Any = None  # the body of the last request parsed (aiohttp's StreamReader)
        # How that body ends: after its Content-Length bytes (None: no such header), or chunked.
        self.newest_length: int | None = None
        self.newest_chunked = False
        # Of the last bytes received (see data_received): their loop time, and those after the end of the last
        # request (the next request's first bytes, or empty lines; of earlier pieces, the last few only; None
        # where that end is not known).
        self.piece_at = 0.0
        self.after_end: bytes | None = b""
        # The scan of the last request's chunked body while its end has not been received (after_end is empty
        # then), else None.
        self.chunks: ChunkedBody | None = None
        self.received = False  # whether any byte has come

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.state.connections.add(self)
        limit = self.state.limits.max_connections
        if len(self.state.connections) > limit:
            self.refuse(503, f"the server has {limit} connections open, its limit (--max-connections); retry",
                        {"Retry-After": RETRY_AFTER_S})

    def connection_lost(self, exc: BaseException | None) -> None:
        self.state.connections.discard(self)
        self.newest_payload = None
        self._stop_header_clock()
        self._stop_write_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Bytes in: they start a request's header clock where they begin a request, and a request whose
        headers they complete stops it. One piece can end a request and begin the next one (pipelining): what
        follows the end of the last request in the piece is the next request, its clock running from the
        piece's time (empty lines there begin none). That end is found by walking the requests parsed from the
        piece (_end_of_requests), from the end of a pending body (its Content-Length bytes less those aiohttp
        has received, or where the scan of its chunks ends) or else from the end of the last request before
        them, so a request gets its clock whatever the framing of the body before it. Where the walk cannot
        place an end (a request aiohttp refused, an upgrade), it places none until a piece begins inside a
        body: a request begun behind another then has its clock from its next piece, or the connection's idle
        limit, keepalive_timeout, closes it."""
        if not self.received and data.startswith(TLS_HANDSHAKE):
            # A TLS client's first bytes, which hold no line end the parser would stop at: without this the
            # client waited for the header timeout.
            self.refuse(400, _malformed("TLS on the plain port; this server speaks plain HTTP (http://): put a "
                                        "TLS proxy in front of it for https"), route=MALFORMED_ROUTE)
            return
        self.received = self.received or bool(data)
        now = asyncio.get_running_loop().time()
        in_body = self._body_pending()
        # What the requests parsed now are walked in, and from where: (bytes, offset), None where not known.
        walk: tuple[bytes, int] | None = None
        # The scan of a chunked body that goes on where the walk begins (a body aiohttp has ended has none).
        chunks = self.chunks if in_body else None
        if data and in_body:
            if (self.newest_chunked and chunks is not None) or self.newest_length is not None:
                walk = data, self._body_left()
        elif self.after_end is not None:
            # Behind the end of the last request: b"" is aiohttp parsing the bytes of the last piece it held back
            # (its queue of requests, or a body's buffer, was full), all after that end; a new piece is walked
            # behind the last 4 of them: a header section begun there ends with 3 CR or LF at most, so they hold
            # the beginning of its blank line behind a byte of its own.
            walk = (self.after_end[-4:] if data else self.after_end) + data, 0
        if data:
            self.piece_at = now
        if data.strip(b"\r\n"):  # empty lines before a request are ignored (RFC 9112, 2.2)
            self.owes_answer = True
            if self.head_since is None and not in_body:
                self.head_since = now  # a request's first bytes (not the rest of a body, even one answered early)
        parsed = self._parsed_waiting()
        super().data_received(data)
        # Their handlers start on a later loop iteration: the requests parsed now are the last ones queued.
        requests = list(itertools.islice(self._messages, parsed, None))
        if data or requests:
            end, self.chunks = _end_of_requests(*walk, chunks, requests) if walk else (None, None)
            self.after_end = walk[0][end:] if walk and end is not None else None
            if self.after_end and self._body_pending() and not self._reading_paused:
                # Body bytes, all parsed (nothing held back while reading runs): a connection keeps no copy of
                # a read (aiohttp's flag; it is pinned below 3.15).
                self.after_end = b""
        if requests:  # requests whose headers are complete: the clock is theirs no more
            self._newest_request(*requests[-1])
        if requests or (in_body and not self._body_pending()):
            # The last request is complete (or only its headers are): what follows it is the next request.
            after = self.after_end
            begun = (not self._body_pending() and after is not None and bool(after.strip(b"\r\n"))
                     and not _holds_a_header_section(after))
            self.head_since = self.piece_at if begun else None
        self._run_header_clock()

    def _newest_request(self, message: Any, payload: Any) -> None:
        """Keep the body of the last request parsed and how it ends (see data_received)."""
        self.newest_payload = payload
        has_body = payload is not EMPTY_PAYLOAD  # not for a request aiohttp refused either (an _ErrInfo, no headers)
        self.newest_chunked = has_body and bool(message.chunked)
        self.newest_length = _content_length(message) if has_body and not self.newest_chunked else None

    def pause_writing(self) -> None:
        # The client reads no more of its answers (the kernel's buffers are full): it may hold this
        # connection for --timeout-s at most, then the connection is dropped.
        super().pause_writing()
        if self.write_deadline is None:
            self.write_deadline = asyncio.get_running_loop().call_later(self.state.limits.timeout_s, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_write_clock()

    def _stop_write_clock(self) -> None:
        self.write_deadline = cancelled(self.write_deadline)

    def _not_reading(self) -> None:
        self.write_deadline = None
        if self.transport is not None:
            self.state.metrics.dropped.inc()
            self.state.refusals.event(f"dropped a connection whose client read nothing for "
                                      f"{self.state.limits.timeout_s:g} s")
            self.transport.abort()

    def request_started(self, request: web.BaseRequest) -> None:
        """Its headers are read (the app's middleware calls this): the body is under --timeout-s now."""
        self.in_request = True
        self._run_header_clock()

    def _parsed_waiting(self) -> int:
        """Requests aiohttp has parsed and not begun to answer (its queue `_messages`, of (message, payload);
        aiohttp has no public count of them)."""
        return len(self._messages)

    def _body_pending(self) -> bool:
        """The last request parsed has more body to come (also one answered early, 401, 413, ...: aiohttp
        reads the rest of it before the next request), so bytes now are body, not a request's first."""
        return self.newest_payload is not None and not self.newest_payload.is_eof()

    def _body_left(self) -> int:
        """Bytes of a pending Content-Length body still to come (0 without one)."""
        if self.newest_length is None or not self._body_pending():
            return 0
        return max(0, self.newest_length - self.newest_payload.total_bytes)

    def _run_header_clock(self) -> None:
        """The header clock runs to head_since + --header-timeout-s while a request's headers are arriving and
        no request of the connection is being answered or waiting to be (an answer is never cut into)."""
        if self.head_since is None or self.in_request or self._parsed_waiting():
            self._stop_header_clock()
        elif self.header_deadline is None:
            self.header_deadline = asyncio.get_running_loop().call_at(
                self.head_since + self.state.limits.header_timeout_s, self._headers_too_slow
            )

    def log_access(self, request: web.BaseRequest, response: web.StreamResponse, time: float | None) -> None:
        # Called once each answer is written (the access log itself is off).
        self.owes_answer = False
        self.in_request = False
        self._run_header_clock()  # the next request's headers may have begun to arrive during this one
        if self.after_end and not self._messages and _holds_a_header_section(self.after_end):
            # aiohttp's C parser holds a whole request back unparsed and parses it only when more bytes come:
            # after a request it took before its body had arrived, it counts one request too many in flight
            # and pauses with its queue not full. Parse what it holds now (as resume_reading does).
            asyncio.get_running_loop().call_soon(self._parse_held)
        super().log_access(request, response, time)

    def _parse_held(self) -> None:
        if self.transport is not None:  # the connection may have closed meanwhile
            self.data_received(b"")

    def _stop_header_clock(self) -> None:
        self.header_deadline = cancelled(self.header_deadline)

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if self.head_since is not None and not self.in_request and not self._parsed_waiting():
            self.refuse(408, f"the request's headers did not arrive within {self.state.limits.header_timeout_s:g} s")

    def refuse(
        self, status: int, message: str, headers: dict[str, str] | None = None, route: str = CONNECTION_ROUTE
    ) -> None:
        """Answer `status` and close, outside aiohttp's request cycle: no request of this connection is
        being handled, so nothing else writes to it."""
        if self.transport is None:
            return
        body = json.dumps({"error": message}).encode()
        head = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}", f"Server: {SERVER_HEADER}",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self.transport.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        self.owes_answer = False
        self.state.metrics.request(route, status, 0.0)
        peer = self.transport.get_extra_info("peername")
        log_of = self.state.malformed if route == MALFORMED_ROUTE else self.state.refusals
        log_of.event(f"{status} to {peer[0] if peer else 'a client'}: {message}")
        self.force_close()  # the transport sends what was written, then closes

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp's own errors (a client gone mid-request, a body it stopped sending): one line, no traceback."""
        exc = kwargs.get("exc_info")
        reason = _last_line(str(exc)) if isinstance(exc, BaseException) else "no details"
        what = (str(args[0]) % args[1:] if len(args) > 1 else str(args[0])) if args else "HTTP error"
        log.warning("%s: %s: %s", what, type(exc).__name__, reason)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer was started: nothing more can be said on it
            raise ConnectionError("the answer was already started when the error came")
        route = UNMATCHED_ROUTE
        if isinstance(exc, HttpProcessingError):
            status, text, route = 400, _malformed(_protocol_reason(exc)), MALFORMED_ROUTE
            self.state.malformed.event(f"{text} (from {request.remote})")
        elif status == 504:
            text = f"the request took longer than the server's limit of {self.state.limits.timeout_s:g} s"
        else:
            log.error("%s from %s: %s: %s", status, request.remote, type(exc).__name__, _last_line(str(exc)))
            text = "internal error: the server log has the details"
        self.state.metrics.request(route, status, 0.0)
        response = _json({"error": text}, status, {hdrs.SERVER: SERVER_HEADER})  # no route: no on_response_prepare
        response.force_close()
        return response


def cancelled(timer: asyncio.TimerHandle | None) -> None:
    """Cancel a connection's timer if it is set; None, for the attribute that held it."""
    if timer is not None:
        timer.cancel()


def _protocol_reason(exc: HttpProcessingError) -> str:
    """aiohttp's message in one bounded line, without its quote of the request and its caret drawing."""
    if isinstance(exc, LineTooLong):
        return f"a request line or header is longer than {exc.args[1]} bytes"
    first = (exc.message or type(exc).__name__).strip().splitlines()[0].rstrip(":").strip()
    return _excerpt(first)
