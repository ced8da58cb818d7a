"""`sean serve` as a real process on a free loopback port, with the shipped shapes package.

Every route and error status, answers byte for byte equal to the in-process Synthesizer (also under
16 concurrent clients, with batching seen in /metrics), the Python client and `sean synth --url`,
and a drain on SIGTERM with requests in flight.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.domains import LabelError, get_domain
from sean_core.errors import BackendError, InputError
from sean_core.imageio import read_rgb
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.serve.codec import bytes_to_b64, encode_png, png_bytes
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer
from sean_tools.serve_load.loadtest import series
from tests.helpers import OPENVINO_MISSING, VOC_PALETTE, palette_png, with_exif_orientation

SHAPES = get_domain("shapes")


class Server:
    """`sean serve PKG --port 0 ARGS` in a child process; the URL comes from its ready line."""

    def __init__(self, package: Path, *args: str, ignoring: tuple[signal.Signals, ...] = ()) -> None:
        """ignoring: signals the child starts with ignored, as `nohup` or a script's `&` starts it."""
        command = [sys.executable, "-m", "sean_core.cli", "serve", str(package), "--port", "0", *args]

        def ignore() -> None:
            for sig in ignoring:
                signal.signal(sig, signal.SIG_IGN)

        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        preexec_fn=ignore if ignoring else None)
        line = self.process.stdout.readline()
        match = re.search(r"http://\S+", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"no ready line: {line!r} {self.process.stderr.read()}")
        self.url = match.group(0)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.log: list[str] = []
        self._reader = threading.Thread(target=lambda: self.log.extend(self.process.stderr), daemon=True)
        self._reader.start()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the server, wait for its exit code; self.log then holds its whole log."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code


