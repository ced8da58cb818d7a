"""The service's parts in-process: readiness and drain answers, the batching queue, the codec, styles JSON."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import re
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yarl
from aiohttp.test_utils import TestClient, TestServer

from sean_core.domains import get_domain
from sean_core.errors import ImageReadError, InputError
from sean_core.imageio import probe
from sean_runtime.serve.app import STATIC_DIR, ChunkedBody, ServerState, build_app, editor_files
from sean_runtime.serve.batching import InferenceQueue, QueueFull
from sean_runtime.serve.codec import decode_image, decode_label, encode_png
from sean_runtime.serve.encoding import BodyTooLarge, UnsupportedEncoding, decode_body
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.schema import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, parse_body
from sean_runtime.serve.service import Limits, Service
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer
from sean_tools.serve_load.loadtest import series

SHAPES = get_domain("shapes")
SERVING_DOC = Path(__file__).resolve().parents[1] / "docs" / "serving.md"
PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def synth(shapes_package) -> Synthesizer:
    return Synthesizer.load(shapes_package, backend="onnxruntime")


@pytest.fixture(scope="module")
def inputs(synth):
    """Label ids [4, 64, 64] and their own styles (batch 4) from shapes test samples."""
    pairs = [SHAPES.sample(i, "test") for i in range(4)]
    labels = np.stack([labels for _, labels in pairs]).astype(np.int32)
    return labels, synth.encode(np.stack([image for image, _ in pairs]), labels)


# --- access log -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("on", [True, False])
def test_the_access_log_is_a_line_per_request_and_off_with_no_access_log(caplog, on):
    async def scenario() -> None:
        state = ServerState(Limits(), Metrics(max_batch=8), "k3y", access_log=on)
        async with TestClient(TestServer(build_app(state))) as client:
            await client.get("/healthz")
            await client.get("/v1/info?api_key=k3y", headers={"X-API-Key": "k3y"})
            await client.post("/v1/synthesize", json={}, headers={"Authorization": "Bearer nope"})

    with caplog.at_level(logging.INFO, logger="sean_runtime.serve.access"):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "sean_runtime.serve.access"]
    if not on:
        assert lines == []
        return
    assert [line.split()[1:4] for line in lines] == [
        ["GET", "/healthz", "503"], ["GET", "/v1/info", "503"], ["POST", "/v1/synthesize", "401"]]
    assert all(line.startswith("127.0.0.1 ") and line.endswith(" ms") for line in lines), lines
    assert "k3y" not in caplog.text and "nope" not in caplog.text


def test_404_and_405_quote_the_path_as_sent_and_cut():
    """Before: /v1%2Finfo was "no route GET /v1/info" (a route that exists), and a 405 quoted an 8 KB path whole."""
    async def scenario() -> list[tuple[int, str]]:
        state = ServerState(Limits(), Metrics(max_batch=8))
        async with TestClient(TestServer(build_app(state))) as client:
            seen = []
            for method, path in (("GET", "/v1%2Finfo"), ("PUT", "/static/" + "a" * 3000)):
                response = await client.request(method, yarl.URL(path, encoded=True))
                seen.append((response.status, (await response.json())["error"]))
            return seen

    (missing, message), (not_allowed, long) = asyncio.run(scenario())
    assert missing == 404 and message.startswith("no route GET /v1%2Finfo; the routes are"), message
    assert not_allowed == 405 and long.startswith("/static/aaa") and "a..." in long and len(long) < 200, long


# --- metrics ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scraped(synth) -> str:
    """/metrics of an in-process server with its queue reporting as `sean serve`'s does, after a 200 and a 400."""
    image, labels = SHAPES.sample(0, "test")
    body = {"label": encode_png(labels.astype(np.uint8)), "style_image": encode_png(image), "seed": 0}

    async def scenario() -> str:
        metrics = Metrics(max_batch=8)
        state = ServerState(Limits(), metrics)
        queue = InferenceQueue(synth, 8, 0.005, 64, on_batch=metrics.batch, on_depth=metrics.queue_depth.set)
        queue.start()
        state.service = Service(synth, queue, state.limits, [])
        try:
            async with TestClient(TestServer(build_app(state))) as client:
                assert (await client.post("/v1/synthesize", json=body)).status == 200
                assert (await client.post("/v1/synthesize", json={"label": "x"})).status == 400
                return await (await client.get("/metrics")).text()
        finally:
            await queue.stop()

    return asyncio.run(scenario())


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not on PATH (apt-get install prometheus; scripts/test.sh "
                                             "does it as root)")
