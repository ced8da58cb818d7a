"""`sean serve` against hostile requests, as a real process on a loopback port (issue 28).

No request reaches a file outside the editor's own (encoded slashes, backslashes, absolute paths, dot
segments in every encoding, NUL, names over 255 bytes); what used to be a 500 with a traceback is a
one-line 4xx JSON answer; malformed HTTP gets the service's JSON 400 and one log line; a request that
needs more encoder jobs than --max-queue is 413, not retried; client codes far out of range are named.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import re
import select
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.http_parser import HttpRequestParserPy

from sean_core.errors import InputError
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.serve.app import HANDLER_ARGS, ServerState, ServiceProtocol, build_app, editor_files, http11_requests
from sean_runtime.serve.codec import encode_png
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.service import Limits
from sean_tools.serve_load.loadtest import series
from tests.test_serve import Server, assert_error, b64_file, call

SECRET = "k3y-" + "0123456789abcdef" * 2
KEY = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "key.txt"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture(scope="module")
def server(shapes_package, key_file):
    """An API key, 2 waiting jobs at most, no batching."""
    srv = Server(shapes_package, "--api-key-file", str(key_file), "--max-queue", "2", "--max-batch", "1")
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def pair(shapes_split) -> dict[str, str]:
    return {"label": b64_file(shapes_split / "labels/00001.png"), "image": b64_file(shapes_split / "images/00001.png")}


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes as they are; -> everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def answers_counted(srv: Server, code: int) -> float:
    """The requests answered with status `code`, all routes together, as sean_http_requests_total counts them."""
    text = call(srv, "GET", "/metrics", headers=KEY)[2]
    pattern = rf'^sean_http_requests_total\{{[^}}]*code="{code}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


# --- no file outside the editor's --------------------------------------------------------------------------
def traversal_paths(key_file: Path) -> list[str]:
    absolute = str(key_file)
    encoded_key = absolute.replace("/", "%2F")
    return [
        "/static/%2Fetc%2Fshadow",
        "/static/%2Fetc%2Fpasswd",
        f"/static/{encoded_key}",
        f"/static/%2F%2F{encoded_key[3:]}",
        "/static/%2e%2e%2fapp.py",
        "/static/%2E%2E%2F%2E%2E%2Fserve%2Fapp.py",
        "/static/..%2Fapp.py",
        "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%252e%252e%252fapp.py",
        "/static/%252F" + encoded_key[3:],
        "/static/..%5Capp.py",
        "/static/..%5c..%5cetc%5cpasswd",
        "/static/%5Cetc%5Cpasswd",
        "/static/%C0%AE%C0%AE%C0%AFapp.py",  # overlong UTF-8 for ../
        "/static/%E0%80%AE%E0%80%AE%2Fapp.py",
        "/static/%C0%2E%C0%2E%2Fapp.py",
        "/static/.%2e/app.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/..;/app.py",
        "/static/file:%2F%2F%2Fetc%2Fpasswd",
        "/static/%00",
        "/static/editor.js%00.png",
        "/static/editor.js%2500",
        "/static/.hidden",
        "/static/." + "%2e" * 3,
        "/static/" + "a" * 256,
        "/static/" + "%C3%A9" * 200,  # 400 characters, 400 UTF-8 bytes
        "/static/" + "b" * 5000,
        "/static/%2F" + "c/" * 100 + "etc/passwd",
        "/static/editor.js/..%2F..%2Fapp.py",
        "/static/",
    ]


def test_no_path_under_static_reaches_a_file_outside_the_editor(server, key_file):
    """Before: /static/%2Fetc%2Fshadow returned /etc/shadow and /static/%2F<key file> the API key."""
    secrets = [SECRET.encode(), b"root:", b"import "]  # the key, /etc/passwd, any Python source
    for path in traversal_paths(key_file):
        data = raw_exchange(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status, headers, body = parse_answer(data)
        assert status in (400, 401, 404), (path, data[:300])
        assert headers["Content-Type"].startswith("application/json"), path
        message = json.loads(body)["error"]
        assert "\n" not in message and not any(s in body for s in secrets), (path, body[:200])
    # a NUL byte in the raw path is refused by the HTTP parser
    status, _, body = parse_answer(raw_exchange(server.port, b"GET /static/editor.js\x00 HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 400 and "malformed HTTP request" in json.loads(body)["error"]
    assert call(server, "GET", "/static/editor.js")[0] == 200  # the editor's own files still load
    assert answers_counted(server, 500) == 0


def test_a_link_in_the_static_folder_to_a_file_outside_it_is_no_editor_file(tmp_path):
    """Before: editor_files followed links, and /static/evil.js served /etc/passwd for a link evil.js -> it."""
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "editor.js").write_text("let x = 1;\n")
    (tmp_path / "secret.txt").write_text(SECRET)
    (folder / "evil.js").symlink_to("/etc/passwd")
    (folder / "key.js").symlink_to(tmp_path / "secret.txt")
    (folder / "up.js").symlink_to("../secret.txt")
    (folder / "same.js").symlink_to("editor.js")  # a link to a file of the folder is that file
    files = editor_files(folder)
    assert sorted(files) == ["editor.js", "same.js"]
    assert files["same.js"].body == b"let x = 1;\n"


def test_open_routes_are_open_by_route_not_by_the_paths_text(server):
    # dot segments that resolve to /v1 routes need the key like /v1 itself
    for path in ("/static/../v1/info", "/static/%2e%2e/v1/info", "/static/./../v1/samples", "/healthz/../v1/info"):
        data = raw_exchange(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status, _, body = parse_answer(data)
        assert status in (401, 404), (path, body)
        assert "class_names" not in body.decode() and "samples" not in json.loads(body), path
    assert call(server, "GET", "/healthz")[0] == 200 and call(server, "GET", "/")[0] == 200
    assert call(server, "GET", "/v1/info")[0] == 401 and call(server, "GET", "/v1/info", headers=KEY)[0] == 200
    assert call(server, "GET", "/nothing-here")[0] == 401  # 401 before 404: a scan learns no route
    assert call(server, "GET", "/nothing-here", headers=KEY)[0] == 404


def test_request_data_never_names_a_file(server, key_file, pair):
    """Images come as base64 in the body; a path in their place is refused, never opened."""
    for field_value in (str(key_file), "/etc/passwd", "file:///etc/passwd", "data:image/png;base64,/etc/passwd"):
        body = {"label": field_value, "style_image": pair["image"]}
        status, _, answer = call(server, "POST", "/v1/synthesize", body, KEY)
        assert_error(status, answer, 400, "label")
        assert SECRET not in answer["error"]
    # /v1/samples takes nothing from the request: a query naming a file is ignored
    status, _, answer = call(server, "GET", f"/v1/samples?name=..%2F..%2Fetc%2Fpasswd&path={key_file}", headers=KEY)
    assert (status, answer) == (200, {"samples": []})


# --- what was a 500 ------------------------------------------------------------------------------------------
def test_what_was_a_500_is_a_one_line_4xx(server, pair):
    """Before: each of these answered 500 and logged a traceback; /metrics counted them as 500."""
    label, image = pair["label"], pair["image"]
    huge = "9" * 5000
    styles_huge = '{"codes": [' + ",".join(["[" + ",".join(["0"] * 31 + [str(10**400)]) + "]"] * 8) + "]"
    cases = [
        (b"[" * 100_000 + b"]" * 100_000, 400, "nests 100000 levels"),
        (b'{"label": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "levels"),
        (f'{{"label": "{label}", "style_image": "{image}", "seed": {huge}}}'.encode(), 400, "number of 5000"),
        (f'{{"label": "{label}", "noise": [{huge}]}}'.encode(), 400, "number of 5000"),
        (f'{{"{huge}": -{huge}}}'.encode(), 400, "number of 5001"),
        (f'{{"label": "{label}", "styles": {styles_huge}, "present": [true]}}}}'.encode(), 400, "number of 401"),
    ]
    before = answers_counted(server, 500)
    for raw, status_expected, words in cases:
        status, _, answer = call(server, "POST", "/v1/synthesize", raw=raw, headers=KEY)
        assert_error(status, answer, status_expected, words)
    # codes of 10**400 as a JSON number of 401 digits sit within the parser's bounds only as a float
    codes = [[0.0] * 32 for _ in range(7)] + [[1e300] * 32]
    status, _, answer = call(server, "POST", "/v1/synthesize", {"label": label, "styles": {
        "codes": codes, "present": [True] * 8}}, KEY)
    assert_error(status, answer, 400, "styles.codes hold values up to 1e+300")
    # a body that says gzip and is not
    for body in (b'{"label": 1}', gzip.compress(b'{"label": 1}')[:10] + b"\xff" * 20):  # not gzip; a broken stream
        headers = {**KEY, "Content-Encoding": "gzip", "Content-Type": "application/json"}
        status, _, answer = call(server, "POST", "/v1/synthesize", raw=body, headers=headers)
        assert_error(status, answer, 400, "not the gzip stream its Content-Encoding says")
    for name in ("a" * 256, "%C3%A9" * 200, "x" * 4000):
        status, _, answer = call(server, "GET", "/static/" + name)
        assert_error(status, answer, 404, "the editor has no file named")
    assert answers_counted(server, 500) == before == 0
    assert not any("Traceback" in line for line in server.log)


def opencv_log_lines(lines: list[str]) -> list[str]:
    """OpenCV's native log lines ("[ERROR:0@1.2] ...", "[ WARN:0@1.2] ...") and their continuation lines."""
    return [line for line in lines if line.startswith(("[ERROR:", "[ WARN:", "[ INFO:", "> "))]


