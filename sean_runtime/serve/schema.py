"""The request bodies of /v1/encode and /v1/synthesize: fields, types and defaults (docs/serving.md).

Everything here is checked before any decoding or inference, and every problem is an InputError naming
the field, so a client learns all about a malformed request from one 400 answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sean_core.errors import InputError
from sean_runtime.inputs import SEED_LIMIT
from sean_runtime.styles import DEFAULT_FALLBACK, FALLBACK_NAMES

MAX_SEED = SEED_LIMIT - 1
FALLBACKS = FALLBACK_NAMES  # what a swap or interpolation does where the reference lacks a class
# What /v1/synthesize takes where a field is left out (or null), with styles.py's DEFAULT_FALLBACK; openapi.py
# publishes the same values.
DEFAULT_SEED = 0
DEFAULT_NOISE = True
DEFAULT_RETURN_STYLES = False
# The HTTP API blends only: Styles.interpolate's extrapolation (styles.ALPHA_RANGE) is for the library.
ALPHA_BOUNDS = (0.0, 1.0)

ClassRef = str | int


@dataclass(frozen=True)
class StyleSource:
    """Where a set of styles comes from: JSON styles, or an image and its label map for the encoder.

    The *_field names say where each part sits in the request, for error messages.
    """

    styles_field: str
    image_field: str
    label_field: str
    styles: dict[str, Any] | None = None
    image: str | None = None  # base64
    label: str | None = None  # base64; None: the request's own label where own_label, else the segmenter's
    own_label: bool = False  # the base style image (style_image without style_label)


@dataclass(frozen=True)
class Swap:
    classes: tuple[ClassRef, ...]
    source: StyleSource


@dataclass(frozen=True)
class Interpolation:
    alpha: float
    classes: tuple[ClassRef, ...] | None  # None: every class
    source: StyleSource


@dataclass(frozen=True)
class EncodeRequest:
    image: str
    label: str | None  # None: the segmenter labels the image


@dataclass(frozen=True)
class SynthesizeRequest:
    label: str
    base: StyleSource
    swaps: tuple[Swap, ...]
    interpolate: tuple[Interpolation, ...]  # applied in order, after the swaps
    fallback: str
    seed: int
    noise: bool
    return_styles: bool

    def sources(self) -> list[StyleSource]:
        """Every style source, base first."""
        return [self.base, *(s.source for s in self.swaps), *(i.source for i in self.interpolate)]


# The request parser's limits, the only ones on the JSON itself (the body's size is the server's
# --max-body-mb). The deepest valid body nests 6 levels (body, swaps, a swap, styles, codes, a row);
# seeds have 19 digits and float32 codes as exact decimals at most 25 characters.
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARS = 40
_ESCAPE = re.compile(rb"\\.", re.DOTALL)  # a backslash and the byte it escapes
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def _nesting(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped), in linear time.

    Escapes are dropped first, so every quote left delimits a string and the text outside strings is
    every other piece between quotes. Text that is not JSON gives some number; json.loads refuses it.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    outside = b"".join(_ESCAPE.sub(b"", body).split(b'"')[::2])
    brackets = np.frombuffer(outside.translate(None, _NOT_BRACKETS), np.uint8)
    if brackets.size == 0:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise InputError(
            f"the body has a number of {len(text)} characters ({text[:12]}...); numbers of at most "
            f"{MAX_NUMBER_CHARS} are accepted"
        )
    return text


def _parse_int(text: str) -> int:
    return int(_number(text))


def _parse_float(text: str) -> float:
    return float(_number(text))


def _no_constant(name: str) -> Any:
    raise InputError(f"the body is not valid JSON: {name} is not a JSON number; send finite numbers")


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body (UTF-8, as RFC 8259 has it) -> a JSON object, within MAX_JSON_DEPTH and
    MAX_NUMBER_CHARS (InputError past them)."""
    depth = _nesting(body)
    if depth > MAX_JSON_DEPTH:
        raise InputError(f"the body nests {depth} levels of arrays and objects; at most {MAX_JSON_DEPTH} are accepted")
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # text that is not JSON can still open brackets after a stray backslash
        raise InputError(f"the body nests more than {MAX_JSON_DEPTH} levels of arrays and objects") from None
    if not isinstance(data, dict):
        raise InputError(f"the body must be a JSON object, not {type(data).__name__}")
    return data


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown}; the fields are {', '.join(allowed)}")


def _get(
    data: dict[str, Any], key: str, where: str, check: Callable[[Any], bool], kind: str, default: Any = ...
) -> Any:
    if key not in data or data[key] is None:
        if default is ...:
            raise InputError(f"{where}{key} is missing: it must be {kind}")
        return default
    value = data[key]
    if not check(value):
        raise InputError(f"{where}{key} must be {kind}, got {json.dumps(value)[:60]}")
    return value


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_alpha(v: Any) -> bool:
    return _is_number(v) and ALPHA_BOUNDS[0] <= v <= ALPHA_BOUNDS[1]


