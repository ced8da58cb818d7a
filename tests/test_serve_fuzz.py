"""A bounded property-based fuzz of `sean serve`'s HTTP layer, against a real server on 127.0.0.1.

Request bodies (JSON shaped like the API's, any JSON, random bytes, with odd Content-Encoding and
Content-Type headers), raw bytes on a socket (valid requests mutated byte by byte, and noise) and
names under /static/: every answer is a valid one or a one-line 4xx JSON error, never a 500, never a
file outside the editor's; the server is still serving afterwards and logged no traceback.

Derandomized (the same cases on every run) and bounded by max_examples: about 20-30 s in all on a
2-core machine, most of it the server's start.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import socket
import urllib.parse
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sean_runtime.serve.app import STATIC_DIR
from sean_runtime.serve.codec import encode_png
from tests.test_serve import Server, b64_file

pytestmark = pytest.mark.slow

SECRET = "fuzz-" + "f00d" * 8
KEY = {"Authorization": f"Bearer {SECRET}"}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
EDITOR_FILES = {p.name: p.read_bytes() for p in STATIC_DIR.iterdir() if p.is_file() and not p.name.startswith(".")}
DOCUMENTED_5XX = (503, 504, 505)  # docs/serving.md, "Errors"
# What must never come back: the API key, /etc/passwd, Python source of the package.
LEAKS = (SECRET.encode(), b"root:x:", b"from __future__ import")


@pytest.fixture(scope="module")
def server(shapes_package, tmp_path_factory):
    key = tmp_path_factory.mktemp("fuzz-key") / "key.txt"
    key.write_text(SECRET)
    srv = Server(shapes_package, "--api-key-file", str(key), "--max-queue", "4", "--max-body-mb", "1",
                 "--timeout-s", "20")  # fmt: skip
    yield srv
    assert srv.stop() == 0
    assert not any("Traceback" in line for line in srv.log), "".join(srv.log)[-3000:]


@pytest.fixture(scope="module")
def valid(shapes_split) -> dict[str, Any]:
    return {
        "label": b64_file(shapes_split / "labels/00002.png"),
        "image": b64_file(shapes_split / "images/00002.png"),
        "small": encode_png(np.zeros((8, 8), np.uint8)),
    }


def post(srv: Server, route: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        connection.request("POST", route, body=body, headers={**KEY, **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def check_answer(status: int, headers: dict[str, str], body: bytes, what: Any) -> None:
    """A valid answer, or a one-line 4xx JSON error; never a 5xx other than the documented 503 / 504 / 505 (a
    mutated request line can lose its version: HTTP/0.9)."""
    assert status < 500 or status in DOCUMENTED_5XX, (status, body[:300], repr(what)[:300])
    assert not any(leak in body for leak in LEAKS), (body[:300], repr(what)[:300])
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/json"), (status, body[:200])
        message = json.loads(body)["error"]
        assert message and "\n" not in message and "Traceback" not in message, message


# --- request bodies ----------------------------------------------------------------------------------------
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=20))  # fmt: skip
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=20)  # fmt: skip
FIELDS = ("label", "styles", "style_image", "style_label", "swaps", "interpolate", "fallback", "seed", "noise",
          "return_styles", "image", "classes", "alpha", "codes", "present")  # fmt: skip


@st.composite
def api_bodies(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """Bodies shaped like the API's: real images and label maps mixed with wrong values in each field."""
    images = st.sampled_from([valid["label"], valid["image"], valid["small"], "data:image/png;base64," +
                              valid["label"], valid["label"][:40], "", "%%%", "/etc/passwd"])  # fmt: skip
    codes = st.lists(st.lists(st.floats(-2, 2) | st.integers(-5, 5) | st.just(1e30), min_size=32, max_size=32),
                     min_size=8, max_size=8)  # fmt: skip
    styles = st.fixed_dictionaries({"codes": codes, "present": st.lists(st.booleans(), min_size=8, max_size=8)})
    reference = st.fixed_dictionaries({}, optional={
        "image": images, "label": images, "styles": styles | ANY_JSON, "classes": st.sampled_from(
            ["blob", 3, [1, "ground"], 99, "nope", [], 2.5]) | ANY_JSON,
        "alpha": st.floats(-1, 3) | ANY_JSON})  # fmt: skip
    if draw(st.booleans()):  # a valid request, its optional fields drawn from their own kinds of value
        swap = st.fixed_dictionaries({"classes": st.sampled_from(["blob", 3, [1, "ground"]]),
                                      "image": st.just(valid["image"]), "label": st.just(valid["label"])})  # fmt: skip
        optional = {"seed": st.integers(0, 2**63 - 1), "noise": st.booleans(), "return_styles": st.booleans(),
                    "fallback": st.sampled_from(["own", "error"]), "swaps": st.lists(swap, max_size=2),
                    "style_label": st.just(valid["label"])}  # fmt: skip
        extra = draw(st.fixed_dictionaries({}, optional=optional))
        return {"label": valid["label"], "style_image": valid["image"], **extra}
    value = st.one_of(images, styles, reference, st.lists(reference, max_size=3), ANY_JSON, SCALARS)
    return draw(st.dictionaries(st.sampled_from(FIELDS), value, max_size=6))