def test_metrics_pass_promtool_and_name_the_status_label_code(scraped):
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=scraped, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
    # What promtool does not check: `code` is the status label of http_requests_total in Prometheus's own
    # metrics and client_golang's promhttp, and rates are left to rate() (no in-process *_per_second gauge).
    for code in ("200", "400"):
        assert series(scraped, "sean_http_requests_total", route="/v1/synthesize", code=code) == 1, scraped
    assert not re.search(r"^# TYPE \S+_per_second ", scraped, re.M), scraped


def test_a_400_and_a_200_have_latency_series_of_their_own(scraped):
    """The latency histogram has `code` besides `route`, so a refusal in microseconds and a synthesis in tens of
    ms fall in series (and percentiles) of their own; `code` is the one the request counter has, for each answer."""
    for code in ("200", "400"):
        count = "sean_http_request_duration_seconds_count"
        assert series(scraped, count, route="/v1/synthesize", code=code) == 1, scraped
        assert series(scraped, "sean_http_requests_total", route="/v1/synthesize", code=code) == 1, scraped
    assert series(scraped, "sean_http_request_duration_seconds_count", route="/v1/synthesize") is None, scraped


def test_the_metrics_exposed_are_the_ones_docs_serving_lists(scraped):
    """Each sean_* family with its type and labels, as the table of docs/serving.md's `GET /metrics` gives it."""
    rows = re.findall(r"^\| `(sean_\w+)(?:\{([\w,]+)\})?` \| (\w+) \|", SERVING_DOC.read_text(), re.M)
    documented = {(name, frozenset(labels.split(",")) if labels else frozenset(), kind) for name, labels, kind in rows}
    kinds = dict(re.findall(r"^# TYPE (sean_\w+) (\w+)$", scraped, re.M))
    exposed = set()
    for family, kind in kinds.items():
        name = family + "_total" if kind == "counter" and not family.endswith("_total") else family
        suffix = "_count" if kind == "histogram" else ""
        found_series = re.findall(rf"^{name}{suffix}(?:\{{([^}}]*)\}})? ", scraped, re.M)
        assert found_series, f"no series of {family}"
        labels = {frozenset(re.findall(r'(\w+)="', found)) for found in found_series}
        assert len(labels) == 1, (family, labels)
        exposed.add((name, labels.pop(), kind))
    assert exposed == documented, f"exposed only: {exposed - documented}; documented only: {documented - exposed}"


# --- readiness and drain -------------------------------------------------------------------------------
def test_healthz_and_v1_answer_503_before_ready_and_while_draining():
    async def scenario() -> list[tuple[int, dict, str | None]]:
        state = ServerState(Limits(), Metrics(max_batch=8))
        seen = []
        async with TestClient(TestServer(build_app(state))) as client:
            for draining in (False, True):
                state.draining = draining
                for method, path in (("GET", "/healthz"), ("GET", "/v1/info"), ("POST", "/v1/synthesize")):
                    response = await client.request(method, path, json={})
                    seen.append((response.status, await response.json(), response.headers.get("Retry-After")))
        return seen

    loading, draining = (answers := asyncio.run(scenario()))[:3], answers[3:]
    assert loading[0] == (503, {"status": "loading"}, "1")
    assert draining[0] == (503, {"status": "draining"}, "1")
    for status, answer, retry in loading[1:]:
        assert (status, retry) == (503, "1") and "still loading" in answer["error"]
    for status, answer, retry in draining[1:]:
        assert (status, retry) == (503, "1") and "shutting down" in answer["error"]


# --- the batching queue ------------------------------------------------------------------------------
def run_queue(synth, max_batch: int, max_wait: float, max_queue: int, work, workers: int = 1):
    """Run work(queue) on a started InferenceQueue; -> (work's result, [(op, images) per backend call])."""
    calls: list[tuple[str, int]] = []

    async def scenario():
        queue = InferenceQueue(
            synth, max_batch, max_wait, max_queue, workers, on_batch=lambda op, n, s: calls.append((op, n))
        )
        queue.start()
        try:
            return await work(queue)
        finally:
            await queue.stop()

    return asyncio.run(scenario()), calls


