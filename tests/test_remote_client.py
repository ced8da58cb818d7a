"""RemoteSynthesizer as a user meets it: the same input checks as a local Synthesizer, settings and keys
checked before any request, and one-line errors from servers that are slow or not `sean serve` at all.

Every case here was a traceback, or an input the local runtime refuses turned silently into ids.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.domains import LabelError
from sean_core.errors import BackendError, InputError
from sean_core.imageio import write_png
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.synthesizer import Synthesizer
from tests.test_serve import SHAPES, Server

KEY = "s3cret"


@pytest.fixture(scope="module")
def server(shapes_package, tmp_path_factory) -> Iterator[Server]:
    """`sean serve` with an API key in a file that ends in a newline, as key files do."""
    key_file = tmp_path_factory.mktemp("key") / "key.txt"
    key_file.write_text(KEY + "\n")
    srv = Server(shapes_package, "--api-key-file", str(key_file))
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def synth(shapes_package) -> Synthesizer:
    return Synthesizer.load(shapes_package, backend="onnxruntime")


@pytest.fixture(scope="module")
def data(shapes_samples) -> Path:
    return shapes_samples / "test"


# --- a server that is not `sean serve`, for what a client meets behind the wrong URL or a proxy ---------
class Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's (status, headers, body) after `delay` seconds."""

    def do_GET(self) -> None:
        self.respond()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.respond()

    def respond(self) -> None:
        answer = self.server.answer
        status, headers, body, delay = answer(self.path) if callable(answer) else answer
        self.server.requests += 1
        time.sleep(delay)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:  # the client gave up waiting (the timeout test)
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    httpd.daemon_threads = True
    httpd.requests = 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url_of(httpd: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message, repr(message)
    return message


# --- settings, before any request ----------------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "ftp://x", "http://"])
def test_a_url_that_is_no_http_url_is_an_input_error(url):
    with pytest.raises(InputError, match=r"is not an http\(s\) URL such as http://127\.0\.0\.1:8000") as exc:
        RemoteSynthesizer(url)
    one_line(exc)


@pytest.mark.parametrize(("setting", "words"), [
    ({"timeout": 0}, "timeout must be a number of seconds above 0"),
    ({"timeout": -1}, "timeout must be"),
    ({"timeout": "5"}, "timeout must be"),
    ({"retries": -1}, "retries must be an integer of 0 or more"),
    ({"retries": 1.5}, "retries must be"),
    ({"api_key": "ab\ncd"}, "control characters"),
    ({"api_key": "  "}, "the API key is empty"),
])
def test_settings_are_checked_before_any_request(other_server, setting, words):
    with pytest.raises(InputError, match=words):
        RemoteSynthesizer(url_of(other_server), **setting)
    assert other_server.requests == 0


def test_a_key_read_from_a_file_with_its_newline_is_the_key(server, monkeypatch):
    """The server strips its key file; the client strips the key too (it was 'Invalid header value')."""
    with RemoteSynthesizer(server.url, api_key=KEY + "\n") as remote:
        assert remote.class_names == SHAPES.class_names
    monkeypatch.setenv("SEAN_API_KEY", KEY + "\r\n")
    with RemoteSynthesizer(server.url) as remote:
        assert remote.resolution == (64, 64)
    with pytest.raises(BackendError, match="refused the API key"):  # was UnicodeEncodeError
        RemoteSynthesizer(server.url, api_key="schlüssel")


# --- inputs: what the local Synthesizer refuses, the remote one refuses -----------------------------------
def test_label_and_image_arrays_are_checked_as_a_local_synthesizer_checks_them(server, synth, data):
    labels = SHAPES.read_label(data / "labels/00001.png")
    image = SHAPES.load_pair(SHAPES.list_pairs(data.parent, "test")[1], size=(64, 64))[0]
    with RemoteSynthesizer(server.url, api_key=KEY) as remote:
        styles = remote.encode(image, labels)
        for bad in (labels.astype(np.float32), labels.astype(bool), labels.astype(np.float64) + 0.7):
            for runtime in (synth, remote):
                with pytest.raises(LabelError, match="label ids must be integers"):
                    runtime.synthesize(bad, styles if runtime is remote else synth.encode(image, labels))
        grey = image[:, :, 0]
        for runtime in (synth, remote):
            with pytest.raises(InputError, match="a grey image"):
                runtime.encode(grey, labels)
        with pytest.raises(InputError, match="got 2 channels"):
            remote.encode(image, np.stack([labels, labels], -1))


def test_synth_url_refuses_a_folders_bad_label_map_before_any_image_as_a_local_run_does(
    server, synth, shapes_package, data, tmp_path
):
    """labels/a.png good, labels/b.png with class 200: `sean synth --url` wrote a.png, and only then the
    server refused b.png (in its own words, without saying how to go on); a local run writes nothing."""
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.png").write_bytes((data / "labels/00000.png").read_bytes())
    write_png(labels / "b.png", np.full((64, 64), 200, np.uint8))
    style = ["--style", data / "images/00000.png", "--style-label", data / "labels/00000.png"]
    lines = []
    for where in ([shapes_package], ["--url", server.url]):
        out = tmp_path / f"out{len(lines)}"
        result = CliRunner(env={"SEAN_API_KEY": KEY}).invoke(
            main, ["synth", *map(str, [*where, "--label", labels, *style, "-o", out])])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines += [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert not out.exists() or not any(out.iterdir()), where
    assert len(lines) == 2 and lines[0] == lines[1], lines
    assert f"{labels / 'b.png'}: values [200] are outside the" in lines[0]
    with RemoteSynthesizer(server.url, api_key=KEY) as remote:  # the server's reading, without a request
        np.testing.assert_array_equal(remote.read_labels(data / "labels/00001.png"),
                                      synth.read_labels(data / "labels/00001.png"))


def test_numpy_seeds_and_flags_work_and_other_noise_values_are_refused(server, synth, data):
    label, image = data / "labels/00002.png", data / "images/00002.png"
    styles = synth.encode(image, label)
    with RemoteSynthesizer(server.url, api_key=KEY) as remote:
        remote_styles = remote.encode(image, label)
        got = remote.synthesize(label, remote_styles, seed=np.int64(3), noise=np.bool_(False))
        np.testing.assert_array_equal(got, synth.synthesize(label, styles, seed=3, noise=False))
        for runtime, own in ((synth, styles), (remote, remote_styles)):
            with pytest.raises(InputError, match="noise must be True or False, got 'no'"):
                runtime.synthesize(label, own, noise="no")  # was rendered with noise
            with pytest.raises(InputError, match="seed must be a non-negative integer"):
                runtime.synthesize(label, own, seed=np.float64(3))


def test_synthesize_each_names_seeds_given_as_one_number(synth, data):
    label = data / "labels/00002.png"
    styles = synth.encode(data / "images/00002.png", label)
    with pytest.raises(InputError, match="seeds must be a list with one value per label map, got 0"):
        synth.synthesize_each(label, styles, 0, [True])
    with pytest.raises(InputError, match="noise must be a list"):
        synth.synthesize_each(label, styles, [0], True)


# --- servers that are not `sean serve`, slow ones, proxies ------------------------------------------------
def test_a_server_that_is_not_sean_serve_is_named_at_once(other_server):
    other_server.answer = (200, {"Content-Type": "application/json"}, b'{"hello": 1}', 0.0)
    with pytest.raises(BackendError, match="but not as `sean serve` does") as exc:
        RemoteSynthesizer(url_of(other_server))
    one_line(exc)
    page = b"<html>\n<head><title>Welcome</title></head>\n<body>\n" + b"<p>a page</p>\n" * 40 + b"</body></html>"
    other_server.answer = (200, {"Content-Type": "text/html"}, page, 0.0)
    with pytest.raises(BackendError, match="answered 200 without a JSON object: <html> <head>") as exc:
        RemoteSynthesizer(url_of(other_server))
    assert len(one_line(exc)) < 400


def test_a_proxys_html_error_is_one_line_and_its_date_retry_after_is_waited(other_server):
    page = b"<html>\n<body>\n<h1>503 Service Temporarily Unavailable</h1>\n" + b"<hr>\n" * 30 + b"</body></html>"
    soon = formatdate(time.time() + 1, usegmt=True)  # an HTTP date, as proxies send it
    other_server.answer = (503, {"Content-Type": "text/html", "Retry-After": soon}, page, 0.0)
    start = time.monotonic()
    with pytest.raises(BackendError, match="answered 503: <html> <body> <h1>503 Service") as exc:
        RemoteSynthesizer(url_of(other_server), retries=1)
    assert len(one_line(exc)) < 400
    assert other_server.requests == 2 and time.monotonic() - start < 4.0
    other_server.requests = 0
    for unreadable in ("-5", "nan", "soon"):
        other_server.answer = (503, {"Retry-After": unreadable}, b'{"error": "busy"}', 0.0)
        with pytest.raises(BackendError, match="answered 503: busy"):  # was ValueError
            RemoteSynthesizer(url_of(other_server), retries=1)


def test_a_server_slower_than_the_timeout_is_named_as_slow(other_server):
    other_server.answer = (200, {}, b"{}", 2.0)
    with pytest.raises(BackendError, match=r"gave no answer within 0.3 s \(timeout=\)") as exc:
        RemoteSynthesizer(url_of(other_server), timeout=0.3)
    one_line(exc)


def test_styles_of_another_batch_size_are_refused_alike(server, synth, data):
    label, image = data / "labels/00002.png", data / "images/00002.png"
    three = synth.encode([image] * 3, [label] * 3)
    with RemoteSynthesizer(server.url, api_key=KEY) as remote:
        for runtime in (synth, remote):
            with pytest.raises(InputError, match=r"styles of 3 images for 2 label map\(s\): pass styles of 1 image"):
                runtime.synthesize([label, label], three)
            with pytest.raises(InputError, match="styles must be a Styles"):
                runtime.synthesize(label, three.codes)


def test_threads_sharing_one_client_each_get_their_own_answers(server, other_server):
    """Each thread calls over a connection of its own: on one shared connection, requests sent at once were
    interleaved on the wire, answers went to other threads, and calls failed with http.client's errors."""
    info = json.dumps(RemoteSynthesizer(server.url, api_key=KEY).info()).encode()

    def answer(path: str) -> tuple:  # the info of a real server, then each path echoed after a while
        body = info if path == "/v1/info" else json.dumps({"path": path}).encode()
        return 200, {"Content-Type": "application/json"}, body, 0.0 if path == "/v1/info" else 0.2

    other_server.answer = answer
    client = RemoteSynthesizer(url_of(other_server))
    start = threading.Barrier(4)

    def ask(thread: int) -> list[str]:
        start.wait()
        return [client.call("GET", f"/thread/{thread}/{i}")["path"] for i in range(3)]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(4)))
    assert answers == [[f"/thread/{t}/{i}" for i in range(3)] for t in range(4)]
    client.close()  # every thread's connection; a later call opens a new one
    assert client.call("GET", "/after/close")["path"] == "/after/close"