def test_request_bodies_get_an_answer_or_a_4xx_json_error(server, valid):
    routes = st.sampled_from(["/v1/synthesize", "/v1/synthesize", "/v1/encode"])
    bodies = st.one_of(
        api_bodies(valid).map(lambda b: json.dumps(b).encode()),
        ANY_JSON.map(lambda b: json.dumps(b).encode()),
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
    )
    encodings = st.sampled_from([None, "gzip", "deflate", "br", "identity", "x-bogus", "gzip, gzip"])
    types = st.sampled_from([None, "application/json", "text/plain", "multipart/form-data; boundary=x", "\x7f"])

    @FUZZ
    @given(route=routes, body=bodies, encoding=encodings, content_type=types, encode=st.booleans())
    def property_(route: str, body: bytes, encoding: str | None, content_type: str | None, encode: bool) -> None:
        if encode and encoding in ("gzip", "deflate"):  # else the body is not what the header says
            body = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
        headers = {k: v for k, v in (("Content-Encoding", encoding), ("Content-Type", content_type)) if v}
        status, answer_headers, answer = post(server, route, body, headers)
        check_answer(status, answer_headers, answer, (route, headers, body))
        if status == 200:
            assert set(json.loads(answer)) >= ({"styles"} if route == "/v1/encode" else {"image", "seed"})

    property_()
    assert_still_serving(server, valid)


# --- raw bytes on a socket -------------------------------------------------------------------------------
def exchange(port: int, data: bytes, idle: float = 0.25) -> bytes:
    """Send raw bytes; -> what the server answered until it closed or was silent for `idle` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
        except OSError:  # the server answered and closed while we were still sending
            pass
        sock.settimeout(idle)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*\r\n")


def answers(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Every HTTP answer in a byte stream (Content-Length framed, as this server writes them)."""
    found = []
    while data:
        match = STATUS_LINE.match(data)
        assert match, data[:200]
        head, _, rest = data.partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(": ")
            headers[name.lower()] = value
        length = int(headers.get("content-length", len(rest)))
        found.append((int(match.group(1)), headers, rest[:length]))
        data = rest[length:]
    return found


def templates(valid: dict[str, Any]) -> list[bytes]:
    body = json.dumps({"label": valid["small"], "style_image": valid["small"]}).encode()
    key = f"Authorization: Bearer {SECRET}\r\n".encode()
    return [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /static/editor.js HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/info HTTP/1.1\r\nHost: x\r\n" + key + b"\r\n",
        b"POST /v1/synthesize HTTP/1.1\r\nHost: x\r\n" + key + b"Content-Length: %d\r\n\r\n" % len(body) + body,
        b"POST /v1/encode HTTP/1.1\r\nHost: x\r\n" + key + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n",
    ]


@st.composite
def raw_requests(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    data = bytearray(draw(st.sampled_from(templates(valid))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "repeat"]))
        noise = draw(st.binary(min_size=1, max_size=12) | st.sampled_from(
            [b"\r\n", b"\x00", b":", b" ", b"-1", b"%2F..%2F", b"Content-Length: 7\r\n", b"\x16\x03\x01",
             b"Transfer-Encoding: chunked\r\n", b"\xff" * 9000]))  # fmt: skip
        if kind == "replace":
            data[at : at + len(noise)] = noise
        elif kind == "insert":
            data[at:at] = noise
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = data[max(0, at - 40) : at]
    return bytes(data)


def test_raw_bytes_on_a_socket_get_an_answer_or_a_4xx_json_error(server, valid):
    @FUZZ
    @given(data=raw_requests(valid) | st.binary(min_size=1, max_size=200))
    def property_(data: bytes) -> None:
        for status, headers, body in answers(exchange(server.port, data)):
            check_answer(status, headers, body, data)

    property_()
    assert_still_serving(server, valid)


# --- names under /static/ --------------------------------------------------------------------------------
NAME_PARTS = st.sampled_from(["..", ".", "/", "\\", "%", "%2e", "%2f", "%5c", "%00", "%c0%ae", "etc", "passwd",
                              "editor.js", "index.html", "app.py", "~", ";", "?", "#", "a" * 130])  # fmt: skip


def test_names_under_static_serve_the_editors_files_and_nothing_else(server, valid):
    @FUZZ
    @given(parts=st.lists(NAME_PARTS | st.text(max_size=5), min_size=1, max_size=6), quote=st.booleans())
    def property_(parts: list[str], quote: bool) -> None:
        name = "".join(parts)
        path = "/static/" + (urllib.parse.quote(name, safe="") if quote else name.replace(" ", "%20"))
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("utf-8", "surrogatepass")
        for status, headers, body in answers(exchange(server.port, request)):
            check_answer(status, headers, body, path)
            if status == 200:  # only ever one of the editor's files (the page at /, a file by its name)
                assert body in EDITOR_FILES.values(), path

    property_()
    assert_still_serving(server, valid)


def assert_still_serving(srv: Server, valid: dict[str, Any]) -> None:
    status, _, body = post(srv, "/v1/synthesize", json.dumps(
        {"label": valid["label"], "style_image": valid["image"]}).encode(), {})  # fmt: skip
    assert status == 200, body[:300]
    image = base64.b64decode(json.loads(body)["image"])
    assert image.startswith(b"\x89PNG")
    metrics = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    metrics.request("GET", "/metrics", headers=KEY)
    text = metrics.getresponse().read().decode()
    metrics.close()
    assert not re.search(rf'code="(?!{"|".join(map(str, DOCUMENTED_5XX))})5\d\d"', text), text