def _classes(data: dict[str, Any], where: str, required: bool) -> tuple[ClassRef, ...] | None:
    kind = "a class name or id, or a non-empty list of them"
    value = _get(data, "classes", where, lambda v: True, kind, default=... if required else None)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or not all(_is_str(c) or _is_int(c) for c in items):
        raise InputError(f"{where}classes must be {kind}")
    return tuple(items)


def _reference(data: Any, where: str, allowed: tuple[str, ...]) -> StyleSource:
    """{styles} or {image, label} (REFERENCE_FIELDS, among the item's `allowed` fields) -> StyleSource."""
    if not isinstance(data, dict):
        raise InputError(f"{where} must be an object with styles, or image and label")
    _check_keys(data, allowed, where)
    prefix = f"{where}."
    fields = (f"{where}.styles", f"{where}.image", f"{where}.label")
    if "styles" in data:
        if "image" in data or "label" in data:
            raise InputError(f"{where}: give styles, or image and label, not both")
        return StyleSource(*fields, styles=_get(data, "styles", prefix, lambda v: isinstance(v, dict), "an object"))
    image = _get(data, "image", prefix, _is_str, "a base64 PNG or JPEG (or give styles instead)")
    label = _get(data, "label", prefix, _is_str, "the base64 PNG label map of the image", default=None)
    return StyleSource(*fields, image=image, label=label)


ENCODE_FIELDS = ("image", "label")
REFERENCE_FIELDS = ("styles", "image", "label")  # a swap's or an interpolation's reference: styles, or image + label
SWAP_FIELDS = (*REFERENCE_FIELDS, "classes")
INTERPOLATE_FIELDS = (*REFERENCE_FIELDS, "alpha", "classes")
SYNTHESIZE_FIELDS = (
    "label", "styles", "style_image", "style_label", "swaps", "interpolate", "fallback", "seed", "noise",
    "return_styles",
)


def parse_encode(data: dict[str, Any]) -> EncodeRequest:
    _check_keys(data, ENCODE_FIELDS, "encode")
    return EncodeRequest(
        image=_get(data, "image", "", _is_str, "a base64 PNG or JPEG"),
        label=_get(data, "label", "", _is_str, "a base64 PNG label map", default=None),
    )


def parse_synthesize(data: dict[str, Any]) -> SynthesizeRequest:
    _check_keys(data, SYNTHESIZE_FIELDS, "synthesize")
    label = _get(data, "label", "", _is_str, "a base64 PNG label map")
    if "styles" in data and ("style_image" in data or "style_label" in data):  # as _reference refuses its pair
        raise InputError("give styles, or style_image with style_label, not both")
    if "styles" in data:
        styles = _get(data, "styles", "", lambda v: isinstance(v, dict), "an object")
        base = StyleSource("styles", "style_image", "style_label", styles=styles)
    elif "style_image" in data:
        style_label = _get(data, "style_label", "", _is_str, "a base64 PNG label map", default=None)
        base = StyleSource(
            "styles",
            "style_image",
            "label" if style_label is None else "style_label",
            image=_get(data, "style_image", "", _is_str, "a base64 PNG or JPEG"),
            label=style_label,
            own_label=style_label is None,
        )
    else:
        raise InputError("styles are missing: give style_image (with style_label where it is not label), or "
                         "styles (from /v1/encode)")
    swaps_kind = "a list of {classes, styles | image + label}"
    swaps_data = _get(data, "swaps", "", lambda v: isinstance(v, list), swaps_kind, [])
    swaps = []
    for i, item in enumerate(swaps_data):
        where = f"swaps[{i}]"
        source = _reference(item, where, SWAP_FIELDS)
        swaps.append(Swap(_classes(item, f"{where}.", required=True), source))
    # One interpolation, or a list of them (the editor blends each region with its own alpha).
    blends_data = data.get("interpolate")
    blends_data = [] if blends_data is None else blends_data
    single = not isinstance(blends_data, list)
    interpolate = []
    for i, item in enumerate([blends_data] if single else blends_data):
        where = "interpolate" if single else f"interpolate[{i}]"
        source = _reference(item, where, INTERPOLATE_FIELDS)
        alpha = _get(item, "alpha", f"{where}.", _is_alpha, f"a number in [{ALPHA_BOUNDS[0]:g}, {ALPHA_BOUNDS[1]:g}]")
        interpolate.append(Interpolation(float(alpha), _classes(item, f"{where}.", required=False), source))
    return SynthesizeRequest(
        label=label,
        base=base,
        swaps=tuple(swaps),
        interpolate=tuple(interpolate),
        fallback=_get(data, "fallback", "", lambda v: v in FALLBACKS, f"one of {', '.join(FALLBACKS)}",
                      DEFAULT_FALLBACK),
        seed=_get(data, "seed", "", lambda v: _is_int(v) and 0 <= v <= MAX_SEED, f"an integer in 0..{MAX_SEED}",
                  DEFAULT_SEED),
        noise=_get(data, "noise", "", lambda v: isinstance(v, bool), "true or false", DEFAULT_NOISE),
        return_styles=_get(data, "return_styles", "", lambda v: isinstance(v, bool), "true or false",
                           DEFAULT_RETURN_STYLES),
    )