def test_images_opencv_cannot_read_leave_no_opencv_lines_in_the_server_log(server, pair):
    """Before: each such image added OpenCV's own ERROR or WARN lines (up to five each) to the server's log."""
    ok, webp = cv2.imencode(".webp", np.zeros((8, 8, 3), np.uint8))
    ok2, float_tiff = cv2.imencode(".tiff", np.zeros((8, 8, 3), np.float32))
    assert ok and ok2
    lines_before = len(server.log)
    for data, words in ((webp.tobytes()[:30], "not a readable image"), (float_tiff.tobytes(), "style_image")):
        body = {"label": pair["label"], "style_image": base64.b64encode(data).decode()}
        status, _, answer = call(server, "POST", "/v1/synthesize", body, KEY)
        assert_error(status, answer, 400, "style_image", words)
    time.sleep(0.5)  # the log is read by a thread
    new = server.log[lines_before:]
    assert len(new) == 2 and not opencv_log_lines(new), "".join(new)


def test_client_codes_far_out_of_range_are_named_not_the_weights(server, pair):
    """Before: codes of 1e30 got "the package's weights are broken (re-export it ...)"."""
    for value in (1e30, -1e30, 1e6):
        codes = [[0.0] * 32 for _ in range(7)] + [[value] * 32]
        body = {"label": pair["label"], "styles": {"codes": codes, "present": [True] * 8}}
        status, _, answer = call(server, "POST", "/v1/synthesize", body, KEY)
        assert_error(status, answer, 400, "styles.codes hold values up to", "encoder's range [-1, 1]")
        assert "weights" not in answer["error"]
    codes = [[0.5] * 32 for _ in range(8)]
    body = {"label": pair["label"], "styles": {"codes": codes, "present": [True] * 8}}
    assert call(server, "POST", "/v1/synthesize", body, KEY)[0] == 200