async def request(queue: InferenceQueue, labels: np.ndarray, styles: Styles, seed: int, noise: bool) -> np.ndarray:
    with queue.ticket() as ticket:
        await asyncio.sleep(0.01)  # decoding, while the other requests arrive
        return await ticket.generate(labels, styles, seed, noise)


@pytest.mark.parametrize(("workers", "batches"), [(1, [6]), (2, None)])
def test_concurrent_requests_share_generator_calls_and_keep_their_own_seed(synth, inputs, workers, batches):
    labels, styles = inputs
    jobs = [(labels[i % 4], styles[(i * 3) % 4], 50 + 7 * i, i % 3 != 0) for i in range(6)]

    async def work(queue):
        return await asyncio.gather(*(request(queue, *job) for job in jobs))

    images, calls = run_queue(synth, max_batch=8, max_wait=5.0, max_queue=64, work=work, workers=workers)
    # One worker: all six were announced, so the batch waited for each of them. Two: shared out between
    # the workers; how evenly depends on when each request arrives (a loaded machine delays some), but
    # every image comes in a batched call and no call runs alone while others wait.
    if batches is not None:
        assert calls == [("generate", n) for n in batches]
    else:
        sizes = [n for kind, n in calls if kind == "generate"]
        assert sum(sizes) == 6 and 2 <= len(sizes) <= 3 and max(sizes) >= 2, calls
    for image, (label, style, seed, noise) in zip(images, jobs, strict=True):
        np.testing.assert_array_equal(image, synth.synthesize(label, style, seed=seed, noise=noise)[0])


def test_batches_are_cut_at_max_batch(synth, inputs):
    labels, styles = inputs

    async def work(queue):
        return await asyncio.gather(*(request(queue, labels[0], styles[0], i, True) for i in range(5)))

    images, calls = run_queue(synth, max_batch=2, max_wait=5.0, max_queue=64, work=work)
    sizes = [n for _, n in calls]  # [2, 2, 1] on a quiet machine; a loaded one may delay a request past a cut
    assert sum(sizes) == 5 and max(sizes) == 2, calls
    for seed, image in enumerate(images):
        np.testing.assert_array_equal(image, synth.synthesize(labels[0], styles[0], seed=seed)[0])


def test_a_lone_request_does_not_wait_for_a_batch(synth, inputs):
    labels, styles = inputs

    async def work(queue):
        start = time.perf_counter()
        await request(queue, labels[1], styles[1], 0, True)
        return time.perf_counter() - start

    seconds, calls = run_queue(synth, max_batch=8, max_wait=30.0, max_queue=64, work=work)
    assert seconds < 5.0 and calls == [("generate", 1)]


def test_encoder_jobs_run_one_image_each_and_equal_the_library(synth, inputs):
    pairs = [SHAPES.sample(i, "test") for i in range(3)]

    async def work(queue):
        return await asyncio.gather(*(queue.encode(image, labels) for image, labels in pairs))

    styles, calls = run_queue(synth, max_batch=8, max_wait=0.01, max_queue=64, work=work)
    assert calls == [("encode", 1)] * 3
    for got, (image, labels) in zip(styles, pairs, strict=True):
        np.testing.assert_array_equal(got.codes, synth.encode(image, labels).codes)


def test_a_full_queue_refuses_and_a_timed_out_job_is_dropped(synth, inputs):
    labels, styles = inputs

    async def work(queue):
        with queue.ticket() as holder:  # an announced request keeps the batch waiting
            first = queue.submit("generate", (labels[0], styles[0], 0, True))
            with pytest.raises(QueueFull, match="queue is full"):
                queue.submit("generate", (labels[0], styles[0], 1, True))
            first.cancel()  # its request timed out
            await asyncio.sleep(0.05)
            holder.close()
        await asyncio.sleep(0.05)
        return await request(queue, labels[2], styles[2], 3, True)

    image, calls = run_queue(synth, max_batch=8, max_wait=30.0, max_queue=1, work=work)
    assert calls == [("generate", 1)]  # only the last request ran
    np.testing.assert_array_equal(image, synth.synthesize(labels[2], styles[2], seed=3)[0])


