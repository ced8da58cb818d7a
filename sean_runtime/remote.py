"""RemoteSynthesizer: Synthesizer's encode and synthesize against a `sean serve` URL (stdlib HTTP only).

    synth = RemoteSynthesizer("http://127.0.0.1:8000")     # or Synthesizer.load("pkg"): same calls
    styles = synth.encode("face.jpg", "face.png")
    image = synth.synthesize("face.png", styles.swap("hair", synth.encode("b.jpg", "b.png")), seed=0)[0]

The same inputs and seed give the same bytes as a local Synthesizer of the served package on as many
threads as the server's --threads (docs/serving.md): PNG and JPEG files (by path or as bytes) travel as
they are, arrays as PNG (lossless, checked here as a local Synthesizer checks them), styles as exact JSON
(Styles.to_json).
Bad input raises InputError with the server's message; an unreachable or failing server, BackendError.
Each thread that calls it keeps a connection of its own open: one RemoteSynthesizer may be shared by threads.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import os
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from sean_core.errors import BackendError, InputError
from sean_core.imageio import rgb_from_bytes
from sean_runtime.inputs import (
    ManifestDomain,
    check_image_array,
    check_label_array,
    check_noise,
    check_seed,
    check_styles_count,
    image_items,
    label_items,
    load_labels,
    optional_labels,
    resolve_domain,
)
from sean_runtime.serve.codec import b64_to_bytes, bytes_to_b64, encode_png, file_to_b64
from sean_runtime.styles import Styles

API_KEY_ENV = "SEAN_API_KEY"  # the key, when the server has one and api_key is not passed
MAX_RETRY_WAIT_S = 5.0
EXCERPT_CHARS = 200  # of an answer that is not JSON, quoted in an error
INFO_FIELDS = ("class_names", "resolution", "backend", "device", "domain", "precision")  # of /v1/info, used here


def _image_b64(item: Path | bytes | np.ndarray, name: str) -> str:
    """A style image file as it is (by path or its bytes), or a uint8 RGB array (checked as a local Synthesizer
    checks it) as PNG."""
    if isinstance(item, bytes):
        return bytes_to_b64(item)
    return file_to_b64(item) if isinstance(item, Path) else encode_png(check_image_array(np.asarray(item), name))


def _label_b64(item: Path | bytes | np.ndarray, name: str) -> str:
    """A label file as it is (by path or its bytes), or an id map / colour mask array (checked as a local
    Synthesizer checks it, so that a float or bool map is refused here too, not rounded into ids) as PNG."""
    if isinstance(item, bytes):
        return bytes_to_b64(item)
    if isinstance(item, Path):
        return file_to_b64(item)
    array = np.asarray(item)
    check_label_array(array, name)
    return encode_png(array)


def _header_key(key: str) -> bytes:
    """An API key as its Authorization header value: stripped of surrounding white space as the server strips
    its key file (a key read from a file ends in a newline), sent as UTF-8 as the server compares it."""
    key = key.strip()
    if not key or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise InputError("the API key is empty or holds control characters; give the key the server was given")
    return b"Bearer " + key.encode("utf-8")


def _retry_after_s(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date as proxies send it) -> seconds to wait, None when absent
    or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time() if when.tzinfo else None
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_WAIT_S)


def _palette(info: dict[str, Any]) -> list[list[int]] | None:
    """/v1/info's palette, one [R, G, B] a class; None where the server has none or answers it in another form
    (colour masks are then refused here, where the server might take them)."""
    palette = info.get("palette")
    if isinstance(palette, list) and all(
        isinstance(rgb, list) and len(rgb) == 3 and all(isinstance(v, int) for v in rgb) for rgb in palette
    ):
        return palette
    return None


def _one_line(text: str) -> str:
    """An answer that is not the service's JSON (a proxy's HTML page), as one bounded line."""
    line = " ".join(text.split())
    return line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS] + "..."


class RemoteSynthesizer:
    """Synthesizer's encode and synthesize (and the other calls README.md lists) against a `sean serve` URL:
    the same inputs and seed give the same bytes as Synthesizer.load of the served package. Safe to share
    between threads: each thread's calls go over a keep-alive connection of its own."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0, retries: int = 3) -> None:
        """url: where `sean serve` listens, e.g. http://127.0.0.1:8000. retries: how often a 503 (queue full)
        is retried after the server's Retry-After."""
        example = "an http(s) URL such as http://127.0.0.1:8000"
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except (ValueError, TypeError) as exc:  # a port that is no number or out of range
            raise InputError(f"{url!r} is not {example} ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{url!r} is not {example}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError(f"timeout must be a number of seconds above 0, got {timeout!r:.80}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InputError(f"retries must be an integer of 0 or more, got {retries!r:.80}")
        self.url = url.rstrip("/")
        self._connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port = parts.hostname, port
        self._prefix = parts.path.rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._authorization = _header_key(key) if key else None
        self._timeout = timeout
        self._retries = retries
        # One keep-alive connection per calling thread (an HTTPConnection carries one request at a time);
        # `_open` holds every thread's, for close().
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._open_lock = threading.Lock()
        self.notes: list[str] = []
        self._info = self._check_info(self.call("GET", "/v1/info"))
        # The server's reading of label maps, so that `sean synth --url` checks a folder's before its first
        # image: the domain plugin where the server has one (and it is installed here), else the classes and
        # palette the server names, as a server without its plugin reads them.
        name, palette = self._info["domain"] or "", _palette(self._info)
        self.domain = (resolve_domain(name, self.class_names, palette) if self._info.get("domain_plugin")
                       else ManifestDomain(name, self.class_names, palette))

    def _check_info(self, info: Any) -> dict[str, Any]:
        """/v1/info as `sean serve` answers it, or BackendError: the URL is some other server."""
        resolution = info.get("resolution") if isinstance(info, dict) else None
        if (
            not isinstance(info, dict)
            or any(field not in info for field in INFO_FIELDS)
            or not isinstance(info["class_names"], list)
            or not isinstance(resolution, dict)
            or not all(isinstance(resolution.get(side), int) for side in ("height", "width"))
        ):
            raise BackendError(
                f"{self.url} answers {self._prefix}/v1/info, but not as `sean serve` does (no class names and "
                f"resolution): is this the URL of a `sean serve`?"
            )
        return info

    # --- facts ------------------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self._info["class_names"])

    @property
    def resolution(self) -> tuple[int, int]:
        """(height, width) of every image the served package makes."""
        return self._info["resolution"]["height"], self._info["resolution"]["width"]

    def read_labels(self, labels: Any) -> np.ndarray:
        """Label files / arrays -> class ids int32 [B, H, W] at the package resolution, read and checked here as
        the server reads them (its classes, palette and domain plugin): a bad map is refused without a request."""
        return load_labels(labels, self.domain, *self.resolution)[0]

    def info(self) -> dict[str, Any]:
        """The server's /v1/info, with the URL."""
        return {**self._info, "url": self.url}

    def describe(self) -> str:
        h, w = self.resolution
        i = self._info
        return (
            f"{self.url}: {i['backend']} ({i['device']}) [{i['domain'] or 'no domain'}, {w}x{h}, "
            f"{len(i['class_names'])} classes, {i['precision']}]"
        )

    # --- the operations -----------------------------------------------------------------------------
    def encode(self, image: Any, label: Any = None, extra: Any = None) -> Styles:
        """Style images and their label maps (files, files' bytes or arrays, one or many) -> Styles [B, K, S]; a
        label map of None (for all, or an item of a list) is left to the server's segmenter."""
        self._no_extra(extra)
        images = image_items(image)
        labels = optional_labels(label, len(images))
        parts = []
        for i, ((name, picture), ids) in enumerate(zip(images, labels, strict=True)):
            body = {"image": _image_b64(picture, name)}
            if ids is not None:
                body["label"] = _label_b64(ids, f"label map #{i}")
            answer = self.call("POST", "/v1/encode", body)
            parts.append(Styles.from_json(answer["styles"], self.class_names))
        return Styles.concat(parts)

    def synthesize(
        self, label: Any, styles: Styles, seed: int = 0, noise: bool = True, extra: Any = None
    ) -> np.ndarray:
        """Label maps + styles (batch 1 for all, or one per label map) -> uint8 RGB [B, H, W, 3]; image i
        uses seed + i, as Synthesizer.synthesize does."""
        self._no_extra(extra)
        items = label_items(label)
        check_styles_count(styles, len(items))
        seed, noise = check_seed(seed, len(items)), check_noise(noise)
        images = []
        for i, (name, ids) in enumerate(items):
            body = {
                "label": _label_b64(ids, name),
                "styles": styles[0 if styles.batch_size == 1 else i].to_json(),
                "seed": seed + i,
                "noise": noise,
            }
            images.append(self.decode_image(self.synthesize_request(body)["image"]))
        return np.stack(images)

    def synthesize_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/synthesize with a body of the wire format (docs/serving.md): swaps and interpolation
        done by the server, e.g. with style images that are never encoded on this side."""
        return self.call("POST", "/v1/synthesize", body)

    @staticmethod
    def decode_image(text: str) -> np.ndarray:
        """A base64 PNG answer -> uint8 RGB [H, W, 3]."""
        return rgb_from_bytes(b64_to_bytes(text, "image"), source="the server's image")

    def close(self) -> None:
        """Close every thread's connection (a later call opens a new one)."""
        with self._open_lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    def _thread_connection(self) -> http.client.HTTPConnection:
        """This thread's connection: a new one the first time, and after close() or a failure."""
        connection = getattr(self._local, "connection", None)
        with self._open_lock:
            if connection is None or connection not in self._open:
                connection = self._connection_class(self._host, self._port, timeout=self._timeout)
                self._open.add(connection)
                self._local.connection = connection
        return connection

    def _drop_connection(self, connection: http.client.HTTPConnection) -> None:
        with self._open_lock:
            self._open.discard(connection)
        connection.close()

    def __enter__(self) -> RemoteSynthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ---------------------------------------------------------------------------------------
    def _no_extra(self, extra: Any) -> None:
        if extra is not None:
            raise InputError("extra mask channels are not sent over HTTP yet; use a local Synthesizer for this package")

    def call(self, method: str, route: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any JSON route of the API, e.g. call("GET", "/v1/samples"); errors raised as for the other methods."""
        payload = None if body is None else json.dumps(body).encode()
        headers: dict[str, str | bytes] = {"Content-Type": "application/json"} if payload is not None else {}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        for attempt in range(self._retries + 1):
            status, answer, retry_after = self._send(method, self._prefix + route, payload, headers)
            if status == 503 and retry_after is not None and attempt < self._retries:
                time.sleep(retry_after)
                continue
            break
        if status == 200:
            if not isinstance(answer, dict):
                raise BackendError(f"{self.url}{route} answered 200 without a JSON object: {_one_line(str(answer))}")
            return answer
        message = answer.get("error", "no error message") if isinstance(answer, dict) else _one_line(str(answer))
        if status in (400, 413, 415):  # the request's own fault: never retried (only a 503 with Retry-After is)
            raise InputError(message)
        if status == 401:
            raise BackendError(
                f"{self.url} refused the API key ({message}); set {API_KEY_ENV} (in Python also: api_key=)"
            )
        raise BackendError(f"{self.url}{route} answered {status}: {message}")

    def _send(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str | bytes]
    ) -> tuple[int, Any, float | None]:
        """(status, parsed JSON answer, Retry-After seconds); a dropped keep-alive connection is reopened once."""
        for attempt in range(2):
            connection = self._thread_connection()
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except TimeoutError as exc:
                self._drop_connection(connection)
                raise BackendError(
                    f"{self.url} gave no answer within {self._timeout:g} s (timeout=): is `sean serve` running "
                    f"there, and is the request one it can answer in that time?"
                ) from exc
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self._drop_connection(connection)
                if attempt == 1 or isinstance(exc, ConnectionRefusedError):
                    raise BackendError(f"cannot reach {self.url}: {exc}; is `sean serve` running there?") from exc
        if response.getheader("Connection", "").lower() == "close":
            self._drop_connection(connection)
        try:
            answer = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = _one_line(data.decode(errors="replace"))
        return response.status, answer, _retry_after_s(response.getheader("Retry-After"))