def test_content_encodings_are_decoded_within_the_limit_and_broken_ones_refused_at_once(server, pair):
    """Before: a deflate body that was not deflate kept the request waiting until the 30 s timeout (504)."""
    plain = json.dumps({"label": pair["label"], "style_image": pair["image"], "seed": 3}).encode()
    expected = call(server, "POST", "/v1/synthesize", raw=plain, headers=KEY)
    assert expected[0] == 200
    for coding, body in (("gzip", gzip.compress(plain)), ("deflate", zlib.compress(plain))):
        headers = {**KEY, "Content-Encoding": coding}
        status, _, answer = call(server, "POST", "/v1/synthesize", raw=body, headers=headers)
        assert status == 200 and answer["image"] == expected[2]["image"], coding
    bomb = gzip.compress(b'{"label": "' + b"A" * (20 * 2**20) + b'"}')  # 20 MB in about 20 KB; the limit is 16 MiB
    cases = [
        ("deflate", b"{}", 400, "not the deflate stream"),
        ("deflate", b'{"label": 1}', 400, "not the deflate stream"),
        ("gzip", bomb, 413, "limit of 16777216 bytes"),
        ("br", b"{}", 415, "'br' is not accepted"),
    ]
    for coding, body, status_expected, words in cases:
        start = time.monotonic()
        headers = {**KEY, "Content-Encoding": coding}
        status, _, answer = call(server, "POST", "/v1/synthesize", raw=body, headers=headers)
        assert_error(status, answer, status_expected, words)
        assert time.monotonic() - start < 5, coding


# --- HTTP protocol errors ------------------------------------------------------------------------------------
PROTOCOL_CASES = {
    "Content-Length with chunked": b"POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate Content-Length": b"POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Content-Length: 3\r\n\r\n{}",
    "negative Content-Length": b"POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}",
    "bad chunk size": b"POST /v1/encode HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "bad chunk size on a GET": b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
    "URL over 8 KB": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over 8 KB": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    "10,000 headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000)) + b"\r\n",
    "TLS on the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),
    "NUL in the path": b"GET /v1/in\x00fo HTTP/1.1\r\nHost: x\r\n\r\n",
    "not HTTP": b"\x00\x01\x02\x03\r\n\r\n",
    "bad version": b"GET / HTTP/9.Z\r\nHost: x\r\n\r\n",
    "space in a header name": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
}


def test_malformed_http_gets_the_json_error_and_one_log_line(server):
    """Before: a plain-text 400 with a caret drawing, and a traceback in the log for each."""
    lines_before = len(server.log)
    for name, data in PROTOCOL_CASES.items():
        status, headers, body = parse_answer(raw_exchange(server.port, data))
        assert status == 400 and headers["Content-Type"].startswith("application/json"), (name, body[:200])
        message = json.loads(body)["error"]
        assert message.startswith("malformed HTTP request: ") and "\n" not in message and "^" not in message, name
        assert len(message) < 200, name
    time.sleep(0.5)  # the log is read by a thread
    new = server.log[lines_before:]
    assert len(new) <= len(PROTOCOL_CASES) and not any("Traceback" in line for line in new), "".join(new)
    text = call(server, "GET", "/metrics", headers=KEY)[2]
    assert series(text, "sean_http_requests_total", route="malformed", code="400") >= len(PROTOCOL_CASES)
    assert call(server, "GET", "/healthz")[0] == 200