def test_synthesize_each_equals_one_call_per_image(synth, inputs):
    labels, styles = inputs
    seeds, noise = [9, 2, 2, 40], [True, True, False, True]
    images = synth.synthesize_each(labels, styles, seeds, noise)
    for i in range(4):
        alone = synth.synthesize(labels[i], styles[i], seed=seeds[i], noise=noise[i])[0]
        np.testing.assert_array_equal(images[i], alone)
    assert not np.array_equal(images[1], images[2])  # same seed, one without noise
    with pytest.raises(InputError, match="as many seeds"):
        synth.synthesize_each(labels, styles, seeds[:2], noise)


# --- codec -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".png", ".jpg"])
@pytest.mark.parametrize("shape", [(1, 1), (64, 64), (37, 300)])
def test_image_size_from_the_header_matches_the_decoded_image(ext, shape):
    ok, data = cv2.imencode(ext, np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8))
    assert ok and probe(data.tobytes())[1:] == shape
    text = "data:image/png;base64," + base64.b64encode(data.tobytes()).decode()  # as a browser canvas writes it
    assert decode_image(text, "image", 10**6).rgb.shape == (*shape, 3)


def test_the_pixel_limit_is_checked_before_decoding():
    # A PNG header claiming 100000 x 100000 pixels, followed by nothing: decoding would need 30 GB.
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + (100000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    with pytest.raises(ImageReadError, match=r"label is 100000x100000 pixels, more than the limit of 16777216; send"):
        decode_label(base64.b64encode(header).decode(), "label", 4096 * 4096, SHAPES)
    with pytest.raises(InputError, match="style_image is not valid base64"):
        decode_image("not base64!", "style_image", 100)


def test_label_maps_travel_as_png_like_label_files():
    ids = SHAPES.sample(3, "test")[1]
    np.testing.assert_array_equal(decode_label(encode_png(ids), "label", 10**6, SHAPES), ids)
    colours = encode_png(SHAPES.labels_to_colors(ids))
    np.testing.assert_array_equal(decode_label(colours, "label", 10**6, SHAPES), ids)


# --- styles JSON -------------------------------------------------------------------------------------
def test_styles_json_round_trip_is_bit_exact(synth, inputs):
    styles = inputs[1][2]
    text = json.dumps(styles.to_json())
    back = Styles.from_json(json.loads(text), synth.class_names, synth.package.style_dim)
    np.testing.assert_array_equal(back.codes, styles.codes)
    np.testing.assert_array_equal(back.present, styles.present)
    with pytest.raises(InputError, match="one image"):
        inputs[1].to_json()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "must be an object"),
        ({"codes": [[0.0] * 4] * 8}, "must be an object"),
        ({"codes": [[0.0] * 4] * 7, "present": [True] * 8}, "8 lists"),
        ({"codes": [[0.0] * 4] * 7 + [[0.0] * 3], "present": [True] * 8}, "equally many"),
        ({"codes": [["a"] * 4] * 8, "present": [True] * 8}, "numbers only"),
        ({"codes": [[0.0] * 4] * 8, "present": [1] * 8}, "booleans"),
        ({"codes": [[0.0] * 4] * 8, "present": [True] * 8, "class_names": "shapes"}, "package has"),
        ({"codes": [[float("nan")] * 4] * 8, "present": [True] * 8}, "NaN"),
    ],
)
def test_styles_json_errors_say_what_is_wrong(data, message):
    with pytest.raises(InputError, match=message):
        Styles.from_json(data, SHAPES.class_names)


# --- the request parser's limits -----------------------------------------------------------------------
def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + inner + b"]" * (depth - 1) + b"}"