def call(server: Server, method: str, route: str, body: Any = None, headers: dict | None = None,
         raw: bytes | None = None):
    """-> (status, headers, parsed JSON answer) over a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    connection.request(method, route, body=payload, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    try:
        answer = json.loads(data)
    except ValueError:
        answer = data.decode()
    return response.status, dict(response.getheaders()), answer


def assert_error(status: int, answer: Any, expected_status: int, *words: str) -> None:
    assert status == expected_status, answer
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    message = answer["error"]
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message


def b64_file(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def decode_answer(answer: dict) -> np.ndarray:
    return RemoteSynthesizer.decode_image(answer["image"])


@pytest.fixture(scope="module")
def data(shapes_samples) -> Path:
    return shapes_samples / "test"


@pytest.fixture(scope="module")
def synth(shapes_package) -> Synthesizer:
    return Synthesizer.load(shapes_package, backend="onnxruntime")


@pytest.fixture(scope="module")
def server(shapes_package, shapes_samples):
    srv = Server(shapes_package, "--samples", str(shapes_samples), "--max-wait-ms", "20")
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def guarded(shapes_package, tmp_path_factory):
    """A server with an API key and tight limits: 8 KB bodies, 4096 pixels, 1 waiting job, no batching."""
    key = tmp_path_factory.mktemp("key") / "key.txt"
    key.write_text("s3cret\n")
    srv = Server(
        shapes_package, "--api-key-file", str(key), "--max-body-mb", "0.008", "--max-image-pixels", "4096",
        "--max-queue", "1", "--max-batch", "1",
    )
    yield srv
    assert srv.stop() == 0


KEY = {"Authorization": "Bearer s3cret"}


# --- routes ------------------------------------------------------------------------------------------
def test_healthz_info_and_samples(server, synth, data):
    assert call(server, "GET", "/healthz")[:3:2] == (200, {"status": "ok"})
    status, _, info = call(server, "GET", "/v1/info")
    assert status == 200
    assert info["class_names"] == list(SHAPES.class_names)
    assert info["palette"] == [list(c) for c in SHAPES.palette]
    assert info["resolution"] == {"height": 64, "width": 64}
    assert info["style_dim"] == synth.package.style_dim
    assert (info["backend"], info["precision"], info["computes"], info["domain"]) == ("onnxruntime", "fp32", "fp32",
                                                                                     "shapes")
    status, _, answer = call(server, "GET", "/v1/samples")
    assert status == 200 and len(answer["samples"]) == 4
    first = answer["samples"][0]
    image, labels, _ = SHAPES.load_pair(SHAPES.list_pairs(data.parent, "test")[0], size=(64, 64))
    np.testing.assert_array_equal(RemoteSynthesizer.decode_image(first["image"]), image)
    label_png = base64.b64decode(first["label"])
    from sean_core.imageio import raw_from_bytes

    np.testing.assert_array_equal(raw_from_bytes(label_png), labels)


def test_encode_equals_the_library_bit_for_bit(server, synth, data):
    body = {"image": b64_file(data / "images/00002.png"), "label": b64_file(data / "labels/00002.png")}
    status, _, answer = call(server, "POST", "/v1/encode", body)
    assert status == 200, answer
    local = synth.encode(data / "images/00002.png", data / "labels/00002.png")
    remote = Styles.from_json(answer["styles"], synth.class_names)
    np.testing.assert_array_equal(remote.codes, local.codes)
    np.testing.assert_array_equal(remote.present, local.present)


def test_synthesize_with_edits_equals_the_library(server, synth, data):
    img = {i: data / f"images/0000{i}.png" for i in range(4)}
    lab = {i: data / f"labels/0000{i}.png" for i in range(4)}
    body = {
        "label": b64_file(lab[0]),
        "style_image": b64_file(img[1]),
        "style_label": b64_file(lab[1]),
        "swaps": [{"classes": ["blob", 3], "image": b64_file(img[2]), "label": b64_file(lab[2])}],
        "interpolate": {"alpha": 0.25, "classes": "ground", "image": b64_file(img[3]), "label": b64_file(lab[3])},
        "seed": 7,
        "return_styles": True,
    }
    status, _, answer = call(server, "POST", "/v1/synthesize", body)
    assert status == 200, answer
    styles = synth.encode(img[1], lab[1]).swap(["blob", 3], synth.encode(img[2], lab[2]))
    styles = styles.interpolate(synth.encode(img[3], lab[3]), 0.25, "ground")
    expected = synth.synthesize(lab[0], styles, seed=7)[0]
    np.testing.assert_array_equal(decode_answer(answer), expected)
    assert (answer["seed"], answer["backend"]) == (7, "onnxruntime") and answer["ms"] > 0
    # The styles it returns, sent back as JSON, give the same image; without noise another one.
    again = {"label": body["label"], "styles": answer["styles"], "seed": 7}
    np.testing.assert_array_equal(decode_answer(call(server, "POST", "/v1/synthesize", again)[2]), expected)
    quiet = call(server, "POST", "/v1/synthesize", {**again, "noise": False})[2]
    np.testing.assert_array_equal(decode_answer(quiet), synth.synthesize(lab[0], styles, seed=7, noise=False)[0])
    assert not np.array_equal(decode_answer(quiet), expected)


def test_style_label_defaults_to_the_label_and_colour_masks_work(server, synth, data):
    label, image = data / "labels/00001.png", data / "images/00001.png"
    colours = encode_png(SHAPES.labels_to_colors(SHAPES.read_label(label)))
    status, _, answer = call(server, "POST", "/v1/synthesize", {"label": colours, "style_image": b64_file(image)})
    assert status == 200, answer
    np.testing.assert_array_equal(decode_answer(answer), synth.synthesize(label, synth.encode(image, label))[0])


def test_remote_synthesizer_equals_the_local_one(server, synth, data):
    labels = [data / f"labels/0000{i}.png" for i in range(3)]
    with RemoteSynthesizer(server.url) as remote:
        assert remote.class_names == synth.class_names and remote.resolution == synth.resolution
        local_styles = synth.encode(data / "images/00003.png", data / "labels/00003.png")
        remote_styles = remote.encode(data / "images/00003.png", data / "labels/00003.png")
        np.testing.assert_array_equal(remote_styles.codes, local_styles.codes)
        # a batch: image i uses seed + i on both sides; arrays travel as PNG
        ids = np.stack([SHAPES.read_label(p) for p in labels])
        expected = synth.synthesize(labels, local_styles, seed=11)
        np.testing.assert_array_equal(remote.synthesize(ids, remote_styles, seed=11), expected)
        with pytest.raises(InputError, match="unknown class"):
            remote_styles.swap("nope", remote_styles)
        with pytest.raises(InputError, match="outside"):
            remote.synthesize(np.full((64, 64), 9), remote_styles)
    with pytest.raises(BackendError, match="cannot reach"):
        RemoteSynthesizer("http://127.0.0.1:1")


def test_sean_synth_url_writes_the_same_file_as_a_local_run(server, shapes_package, data, tmp_path):
    args = ["--label", data / "labels/00000.png", "--style", data / "images/00002.png", "--style-label",
            data / "labels/00002.png", "--swap", f"blob={data / 'images/00003.png'}:{data / 'labels/00003.png'}",
            "--seed", 3]
    remote = CliRunner().invoke(main, ["synth", "--url", server.url, *map(str, args), "-o", str(tmp_path / "r.png")])
    local = CliRunner().invoke(main, ["synth", str(shapes_package), *map(str, args), "-o", str(tmp_path / "l.png")])
    assert remote.exit_code == 0 and local.exit_code == 0, remote.output + local.output
    assert server.url in remote.output
    assert (tmp_path / "r.png").read_bytes() == (tmp_path / "l.png").read_bytes()
    both = CliRunner().invoke(main, ["synth", str(shapes_package), "--url", server.url, *map(str, args), "-o", "x.png"])
    assert both.exit_code == 2 and "one of the three" in both.output


def test_metrics_are_prometheus_text(server):
    call(server, "GET", "/v1/info")
    status, headers, text = call(server, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    for name in ("sean_http_requests_total", "sean_http_request_duration_seconds_bucket",
                 "# TYPE sean_batch_images histogram", "sean_queue_depth", "sean_images_total",
                 "process_resident_memory_bytes"):
        assert name in text, name
    assert series(text, "sean_http_requests_total", route="/v1/info", code="200") >= 1


# --- errors ------------------------------------------------------------------------------------------
def test_bad_input_is_400_with_one_line(server, data):
    label, image = b64_file(data / "labels/00001.png"), b64_file(data / "images/00001.png")
    wide = encode_png(np.zeros((64, 32, 3), np.uint8))
    turned = with_exif_orientation(png_bytes(np.zeros((64, 48, 3), np.uint8)), 6)  # read 64 wide, 48 high
    cases = [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        ({"style_image": image}, "label is missing"),
        ({"label": label}, "styles are missing"),
        ({"label": label, "style_image": image, "sed": 1}, "unknown field(s) ['sed']"),
        ({"label": "%%%", "style_image": image}, "label is not valid base64"),
        ({"label": base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode(), "style_image": image}, "label"),
        ({"label": label, "style_image": base64.b64encode(b"GIF89a....").decode()},
         "style_image: not a readable image"),
        ({"label": encode_png(np.full((64, 64), 9, np.uint8)), "style_image": image}, "outside the 8 classes"),
        ({"label": encode_png(np.full((64, 64, 3), 7, np.uint8)), "style_image": image}, "not in the palette"),
        ({"label": bytes_to_b64(palette_png(np.zeros((64, 64), np.uint8), VOC_PALETTE[1:])), "style_image": image},
         "label is an indexed-colour (palette) PNG, which is read by its palette's colours"),
        ({"label": label, "style_image": wide}, "width x height"),
        ({"label": label, "style_image": bytes_to_b64(turned)}, "is 64x48 after its EXIF orientation (stored 48x64)"),
        ({"label": label, "style_image": image, "swaps": [{"classes": ["hair"], "styles": {}}]}, "swaps[0].styles"),
        ({"label": label, "styles": {"codes": [[0.0] * 5] * 8, "present": [True] * 8}}, "style length is 32"),
        ({"label": label, "styles": {"codes": [[0.0] * 32] * 8, "present": [True] * 8, "class_names": ["x"]}},
         "package has"),
        ({"label": label, "style_image": image, "swaps": [{"classes": [8], "image": image, "label": label}]},
         "class id 8 is outside"),
        ({"label": label, "style_image": image, "seed": -1}, "seed must be"),
        ({"label": label, "style_image": image, "interpolate": {"alpha": 2, "image": image, "label": label}},
         "alpha must be"),
    ]
    for body, words in cases:
        raw = body if isinstance(body, bytes) else None
        status, _, answer = call(server, "POST", "/v1/synthesize", None if raw else body, raw=raw)
        assert_error(status, answer, 400, words)
    status, _, answer = call(server, "POST", "/v1/encode", {"image": image})  # no segmenter to label it
    assert_error(status, answer, 400, "image comes without its label map", "give the label map")
    assert_error(*call(server, "GET", "/nope")[::2], 404, "/v1/synthesize")
    status, headers, answer = call(server, "GET", "/v1/synthesize")
    assert_error(status, answer, 405, "POST")
    assert headers["Allow"] == "POST"  # a 405 names the methods the route takes (RFC 9110, 15.5.6)
    status, headers, answer = call(server, "DELETE", "/v1/info")
    assert_error(status, answer, 405, "GET")
    assert headers["Allow"] == "GET, HEAD"
    assert call(server, "GET", "/healthz")[0] == 200  # nothing above hurt the server


def test_an_id_map_in_three_channels_or_a_bgr_mask_is_a_400_with_the_librarys_hint(server, data):
    """Uploads read with cv2.imread: an id map as three equal channels, a colour mask as BGR. The server answers
    400 with the message and hint of the library (Domain.colour_mask_hint), on every route that reads a label."""
    labels = SHAPES.read_label(data / "labels/00001.png").astype(np.uint8)
    image = b64_file(data / "images/00001.png")
    greys = png_bytes(np.repeat(labels[:, :, None], 3, axis=2))
    bgr = png_bytes(SHAPES.labels_to_colors(labels)[:, :, ::-1])
    for upload, hint in ((greys, "looks like class ids saved as RGB"), (bgr, "looks like BGR")):
        for route, field, body in (
            ("/v1/synthesize", "label", {"style_image": image}),
            ("/v1/synthesize", "style_label", {"label": b64_file(data / "labels/00001.png"), "style_image": image}),
            ("/v1/encode", "label", {"image": image}),
        ):
            with pytest.raises(LabelError) as caught:
                SHAPES.labels_from_bytes(upload, field)
            assert hint in str(caught.value)
            status, _, answer = call(server, "POST", route, {**body, field: bytes_to_b64(upload)})
            assert status == 400 and answer == {"error": str(caught.value)}, (route, field, status, answer)


def test_api_key_body_and_pixel_limits(guarded, data):
    label, image = b64_file(data / "labels/00002.png"), b64_file(data / "images/00002.png")
    body = {"label": label, "style_image": image}
    assert call(guarded, "GET", "/healthz")[0] == 200  # probes need no key
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cre"}, {"Authorization": "s3cret"}):
        status, response_headers, answer = call(guarded, "POST", "/v1/synthesize", body, headers)
        assert_error(status, answer, 401, "API key")
        assert response_headers["WWW-Authenticate"] == "Bearer"
    assert call(guarded, "GET", "/metrics")[0] == 401
    assert call(guarded, "POST", "/v1/synthesize", body, {"X-API-Key": "s3cret"})[0] == 200
    big = {"label": label, "style_image": b64_file(data / "images/00002.png") * 3}
    status, _, answer = call(guarded, "POST", "/v1/synthesize", big, KEY)
    assert_error(status, answer, 413, "limit of 8388 bytes")
    chunked = http.client.HTTPConnection("127.0.0.1", guarded.port, timeout=60)  # no Content-Length to check
    chunked.request("POST", "/v1/synthesize", body=iter([json.dumps(big).encode()]), headers=KEY, encode_chunked=True)
    response = chunked.getresponse()
    assert_error(response.status, json.loads(response.read()), 413, "limit of 8388 bytes")
    large = encode_png(np.zeros((65, 64), np.uint8))
    status, _, answer = call(guarded, "POST", "/v1/synthesize", {"label": large, "style_image": image}, KEY)
    assert_error(status, answer, 400, "label is 64x65 pixels, more than the limit of 4096; send it smaller")


def test_each_request_is_one_access_log_line_without_the_key(guarded):
    marker = "/v1/access-log-check"
    assert call(guarded, "GET", marker + "?key=s3cret", headers=KEY)[0] == 404
    assert call(guarded, "GET", marker, headers={"X-API-Key": "s3cret-but-wrong"})[0] == 401
    assert call(guarded, "GET", "/v1/info", headers=KEY)[0] == 200
    deadline = time.monotonic() + 5  # the log is read by a thread
    while not any(" GET /v1/info 200 " in line for line in guarded.log):
        assert time.monotonic() < deadline, guarded.log[-10:]
        time.sleep(0.05)
    lines = [line for line in guarded.log if marker in line]
    assert len(lines) == 2, lines
    assert re.search(r"sean_runtime\.serve\.access: 127\.0\.0\.1 GET /v1/access-log-check 404 \d+\.\d ms$", lines[0])
    assert " GET /v1/access-log-check 401 " in lines[1]
    assert not any("s3cret" in line for line in guarded.log)  # neither a header nor the query


def test_a_full_queue_answers_503_with_retry_after(guarded, data):
    body = {"label": b64_file(data / "labels/00002.png"), "style_image": b64_file(data / "images/00002.png")}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: call(guarded, "POST", "/v1/synthesize", body, KEY), range(32)))
    statuses = {status for status, _, _ in answers}
    assert statuses <= {200, 503} and 503 in statuses and 200 in statuses
    status, headers, answer = next(a for a in answers if a[0] == 503)
    assert headers["Retry-After"] == "1"
    assert_error(status, answer, 503, "queue is full")


@pytest.mark.slow
def test_past_the_timeout_is_504_and_the_server_stays_well(shapes_package, data):
    srv = Server(shapes_package, "--timeout-s", "0.1", "--max-batch", "1")
    try:
        body = {"label": b64_file(data / "labels/00001.png"), "style_image": b64_file(data / "images/00001.png")}
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda _: call(srv, "POST", "/v1/synthesize", body), range(64)))
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 504} and 504 in statuses, statuses
        status, _, answer = next(a for a in answers if a[0] == 504)
        assert_error(status, answer, 504, "longer than the server's limit of 0.1 s")
        time.sleep(0.5)  # the inference thread drops the jobs of requests that gave up
        assert call(srv, "GET", "/healthz")[0] == 200
        assert re.search(r"^sean_queue_depth 0\.0$", call(srv, "GET", "/metrics")[2], re.M)
        assert not any("Traceback" in line for line in srv.log)
    finally:
        assert srv.stop() == 0


# --- batching and shutdown ------------------------------------------------------------------------------
def metric(text: str, name: str, **labels: str) -> float:
    value = series(text, name, **labels)
    assert value is not None, f"no series {name}{labels}"
    return value


@pytest.mark.slow
def test_16_concurrent_clients_get_exactly_the_local_answers_and_are_batched(server, synth, data):
    pairs = [(data / f"images/0000{i}.png", data / f"labels/0000{i}.png") for i in range(4)]
    styles = [synth.encode(image, label) for image, label in pairs]
    before = call(server, "GET", "/metrics")[2]

    def client(c: int) -> list[tuple[int, np.ndarray]]:
        out = []
        for r in range(8):
            seed, label_index, style_index = 100 * c + r, (c + r) % 4, (c * 3 + r) % 4
            body = {"label": b64_file(pairs[label_index][1]), "seed": seed, "noise": r % 3 != 0}
            if r % 2:
                body["styles"] = styles[style_index].to_json()
            else:
                body["style_image"], body["style_label"] = map(b64_file, pairs[style_index])
            status, _, answer = call(server, "POST", "/v1/synthesize", body)
            assert status == 200, answer
            expected = synth.synthesize(pairs[label_index][1], styles[style_index], seed=seed, noise=r % 3 != 0)[0]
            out.append((int(np.array_equal(decode_answer(answer), expected)), expected))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [item for chunk in pool.map(client, range(16)) for item in chunk]
    assert len(results) == 128 and all(same for same, _ in results)
    after = call(server, "GET", "/metrics")[2]

    def grown(name: str, **labels: str) -> float:  # a series is absent before the server's first generator call
        return metric(after, name, op="generate", **labels) - (series(before, name, op="generate", **labels) or 0.0)

    calls, images, singles = grown("sean_batch_images_count"), grown("sean_batch_images_sum"), grown(
        "sean_batch_images_bucket", le="1.0"
    )
    assert images == 128 and calls < 128 and singles < calls, (calls, singles)  # some calls had > 1 image


@pytest.mark.slow
def test_sigterm_finishes_the_requests_in_flight_refuses_new_ones_and_exits_0(shapes_package, data):
    srv = Server(shapes_package, "--max-batch", "1", "--threads", "1", "--max-queue", "1000")
    # Three style images a request (three encoder jobs and a generator job): the 48 requests take the
    # server seconds, longer than the clients take to send them all.
    body = {
        "label": b64_file(data / "labels/00001.png"), "style_image": b64_file(data / "images/00001.png"),
        "swaps": [{"classes": ["blob"], "image": b64_file(data / "images/00002.png"),
                   "label": b64_file(data / "labels/00002.png")}],
        "interpolate": {"alpha": 0.5, "image": b64_file(data / "images/00003.png"),
                        "label": b64_file(data / "labels/00003.png")},
    }
    count = 48

    def arrived(text: str) -> float:
        """Requests being answered or answered: the metrics are scraped on the server's event loop, where a
        request leaves the in-flight gauge and enters the answered count in one step."""
        answered = series(text, "sean_http_requests_total", route="/v1/synthesize", code="200") or 0.0
        return metric(text, "sean_requests_in_flight") + answered

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(call, srv, "POST", "/v1/synthesize", body) for _ in range(count)]
        deadline = time.monotonic() + 60
        while arrived(call(srv, "GET", "/metrics")[2]) < count:
            assert time.monotonic() < deadline, "the requests never all arrived"
            time.sleep(0.005)
        srv.process.send_signal(signal.SIGTERM)
        late = [call(srv, "POST", "/v1/synthesize", body), call(srv, "GET", "/healthz")]
        answers = [f.result() for f in futures]
    assert srv.process.wait(30) == 0
    assert [status for status, _, _ in answers] == [200] * count
    for status, headers, answer in late:
        assert status == 503 and headers["Retry-After"] == "1", answer
    assert "shutting down" in late[0][2]["error"] and late[1][2] == {"status": "draining"}
    draining = [int(m.group(1)) for line in srv.log if (m := re.search(r"draining: (\d+) request", line))]
    assert draining and draining[0] >= 1, srv.log  # the signal came while requests were being answered


def drain_client(port: int, body: bytes, keep_alive: bool, stop: threading.Event) -> list[str]:
    """Loop requests until the server refuses connections; -> one outcome per request: "200", "503", or
    what went wrong ("reset: ..." for a connection that was accepted and got no answer)."""
    outcomes: list[str] = []
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.connect()
            except ConnectionRefusedError:
                break  # the listener is closed: nothing was accepted
        try:
            connection.request("POST", "/v1/synthesize", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            outcomes.append(f"reset: {type(exc).__name__}: {exc}")
            break
        if response.status == 503:
            answer = json.loads(data)
            outcomes.append("503" if "shutting down" in answer["error"] else f"503 {answer}")
        else:
            outcomes.append(str(response.status))
        if not keep_alive or response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = None
    if connection is not None:
        connection.close()
    return outcomes


@pytest.mark.slow
def test_drain_answers_every_accepted_connection_and_a_second_sigterm_exits_0(shapes_package, data):
    """16 clients looping (half on keep-alive connections) through SIGTERM: every request gets its image or
    a 503 JSON answer, none a reset; a second SIGTERM during the drain changes nothing (exit 0).
    Before: ~2 in 9,000 requests got a connection reset (the accept queue reset at close), and a second
    SIGTERM could end the process with -15."""
    styles = Synthesizer.load(shapes_package, backend="onnxruntime").encode(
        data / "images/00001.png", data / "labels/00001.png")
    body = json.dumps({"label": b64_file(data / "labels/00001.png"), "styles": styles.to_json()}).encode()
    srv = Server(shapes_package, "--max-batch", "4")
    stop = threading.Event()
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(drain_client, srv.port, body, c % 2 == 0, stop) for c in range(16)]
        time.sleep(1.5)
        srv.process.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        srv.process.send_signal(signal.SIGTERM)
        try:
            code = srv.process.wait(40)
        finally:
            stop.set()
        outcomes = [o for f in futures for o in f.result(timeout=60)]
    assert code == 0, srv.log[-20:]
    problems = [o for o in outcomes if o not in ("200", "503")]
    assert not problems, (len(outcomes), problems[:5])
    assert outcomes.count("200") > 16 and outcomes.count("503") >= 1, len(outcomes)
    deadline = time.monotonic() + 5  # the log is read by a thread
    while not any("already draining" in line for line in srv.log):
        assert time.monotonic() < deadline, srv.log[-20:]
        time.sleep(0.05)


@pytest.mark.slow
def test_precision_bf16_with_two_workers_serves_the_openvino_images_of_the_library(shapes_package, data):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    pairs = [(data / f"labels/0000{i}.png", data / f"images/0000{i}.png") for i in range(4)]
    with Synthesizer.load(shapes_package, precision_hint="bf16", threads=1) as local:
        expected = [local.synthesize(lab, local.encode(img, lab), seed=3)[0] for lab, img in pairs]
        executes = local.backend.execution_precision
    # Two workers: OpenVINO runs two streams of one thread each, four requests at once.
    srv = Server(shapes_package, "--precision", "bf16", "--threads", "1", "--workers", "2", "--max-batch", "1")
    try:
        status, _, info = call(srv, "GET", "/v1/info")
        assert status == 200 and (info["backend"], info["workers"]) == ("openvino", 2)
        assert f"executes {executes}" in info["device"]
        assert (info["precision"], info["computes"]) == ("fp32", {"f32": "fp32", "bf16": "bf16"}[executes])
        bodies = [{"label": b64_file(lab), "style_image": b64_file(img), "seed": 3} for lab, img in pairs]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda body: call(srv, "POST", "/v1/synthesize", body), bodies))
        for (status, _, answer), image in zip(answers, expected, strict=True):
            assert status == 200, answer
            np.testing.assert_array_equal(decode_answer(answer), image)
    finally:
        assert srv.stop() == 0
    # The log says why OpenVINO runs although --backend is auto.
    assert any("OpenVINO chosen: precision bf16" in line for line in srv.log), srv.log


@pytest.mark.slow
def test_sigint_on_an_idle_server_exits_0(shapes_package):
    assert Server(shapes_package).stop(signal.SIGINT) == 0


def test_a_broken_package_fails_with_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    result = subprocess.run(
        [sys.executable, "-m", "sean_core.cli", "serve", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Error:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("content", "words"), [
    (b"", "found none"),
    (b"two words\n", "found white space inside it"),
    (b"\xff\xfekey\n", "the file is not UTF-8 text (invalid start byte at byte 0)"),
])
def test_an_api_key_file_that_holds_no_usable_key_is_one_line_saying_why(shapes_package, tmp_path, content, words):
    """Before: a key with a space inside was "found none", and a file that is not UTF-8 a traceback."""
    key = tmp_path / "key.txt"
    key.write_bytes(content)
    result = CliRunner().invoke(main, ["serve", str(shapes_package), "--port", "0", "--api-key-file", str(key)])
    assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_the_image_is_read_like_a_file(server, synth, data, tmp_path):
    """A JPEG style image: the server decodes the same bytes the local reader does."""
    import cv2

    jpeg = tmp_path / "style.jpg"  # not beside the shared samples, which the server lists
    cv2.imwrite(str(jpeg), cv2.cvtColor(read_rgb(data / "images/00002.png"), cv2.COLOR_RGB2BGR))
    label = data / "labels/00002.png"
    answer = call(server, "POST", "/v1/synthesize", {"label": b64_file(label), "style_image": b64_file(jpeg)})[2]
    np.testing.assert_array_equal(decode_answer(answer), synth.synthesize(label, synth.encode(jpeg, label))[0])


# --- the load benchmark ------------------------------------------------------------------------------
@pytest.mark.slow
def test_bench_serve_reports_each_level_and_only_loads_loopback(server, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main, ["bench-serve", server.url, "--concurrency", "1,3", "--requests", "6", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    levels = json.loads(out.read_text())["levels"]
    assert [(v["concurrency"], v["requests"], v["errors"]) for v in levels] == [(1, 6, 0), (3, 6, 0)]
    assert all(v["p50_ms"] <= v["p90_ms"] <= v["p99_ms"] and v["server_rss_mb"] > 10 for v in levels)
    assert "p99/p50" in result.output
    remote = CliRunner().invoke(main, ["bench-serve", "http://192.0.2.1:8000"])
    assert remote.exit_code == 1 and "loopback servers only" in remote.output