def test_malformed_http_is_answered_in_http_1_1_with_connection_close(server):
    """The 400 of a request aiohttp's parser refused has an HTTP/1.1 status line (RFC 9110, 6.2: a server answers
    in the highest version it speaks), not the HTTP/1.0 of the request aiohttp makes for it, and an explicit
    Connection: close. This fails if aiohttp stops making that request through web.Server.request_factory, or
    from its module-level web_protocol.ERROR (app.http11_requests)."""
    for name, data in PROTOCOL_CASES.items():
        # a request behind the malformed one: the server closes after the 400 (raw_exchange reads to EOF)
        answer = raw_exchange(server.port, data + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _, headers, body = parse_answer(answer)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (name, answer[:100])
        assert headers["Connection"] == "close" and headers["Server"] == "sean", (name, headers)
        assert json.loads(body)["error"].startswith("malformed HTTP request: "), (name, body)
        assert len(body) == int(headers["Content-Length"]), (name, answer)  # nothing answered after it


def test_an_http_version_other_than_1_1_and_1_0_is_answered_505_in_http_1_1_and_closed(server):
    """Before: aiohttp took HTTP/2.0, HTTP/0.9 and a request line without a version, and answered in the
    request's version ("HTTP/2.0 200 OK" with HTTP/1.1 headers). The status line is aiohttp's to write: this
    fails if it stops making requests through web.Server.request_factory (app.http11_requests)."""
    for line, sent in ((b"GET /v1/info HTTP/2.0", "HTTP/2.0"), (b"GET /v1/info HTTP/0.9", "HTTP/0.9"),
                       (b"GET /v1/info", "HTTP/0.9"), (b"GET /healthz HTTP/2.0", "HTTP/2.0")):
        # keep-alive asked for, and a request behind it: the server closes after the 505 (raw_exchange reads to EOF)
        request = line + b"\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
        data = raw_exchange(server.port, request + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = parse_answer(data)
        assert data.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"), (line, data[:100])
        assert headers["Connection"] == "close" and headers["Server"] == "sean", (line, headers)
        assert_error(status, json.loads(body), 505, f"{sent} is not supported", "send HTTP/1.1 or HTTP/1.0")
        assert len(body) == int(headers["Content-Length"]), (line, data)  # nothing answered after it
    for version in (b"1.0", b"1.1"):  # answered as ever, in their own version
        data = raw_exchange(server.port, b"GET /healthz HTTP/%s\r\nHost: x\r\nConnection: close\r\n\r\n" % version)
        assert data.startswith(b"HTTP/%s 200 OK\r\n" % version), data[:100]


@contextlib.contextmanager
def listening_in_process() -> Iterator[int]:
    """The HTTP layer of `sean serve` as server.serve sets it up (its runner's request_factory made by
    app.http11_requests, ServiceProtocol connections), without a package (503 loading), on a loop in a thread;
    -> its port. For what needs aiohttp changed in the process, such as its parser."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state = ServerState(Limits(), Metrics(max_batch=1))

    async def start() -> tuple[web.AppRunner, asyncio.AbstractServer]:
        runner = web.AppRunner(build_app(state), handle_signals=False)
        await runner.setup()
        http11_requests(runner.server)
        listener = await loop.create_server(
            lambda: ServiceProtocol(runner.server, state, loop=loop, access_log=None, **HANDLER_ARGS), "127.0.0.1", 0)
        return runner, listener

    runner, listener = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_later_http_1_minor_version_is_answered_as_http_1_1_where_the_parser_takes_it(monkeypatch):
    """RFC 9110, 2.5: HTTP/1.2 is read as HTTP/1.1, where aiohttp's pure-Python parser (AIOHTTP_NO_EXTENSIONS=1,
    or a platform without its wheels) takes it, while HTTP/2.0 and 3.1 get the 505; its C parser refuses HTTP/1.2
    as malformed before any hook of the server sees it (docs/serving.md, "Errors")."""
    monkeypatch.setattr("aiohttp.web_protocol.HttpRequestParser", HttpRequestParserPy)
    with listening_in_process() as port:
        for version in (b"1.2", b"1.9"):
            # kept alive as an HTTP/1.1 request is: both requests are answered, in HTTP/1.1
            first = b"GET /healthz HTTP/%s\r\nHost: x\r\n\r\n" % version
            data = raw_exchange(port, first + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert data.count(b"HTTP/1.1 503 Service Unavailable\r\n") == 2, (version, data)
            assert data.count(b'{"status": "loading"}') == 2, (version, data)  # /healthz's answers
        for line, sent in ((b"GET /healthz HTTP/2.0", "HTTP/2.0"), (b"GET /healthz HTTP/3.1", "HTTP/3.1")):
            status, headers, body = parse_answer(raw_exchange(port, line + b"\r\nHost: x\r\n\r\n"))
            assert headers["Connection"] == "close", (line, headers)
            assert_error(status, json.loads(body), 505, f"{sent} is not supported")


def test_no_answer_names_the_servers_software_versions(server):
    """Before: every answer said "Server: Python/3.11 aiohttp/3.x.y", the versions a scan matches against advisories."""
    requests = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # routed, open
        b"GET /v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # 401
        b"GET /static/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # 404 of a route
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  # malformed: no route
        b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + bytes(range(14, 114)),  # refused by the connection
    ]
    for request in requests:
        status, headers, _ = parse_answer(raw_exchange(server.port, request))
        assert headers.get("Server") == "sean", (status, headers)


def test_a_tls_client_on_the_plain_port_is_answered_at_once(server):
    """A ClientHello holds no line end for the parser to stop at: the client waited for the header timeout
    (then 408) before it was told anything."""
    hello = b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + bytes(range(14, 114))  # no CR or LF in it
    before = series(call(server, "GET", "/metrics", headers=KEY)[2], "sean_http_requests_total", route="malformed",
                    code="400")
    started = time.monotonic()
    status, headers, body = parse_answer(raw_exchange(server.port, hello))
    assert time.monotonic() - started < 0.9
    assert status == 400 and headers["Connection"] == "close", body
    assert json.loads(body)["error"].startswith("malformed HTTP request: TLS on the plain port; ")
    after = series(call(server, "GET", "/metrics", headers=KEY)[2], "sean_http_requests_total", route="malformed",
                   code="400")
    assert after == before + 1


def test_a_client_leaving_mid_body_is_no_500_and_no_traceback(server):
    """Before: aiohttp's "Connection lost" while reading the body was a 500 with a traceback in the log."""
    lines_before = len(server.log)
    for head in (b"Content-Length: 1000\r\n", b"Transfer-Encoding: chunked\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/synthesize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode()
                         + b"\r\n" + head + b"\r\n" + (b"5\r\n" if b"chunked" in head else b"") + b'{"lab')
            time.sleep(0.3)  # the handler is reading the body
    time.sleep(0.5)
    assert answers_counted(server, 500) == 0
    new = [line for line in server.log[lines_before:] if "sean_runtime.serve.access:" not in line]
    assert not any("Traceback" in line for line in new) and len(new) <= 2, "".join(new)
    assert call(server, "GET", "/healthz")[0] == 200


# --- more jobs than the queue holds -------------------------------------------------------------------------
def test_more_encoder_jobs_than_max_queue_is_413_and_not_retried(server, pair):
    """Before: 503 "retry shortly" on an idle server, and RemoteSynthesizer retried it 3 times."""
    reference = {"image": pair["image"], "label": pair["label"]}
    body = {"label": pair["label"], "style_image": pair["image"],
            "swaps": [{"classes": "blob", **reference}, {"classes": 3, **reference}]}  # 3 encoder jobs, queue of 2
    status, headers, answer = call(server, "POST", "/v1/synthesize", body, KEY)
    assert_error(status, answer, 413, "needs 3 encoder jobs", "queue limit of 2", "--max-queue 3")
    assert "Retry-After" not in headers
    blends = {"label": pair["label"], "style_image": pair["image"],
              "interpolate": [{"alpha": 0.5, **reference}] * 5}
    assert_error(*call(server, "POST", "/v1/synthesize", blends, KEY)[::2], 413, "needs 6 encoder jobs")

    def answered_413() -> float:
        text = call(server, "GET", "/metrics", headers=KEY)[2]
        return series(text, "sean_http_requests_total", route="/v1/synthesize", code="413") or 0.0

    before = answered_413()
    with RemoteSynthesizer(server.url, api_key=SECRET) as remote:
        start = time.monotonic()
        with pytest.raises(InputError, match="--max-queue"):
            remote.synthesize_request(body)
        assert time.monotonic() - start < 1.0  # no Retry-After sleeps
    assert answered_413() == before + 1
    # within the limit it is answered
    fits = {"label": pair["label"], "style_image": pair["image"], "swaps": [{"classes": "blob", **reference}]}
    assert call(server, "POST", "/v1/synthesize", fits, KEY)[0] == 200


def test_expect_is_100_continue_or_a_json_417(server):
    before = answers_counted(server, 417)
    status, headers, body = parse_answer(raw_exchange(
        server.port, b"GET /v1/info HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n"
    ))  # fmt: skip
    assert status == 417 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"error": "Expect: 200-ok is not understood; only 100-continue is"}
    assert answers_counted(server, 417) == before + 1
    for request_line in (b"POST /nope HTTP/1.1", b"PUT /v1/info HTTP/1.1"):  # no route, no such method
        status, headers, body = parse_answer(raw_exchange(
            server.port,
            request_line + b"\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        ))  # fmt: skip
        assert status == 417 and headers["Content-Type"].startswith("application/json"), body
    metrics = call(server, "GET", "/metrics", headers=KEY)[2]
    assert series(metrics, "sean_http_requests_total", route="unmatched", code="417") == 2
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/encode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
                     "Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, body = parse_answer(answer)
    assert status == 400 and "image" in json.loads(body)["error"]


def test_the_bearer_schemes_name_is_case_insensitive(server):
    for scheme in ("bearer", "BEARER", "Bearer"):
        assert call(server, "GET", "/v1/info", headers={"Authorization": f"{scheme} {SECRET}"})[0] == 200
    assert call(server, "GET", "/v1/info", headers={"Authorization": f"Basic {SECRET}"})[0] == 401


# --- connections -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded(shapes_package):
    """No API key (on the loopback), one more host name, a 1 s header timeout, 3 connections at most, a 3 s
    request timeout."""
    srv = Server(shapes_package, "--allow-host", "Sean.Example.com", "--header-timeout-s", "1",
                 "--max-connections", "3", "--timeout-s", "3")
    yield srv
    assert srv.stop() == 0


def connection_metric(srv: Server, status: int) -> float:
    text = call(srv, "GET", "/metrics")[2]
    return series(text, "sean_http_requests_total", route="connection", code=str(status)) or 0.0


GET = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"  # answered 200


def statuses(data: bytes) -> list[int]:
    """The status codes of the answers in bytes received."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


@pytest.mark.slow
def test_headers_slower_than_the_header_timeout_are_answered_408_and_the_connection_closed(guarded):
    before = connection_metric(guarded, 408)
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        waited = time.monotonic() - started
    status, headers, body = parse_answer(answer)
    assert status == 408 and headers["Connection"] == "close" and 0.9 < waited < 5
    assert json.loads(body) == {"error": "the request's headers did not arrive within 1 s"}
    # a request whose headers come in time, then a body slower than the header timeout, is not cut off
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{")
        time.sleep(1.5)
        sock.sendall(b"}")
        status, _, body = parse_answer(sock.recv(65536))
    assert status == 400 and "image" in json.loads(body)["error"]
    assert connection_metric(guarded, 408) == before + 1


@pytest.mark.slow
def test_empty_lines_between_requests_start_no_header_clock(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(GET)
        assert parse_answer(sock.recv(65536))[0] == 200
        sock.sendall(b"\r\n")  # RFC 9112, 2.2: ignored, not a request begun
        sock.settimeout(2.0)  # twice the header timeout
        with pytest.raises(TimeoutError):
            sock.recv(65536)
        sock.settimeout(10)
        sock.sendall(GET)
        assert parse_answer(sock.recv(65536))[0] == 200


@pytest.mark.slow
def test_a_request_pipelined_behind_another_has_the_header_clock_too(guarded):
    """Its headers are timed from its first bytes as a connection's first request's are: one sent halfway in
    the same piece as a whole request before it is answered 408 and closed within the header timeout, after
    the first one's answer (it was left to the 75 s idle limit). One completed in a later piece is answered."""
    before = connection_metric(guarded, 408)
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(GET + GET[:20])
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        waited = time.monotonic() - started
    assert statuses(answer) == [200, 408] and 0.9 < waited < 4, (answer, waited)
    assert answer.endswith(b'{"error": "the request\'s headers did not arrive within 1 s"}')
    assert connection_metric(guarded, 408) == before + 1
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(GET + GET[:20])
        time.sleep(0.3)
        sock.sendall(GET[20:])
        answer = b""
        while len(statuses(answer)) < 2:
            answer += sock.recv(65536)
        sock.settimeout(1.5)  # more than the header timeout: nothing is owed, nothing more is said
        with pytest.raises(TimeoutError):
            answer += sock.recv(65536)
    assert statuses(answer) == [200, 200], answer
    assert connection_metric(guarded, 408) == before + 1
    # behind more requests than aiohttp queues at once (32): the rest is parsed later, from bytes it held back
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(GET * 40 + GET[:20])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert statuses(answer) == [200] * 40 + [408], statuses(answer)
    assert connection_metric(guarded, 408) == before + 2


POST_HEAD = b"POST /v1/encode HTTP/1.1\r\nHost: localhost\r\n"
# A body in two pieces (400: no image), Content-Length and chunked: the headers and its first bytes, then the rest.
SPLIT_BODIES = {
    "content-length": (POST_HEAD + b'Content-Length: 11\r\n\r\n{"a":', b"\r\n\r\n1}"),  # a blank line in it
    # a blank line in its chunks too: the end of a chunked body is the last blank line, not the first
    "chunked": (POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
                b"4\r\n\r\n\r\n\r\n1\r\n}\r\n0\r\n\r\n"),
}
CHUNKED_WHOLE = SPLIT_BODIES["chunked"][0] + SPLIT_BODIES["chunked"][1]
# A chunk extension, a chunk holding a whole request, and a trailer field.
CHUNKED_TRAILER = (POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n1;x=y\r\n{\r\n" + b"%x\r\n" % len(GET) + GET
                   + b"\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n")
LENGTH_WHOLE = SPLIT_BODIES["content-length"][0] + SPLIT_BODIES["content-length"][1]
# Headers but for their blank line, then the blank line and the body (no blank line in it: nothing else to find).
BLANK_LINE_SPLIT = (POST_HEAD + b"Content-Length: 7\r\n", b'\r\n{"a":1}')


@pytest.mark.slow
@pytest.mark.parametrize(("pieces", "answered"), [
    ((SPLIT_BODIES["content-length"][0], SPLIT_BODIES["content-length"][1] + GET[:20]), [400]),
    ((SPLIT_BODIES["chunked"][0], SPLIT_BODIES["chunked"][1] + GET[:20]), [400]),
    ((CHUNKED_WHOLE + GET[:20],), [400]),
    ((LENGTH_WHOLE + GET[:20],), [400]),
    ((GET + LENGTH_WHOLE + GET[:20],), [200, 400]),
    ((BLANK_LINE_SPLIT[0], BLANK_LINE_SPLIT[1] + GET[:20]), [400]),
    ((CHUNKED_WHOLE + GET + GET[:20],), [400, 200]),
    ((SPLIT_BODIES["chunked"][0], SPLIT_BODIES["chunked"][1] + GET + GET[:20]), [400, 200]),
    ((CHUNKED_TRAILER + GET + GET[:20],), [400, 200]),
    ((SPLIT_BODIES["chunked"][0], SPLIT_BODIES["chunked"][1] + GET * 40 + GET[:20]), [400] + [200] * 40),
], ids=["content-length", "chunked", "chunked-in-one-piece", "content-length-in-one-piece",
        "content-length-behind-a-request", "content-length-blank-line-split", "chunked-then-a-request",
        "chunked-split-then-a-request", "chunked-with-a-trailer-then-a-request", "chunked-then-held-back-requests"])
def test_a_request_begun_behind_the_end_of_a_body_has_the_header_clock_too(guarded, pieces, answered):
    """The last bytes of a body and the first of the next request in one piece: that request is answered 408
    and closed within the header timeout from the piece, after the requests before it are answered (it was
    left to the 75 s idle limit). Also where the body's headers are in that piece, alone, behind another
    request, or but for their blank line, which begins the piece (a blank line in the body is body), and
    where whole requests follow a chunked body in the piece (its end is found from its chunk sizes; it was
    not placed, and the request begun behind them had no clock), also more than aiohttp queues at once."""
    before = connection_metric(guarded, 408)
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        for piece in pieces[:-1]:
            sock.sendall(piece)
            time.sleep(0.3)  # a piece of its own: the body is pending when the last piece comes
        sock.sendall(pieces[-1])
        started = time.monotonic()
        answer = b""
        with contextlib.suppress(TimeoutError):  # no 408 within the socket's timeout
            while chunk := sock.recv(65536):
                answer += chunk
        waited = time.monotonic() - started
    assert statuses(answer) == [*answered, 408] and 0.9 < waited < 4, (answer, waited)
    assert connection_metric(guarded, 408) == before + 1


@pytest.mark.slow
@pytest.mark.parametrize(("first", "answered"), [(CHUNKED_WHOLE, 400), (LENGTH_WHOLE, 400), (GET, 200)],
                         ids=["chunked", "content-length", "no-body"])
def test_headers_trickled_behind_a_request_get_the_header_deadline_whatever_its_body(guarded, first, answered):
    """A client sends a request (a chunked, a Content-Length or no body), a whole request and the first bytes of
    the next in one piece, then trickles the rest: each piece, 1.3 s apart, ends one request's headers and
    begins the next's, so no header section is done within the 1 s deadline. The connection is answered 408
    and closed within the deadline of the first request begun; behind a chunked body followed by a request
    no request had a clock, and such a client held the connection for as long as it went on."""
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(first + GET + GET[:20])
        started = time.monotonic()
        sock.settimeout(1.3)
        answer, closed = b"", False
        while not closed and time.monotonic() - started < 5:
            with contextlib.suppress(TimeoutError):
                while chunk := sock.recv(65536):
                    answer += chunk
                closed = True
            if not closed:
                sock.sendall(GET[20:] + GET[:20])
        waited = time.monotonic() - started
    assert closed and statuses(answer) == [answered, 200, 408] and 0.9 < waited < 1.3, (answer, waited)


def test_requests_pipelined_behind_a_body_that_came_after_its_headers_are_all_answered(guarded):
    """aiohttp's C parser, after a request it took before its body had arrived, counts one request too many
    in flight and holds the 32nd of a pipelined run back unparsed, with its queue not full; the header clock
    took those whole headers for a request begun and answered it 408 (and the requests behind it were lost)."""
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(SPLIT_BODIES["content-length"][0])
        time.sleep(0.3)  # the headers parsed, the body still to come
        sock.sendall(SPLIT_BODIES["content-length"][1])
        assert statuses(sock.recv(65536)) == [400]
        sock.sendall(GET * 40)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while len(statuses(answer)) < 40 and (chunk := sock.recv(65536)):
                answer += chunk
    assert statuses(answer) == [200] * 40, statuses(answer)


@pytest.mark.slow
@pytest.mark.parametrize("pieces", [SPLIT_BODIES["content-length"], SPLIT_BODIES["chunked"], (LENGTH_WHOLE,)],
                         ids=["content-length", "chunked", "content-length-in-one-piece"])
def test_an_empty_line_behind_the_end_of_a_body_starts_no_header_clock(guarded, pieces):
    """Also where the body holds a blank line with bytes after it: the end of a Content-Length body is counted,
    not its last blank line looked for, where its headers came before the piece or in it."""
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        for piece in pieces[:-1]:
            sock.sendall(piece)
            time.sleep(0.3)
        sock.sendall(pieces[-1] + b"\r\n")  # RFC 9112, 2.2: ignored, not a request begun
        assert statuses(sock.recv(65536)) == [400]
        sock.settimeout(2.0)  # twice the header timeout
        with pytest.raises(TimeoutError):
            sock.recv(65536)
        sock.settimeout(10)
        sock.sendall(GET)
        assert statuses(sock.recv(65536)) == [200]


@pytest.mark.slow
def test_the_rest_of_a_body_answered_early_starts_no_header_clock(guarded):
    size = 200_000
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/encode HTTP/1.1\r\nHost: evil.example\r\nContent-Length: {size}\r\n\r\n".encode()
                     + b"x" * 1000)  # fmt: skip
        assert parse_answer(sock.recv(65536))[0] == 403  # answered before its body was read
        sock.sendall(b"x" * (size - 1000))
        sock.settimeout(2.5)  # more than the header timeout (1 s)
        later = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                later += chunk
    assert b"408" not in later, later


def answer_to_a_slow_body(port: int, head: bytes, pieces: list[bytes]) -> bytes:
    """Send a request's head, then its body's pieces 0.5 s apart until the server answers; -> that answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for piece in pieces:
            if select.select([sock], [], [], 0.5)[0]:
                break
            sock.sendall(piece)
        answer = b""
        while not re.search(rb"\r\n\r\n\{.*\}$", answer, re.S):  # one JSON object, the answer's whole body
            answer += sock.recv(65536)
    return answer


@pytest.mark.slow
def test_a_body_that_does_not_all_arrive_within_the_request_timeout_is_408_and_the_connection_closed(guarded):
    """Before: 504 "the request took longer than the server's limit", a server error for a client's slowness."""
    head = b"POST /v1/synthesize HTTP/1.1\r\nHost: localhost\r\n"
    cases = [  # at once: 3, --max-connections
        (head + b"Content-Length: 100\r\n\r\n", [b" "] * 20),  # 1 byte each 0.5 s: 10 s for the whole
        (head + b"Transfer-Encoding: chunked\r\n\r\n", [b"1\r\n \r\n"] * 20),  # its last chunk never comes
        (head + b"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n", []),  # no body at all
    ]
    with ThreadPoolExecutor(len(cases)) as pool:
        answers = list(pool.map(lambda case: answer_to_a_slow_body(guarded.port, *case), cases))
    for answer in answers:
        status, headers, body = parse_answer(answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))
        assert (status, headers.get("Connection")) == (408, "close"), answer[:300]
        assert json.loads(body)["error"] == ("the request body did not all arrive within the server's limit of 3 s; "
                                             "send it at once")
    # a body that came in time is answered whatever the inference takes (504 past the timeout, never 408)
    assert call(guarded, "POST", "/v1/synthesize", {"label": 1})[0] == 400
    assert not any("Traceback" in line for line in guarded.log)


@pytest.mark.slow
def test_a_client_that_reads_none_of_its_answers_is_dropped_after_the_request_timeout(guarded):
    def dropped() -> float:
        return series(call(guarded, "GET", "/metrics", headers=KEY)[2], "sean_connections_dropped_total") or 0.0

    before = dropped()
    size = len(call(guarded, "GET", "/static/editor.css")[2].encode())
    requests = 2000  # 30 MB of answers: far more than the kernel's send buffer (up to 4 MB) and asyncio's hold
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(("127.0.0.1", guarded.port))
        sock.sendall(b"GET /static/editor.css HTTP/1.1\r\nHost: localhost\r\n\r\n" * requests)
        time.sleep(5)  # the server's writes stall; it drops the connection 3 s into the stall
        sock.settimeout(10)
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += len(chunk)
    assert received < size * requests / 2, (received, size)  # cut off, not served to the end
    assert dropped() == before + 1


def test_a_connection_beyond_max_connections_is_answered_503_and_the_others_go_on(guarded):
    before = connection_metric(guarded, 503)
    idle = [socket.create_connection(("127.0.0.1", guarded.port), timeout=10) for _ in range(3)]
    try:
        time.sleep(0.2)  # the server has made all three
        status, headers, body = parse_answer(raw_exchange(guarded.port, b""))
        assert status == 503 and headers["Retry-After"] == "1"
        assert "3 connections open, its limit (--max-connections)" in json.loads(body)["error"]
        with idle[0]:  # an open connection is still served
            idle[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert parse_answer(idle[0].recv(65536))[0] == 200
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert call(guarded, "GET", "/healthz")[0] == 200
    assert connection_metric(guarded, 503) == before + 1


def test_a_server_without_a_key_answers_only_requests_to_its_loopback_names(guarded):
    # A web page whose name was rebound to 127.0.0.1 sends its own name as Host (DNS rebinding).
    for host in ("attacker.example", "attacker.example:80", "127.0.0.1.nip.io", "localhost.evil.com", "[::1", "",
                 "evil.com@localhost"):  # fmt: skip
        status, _, answer = call(guarded, "GET", "/v1/info", headers={"Host": host})
        assert_error(status, answer, 403, "is not this machine's loopback", "--api-key-file")
    for host in ("localhost", f"localhost:{guarded.port}", "127.0.0.1", "127.0.0.2:1", "[::1]:8000", "app.localhost",
                 "sean.example.com", "SEAN.example.com:8080"):  # fmt: skip
        assert call(guarded, "GET", "/v1/info", headers={"Host": host})[0] == 200, host
    # health checkers often send no Host; /healthz tells nothing
    status, _, body = parse_answer(raw_exchange(guarded.port, b"GET /healthz HTTP/1.0\r\n\r\n"))
    assert status == 200 and json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize("value", ["x:80", "a b", "", "a/b", "[zz]"])
def test_allow_host_takes_names_without_a_port(value):
    from click.testing import CliRunner

    from sean_runtime.commands.serve import serve_command

    done = CliRunner().invoke(serve_command, ["sean_core/pretrained/shapes", "--allow-host", value])
    assert done.exit_code == 2 and f"{value!r} is not a host name without a port" in done.output


def test_the_server_still_answers_after_all_of_the_above(server, pair):
    label = encode_png(np.zeros((64, 64), np.uint8))
    body = {"label": label, "style_image": pair["image"], "style_label": pair["label"]}
    status, _, answer = call(server, "POST", "/v1/synthesize", body, KEY)
    assert status == 200 and RemoteSynthesizer.decode_image(answer["image"]).shape == (64, 64, 3)
    assert not any("Traceback" in line for line in server.log)