def test_the_parser_takes_json_up_to_its_limits():
    assert parse_body(nested(MAX_JSON_DEPTH))["a"] is not None
    assert parse_body(b'{"seed": ' + b"9" * MAX_NUMBER_CHARS + b"}")["seed"] == int("9" * MAX_NUMBER_CHARS)
    # brackets and escaped quotes inside strings are text, not nesting
    text = '"\\"' + "[" * 5000 + '"'
    assert parse_body(b'{"a": ' + text.encode() + b', "b": [[1]]}')["a"] == '"' + "[" * 5000


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (nested(MAX_JSON_DEPTH + 1), f"nests {MAX_JSON_DEPTH + 1} levels"),
        (b"[" * 100_000 + b"]" * 100_000, "nests 100000 levels"),
        (b'{"a": ' + b"[" * 100_000, "nests 100001 levels"),  # cut short: refused before parsing
        (b"\\" + b"[" * 100_000, "levels"),  # not JSON at all
        (b'{"seed": ' + b"7" * 5000 + b"}", "number of 5000 characters"),
        (b'{"a": [[' + b"-" + b"1" * 5000 + b"]]}", "number of 5001 characters"),
        (b'{"a": 0.' + b"5" * 5000 + b"}", "number of 5002 characters"),
        (b'{"alpha": NaN}', "NaN is not a JSON number"),
        (b'{"alpha": -Infinity}', "-Infinity is not a JSON number"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_the_parser_refuses_past_its_limits_in_one_line(body, words):
    with pytest.raises(InputError, match=re.escape(words)) as info:
        parse_body(body)
    assert "\n" not in str(info.value)


# --- the editor's files --------------------------------------------------------------------------------
def test_the_editors_files_are_the_folders_regular_files_listed_once(tmp_path):
    (tmp_path / "new-module.js").write_text("export const x = 1;")
    (tmp_path / "index.html").write_text("<html>")
    (tmp_path / ".hidden").write_text("no")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.js").write_text("no")
    files = editor_files(tmp_path)
    assert {name: file.body for name, file in files.items()} == {"index.html": b"<html>",
                                                                 "new-module.js": b"export const x = 1;"}
    assert files["new-module.js"].content_type.endswith("javascript; charset=utf-8")  # a module script's type
    (tmp_path / "later.js").write_text("added after the start")
    assert "later.js" not in files  # the table is made once, at the start


def test_every_file_of_the_static_folder_is_served_and_nothing_else():
    expected = {p.name: p.read_bytes() for p in STATIC_DIR.iterdir() if p.is_file() and not p.name.startswith(".")}

    async def scenario() -> tuple[dict[str, tuple[int, bytes]], list[tuple[str, int, str]]]:
        state = ServerState(Limits(), Metrics(max_batch=8))
        served, refused = {}, []
        async with TestClient(TestServer(build_app(state))) as client:
            for name in expected:
                response = await client.get(f"/static/{name}")
                served[name] = (response.status, await response.read())
            for name in ("serve.py", "%2E%2E%2Fapp.py", "%2Fetc%2Fpasswd", "a" * 300, "%00", "..%5Capp.py"):
                response = await client.get(yarl.URL(f"/static/{name}", encoded=True))
                refused.append((name, response.status, response.content_type))
        return served, refused

    served, refused = asyncio.run(scenario())
    assert "index.html" in expected and "editor.js" in expected
    assert served == {name: (200, data) for name, data in expected.items()}
    assert all(status == 404 and kind == "application/json" for _, status, kind in refused), refused


# --- Content-Encoding ----------------------------------------------------------------------------------
def test_bodies_decode_by_their_content_encoding_within_the_limit():
    body = json.dumps({"label": "x" * 1000}).encode()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for encoded, coding in [
        (body, ""),
        (body, "identity"),
        (gzip.compress(body), "gzip"),
        (gzip.compress(body), "X-GZIP"),
        (zlib.compress(body), "deflate"),
        (raw_deflate.compress(body) + raw_deflate.flush(), "deflate"),
        (gzip.compress(zlib.compress(body)), "deflate, gzip"),
    ]:
        assert decode_body(encoded, coding, len(body)) == body, coding
    bomb = gzip.compress(bytes(20 * 2**20))  # 20 MB of zeros in about 20 KB
    with pytest.raises(BodyTooLarge, match="limit of 1048576 bytes"):
        decode_body(bomb, "gzip", 2**20)


@pytest.mark.parametrize(
    ("body", "coding", "error", "words"),
    [
        (b'{"label": 1}', "gzip", InputError, "not the gzip stream"),
        (b"{}", "deflate", InputError, "not the deflate stream"),  # aiohttp waited for the rest of it
        (gzip.compress(b"{}")[:-9], "gzip", InputError, "cut or has more"),
        (gzip.compress(b"{}") + b"tail", "gzip", InputError, "cut or has more"),
        (b"{}", "br", UnsupportedEncoding, "'br' is not accepted"),
        (b"{}", "gzip, zstd", UnsupportedEncoding, "'zstd' is not accepted"),
    ],
)
def test_bodies_that_are_not_what_their_content_encoding_says_are_refused(body, coding, error, words):
    with pytest.raises(error, match=re.escape(words)):
        decode_body(body, coding, 2**20)


def test_the_editors_files_revalidate_by_etag():
    async def scenario() -> list[tuple[int, str, int]]:
        state = ServerState(Limits(), Metrics(max_batch=8))
        async with TestClient(TestServer(build_app(state))) as client:
            first = await client.get("/static/editor.js")
            tag = first.headers["ETag"]
            answers = [(first.status, first.headers["Cache-Control"], len(await first.read()))]
            # If-None-Match compares weakly, and "*" is any current copy (RFC 9110, 13.1.2); before, W/ and * got 200
            for sent in (tag, f'"other", {tag}', f"W/{tag}", f'W/"other", W/{tag}', "*", '"other"', '"*"'):
                again = await client.get("/static/editor.js", headers={"If-None-Match": sent})
                answers.append((again.status, again.headers["ETag"], len(await again.read())))
        return answers

    (status, cache, size), same, listed, weak, weak_listed, star, other, quoted_star = asyncio.run(scenario())
    assert status == 200 and cache == "no-cache" and size == (STATIC_DIR / "editor.js").stat().st_size
    assert same[0] == 304 and same[2] == 0 and listed[0] == 304  # the browser's copy is current
    assert [answer[0] for answer in (weak, weak_listed, star)] == [304] * 3
    assert all(answer[1] == same[1] for answer in (weak, weak_listed, star))
    assert other[0] == 200 and other[2] == size
    assert quoted_star[0] == 200 and quoted_star[2] == size  # the tag "*" is a tag, not "any"


def test_an_answered_errors_frames_let_go_of_their_arrays_at_once():
    import gc
    import weakref

    from sean_runtime.serve.app import release_frames

    def decode_and_refuse() -> None:
        image = np.zeros((64, 64, 4))  # what a rejected request decoded
        held.append(weakref.ref(image))
        raise InputError("refused after decoding")

    held: list[weakref.ref] = []
    gc.disable()  # only the cycle collector would free it otherwise
    try:
        try:
            decode_and_refuse()
        except InputError as exc:
            kept = exc  # as asyncio.wait_for keeps it, in a cycle
        assert held[0]() is not None
        release_frames(kept)
        assert held[0]() is None
    finally:
        gc.enable()


def test_asyncios_accept_errors_pass_once_per_period_without_their_traceback():
    from sean_runtime.serve.server import ACCEPT_ERROR, ThrottledAcceptErrors

    throttle = ThrottledAcceptErrors(period_s=3600)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None,
                                 (OSError, OSError(24, "Too many open files"), None))

    first = record(f"{ACCEPT_ERROR}\nsocket: <...>")
    assert throttle.filter(first) and first.exc_info is None
    assert not any(throttle.filter(record(f"{ACCEPT_ERROR}\nsocket: <...>")) for _ in range(50))
    assert throttle.filter(record("Task was destroyed but it is pending!"))  # other asyncio errors pass
    throttle.throttle.last = -float("inf")  # the period is over
    later = record(f"{ACCEPT_ERROR}\nsocket: <...>")
    assert throttle.filter(later) and "(and 50 more since the last such line)" in later.getMessage()