def test_a_files_bytes_travel_as_the_file_does(server, synth, data):
    """A file's bytes were refused by the client ("must be a file path, a numpy array ..."); they travel as
    the file does, and what the server refuses in them it refuses with a 400 and the local message."""
    image, label = data / "images/00001.png", data / "labels/00001.png"
    with RemoteSynthesizer(server.url, api_key=KEY) as remote:
        styles = remote.encode(io.BytesIO(image.read_bytes()), label.read_bytes())
        np.testing.assert_array_equal(styles.codes, synth.encode(image, label).codes)
        np.testing.assert_array_equal(remote.synthesize([memoryview(label.read_bytes())], styles, seed=2),
                                      synth.synthesize(label, styles, seed=2))
        lossy = cv2.imencode(".jpg", SHAPES.labels_to_colors(SHAPES.read_label(label)))[1].tobytes()
        with pytest.raises(LabelError) as local:
            synth.synthesize(lossy, styles)
        with pytest.raises(InputError) as remote_error:  # the server's 400
            remote.synthesize(bytearray(lossy), styles)
        assert str(remote_error.value) == str(local.value).replace("label map #0", "label")
        with pytest.raises(LabelError) as local:
            synth.encode(image, lossy)
        with pytest.raises(InputError) as remote_error:  # /v1/encode's 400
            remote.encode(image.read_bytes(), io.BytesIO(lossy))
        assert str(remote_error.value) == str(local.value).replace("label map #0", "label")
        with pytest.raises(InputError, match=r"^label map #0: expected a label map .*; it holds a PNG file"):
            remote.synthesize(np.frombuffer(label.read_bytes(), np.uint8), styles)