# Chunked bodies aiohttp accepts: a blank line and a whole request inside chunks, an extension, trailer fields.
CHUNKED_BODIES = [
    b"1\r\n{\r\n4\r\n\r\n\r\n\r\n1\r\n}\r\n0\r\n\r\n",
    b"12;name=value\r\nGET / HTTP/1.1\r\n\r\n\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
    b"0\r\n\r\n",
    b"".join(b"%x\r\n" % n + b"\n" * n + b"\r\n" for n in range(1, 40)) + b"0\r\n\r\n",
]


@pytest.mark.parametrize("body", CHUNKED_BODIES, ids=["blank-lines", "a-request-inside", "empty", "many-chunks"])
def test_the_end_of_a_chunked_body_is_found_in_any_split_of_the_bytes(body):
    """ChunkedBody follows the chunk sizes: the end is where the body ends, however the bytes are cut into
    reads, and a request behind it in the same read is not taken for body (the header clock's walk)."""
    data = body + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    rng = np.random.default_rng(0)
    for _ in range(200):
        cuts = sorted(rng.choice(np.arange(1, len(data)), size=min(8, len(data) - 1), replace=False).tolist())
        scan, offset, end = ChunkedBody(), 0, None
        for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
            found = scan.end_in(data[start:stop], 0)
            if found is not None:
                end = offset + found
                break
            offset += stop - start
        assert end == len(body), (body, cuts)
