"""The server's OpenAPI 3.1 document, answered at GET /openapi.json (app.py), for clients and their generators.

It is made once the package is loaded, from what the server enforces: the request fields, defaults, limits and
enums of schema.py, the styles JSON of sean_runtime.styles, the routes app.py registered, the API key headers
when the server has a key, and the package's own class names, style length, image size and limits (/v1/info).
The prose (what each route and field is for) is written here; every name and number comes from its owner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sean_runtime.serve.codec import encode_png
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.routes import (
    API_KEY_HEADER,
    HEALTH_DRAINING,
    HEALTH_LOADING,
    HEALTH_OK,
    HEALTH_STATES,
    OPEN_ROUTES,
    OPENAPI_PATH,
    RETRY_AFTER_S,
    STATIC_PREFIX,
    VERSION_NOT_SPOKEN,
)
from sean_runtime.serve.schema import (
    ALPHA_BOUNDS,
    DEFAULT_FALLBACK,
    DEFAULT_NOISE,
    DEFAULT_RETURN_STYLES,
    DEFAULT_SEED,
    ENCODE_FIELDS,
    FALLBACKS,
    INTERPOLATE_FIELDS,
    MAX_SEED,
    REFERENCE_FIELDS,
    SWAP_FIELDS,
    SYNTHESIZE_FIELDS,
)
from sean_runtime.serve.service import extra_channels_refusal
from sean_runtime.styles import JSON_FIELDS, MAX_ABS_JSON_CODE

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
BEARER, KEY_HEADER = "bearerAuth", "apiKeyHeader"  # the securitySchemes' names


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _image(what: str) -> dict[str, Any]:
    return {"type": "string", "contentEncoding": "base64", "description": what}


IMAGE = "a base64 PNG or JPEG file (a `data:image/...;base64,` prefix is accepted), read like an image file"
LABEL = ("a base64 PNG label map: single-channel class ids (uint8, uint16 past 255 classes), or RGB palette "
         "colours (/v1/info's palette); resized to the package resolution nearest-neighbour")

# Each request field's description and schema, by object; the names must be schema.py's (_fields checks).
_REFERENCE = {
    "styles": {"allOf": [ref("Styles")], "description": "styles from /v1/encode, instead of image and label"},
    "image": _image(f"the reference image: {IMAGE}"),
    "label": _image(f"the reference image's label map ({LABEL}); left out, the server's segmenter labels the image"),
}


def _fields(names: Iterable[str], schemas: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The properties of a request object: exactly the fields schema.py's parser reads, in its order."""
    names = tuple(names)
    if set(names) != set(schemas):
        raise KeyError(f"the OpenAPI fields {sorted(schemas)} are not the parser's {sorted(names)}")
    return {name: schemas[name] for name in names}


def _one_reference(first: str, second: str) -> list[dict[str, Any]]:
    """`first` or `second` (with the label that goes with it), never both: the parser refuses both."""
    return [{"required": [first], "not": {"required": [second]}}, {"required": [second], "not": {"required": [first]}}]


def request_schemas(class_names: list[str], style_dim: int) -> dict[str, dict[str, Any]]:
    """The JSON Schemas of the request bodies and of the styles JSON, for the package's classes."""
    k = len(class_names)
    codes_field, present_field, names_field = JSON_FIELDS
    classes = {
        "anyOf": [ref("ClassRef"), {"type": "array", "items": ref("ClassRef"), "minItems": 1}],
        "description": "a class name or id, or a non-empty list of them",
    }
    low, high = ALPHA_BOUNDS
    styles_field, image_field, label_field = REFERENCE_FIELDS
    return {
        "ClassRef": {
            "anyOf": [{"type": "string", "enum": class_names}, {"type": "integer", "minimum": 0, "maximum": k - 1}],
            "description": "a class of the package, by name or id",
        },
        "Styles": {
            "type": "object",
            "description": "the style codes of one image (Styles.to_json): one row of codes per class",
            "properties": {
                codes_field: {"type": "array", "minItems": k, "maxItems": k, "items": {
                    "type": "array", "minItems": style_dim, "maxItems": style_dim,
                    "items": {"type": "number", "minimum": -MAX_ABS_JSON_CODE, "maximum": MAX_ABS_JSON_CODE}}},
                present_field: {"type": "array", "minItems": k, "maxItems": k, "items": {"type": "boolean"},
                                "description": "whether each class's code was measured from pixels of it"},
                names_field: {"const": class_names, "description": "optional; checked when given"},
            },
            "required": [codes_field, present_field],
            "additionalProperties": False,
        },
        "EncodeRequest": {
            "type": "object",
            "properties": _fields(ENCODE_FIELDS, {
                "image": _image(f"the style image: {IMAGE}"),
                "label": _image(f"its label map ({LABEL}); left out, the server's segmenter labels the image "
                                f"(/v1/info's segmenter says whether it has one) and the answer adds it"),
            }),
            "required": ["image"],
            "additionalProperties": False,
        },
        "Swap": {
            "type": "object",
            "description": "take the codes of `classes` from a reference: styles, or an image and its label map",
            "properties": _fields(SWAP_FIELDS, {**_REFERENCE, "classes": classes}),
            "required": ["classes"],
            "oneOf": _one_reference(styles_field, image_field),
            "not": {"required": [styles_field, label_field]},
            "additionalProperties": False,
        },
        "Interpolation": {
            "type": "object",
            "description": "(1 - alpha) * own + alpha * reference for `classes`",
            "properties": _fields(INTERPOLATE_FIELDS, {
                **_REFERENCE,
                "alpha": {"type": "number", "minimum": low, "maximum": high},
                "classes": {**classes, "description": "default: every class"},
            }),
            "required": ["alpha"],
            "oneOf": _one_reference(styles_field, image_field),
            "not": {"required": [styles_field, label_field]},
            "additionalProperties": False,
        },
        "SynthesizeRequest": {
            "type": "object",
            "properties": _fields(SYNTHESIZE_FIELDS, {
                "label": _image(f"the label map to draw: {LABEL}"),
                "styles": {"allOf": [ref("Styles")], "description": "the base styles (from /v1/encode), instead "
                                                                    "of style_image"},
                "style_image": _image(f"the image whose styles are the base: {IMAGE}"),
                "style_label": _image(f"style_image's label map ({LABEL}); default: label"),
                "swaps": {"type": "array", "items": ref("Swap"), "default": [], "description": "applied in order"},
                "interpolate": {"anyOf": [ref("Interpolation"), {"type": "array", "items": ref("Interpolation")}],
                                "description": "one interpolation or a list, applied in order after the swaps"},
                "fallback": {"enum": list(FALLBACKS), "default": DEFAULT_FALLBACK,
                             "description": "where a reference lacks a class: own keeps the image's own code, "
                                            "error answers 400"},
                "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED, "default": DEFAULT_SEED},
                "noise": {"type": "boolean", "default": DEFAULT_NOISE},
                "return_styles": {"type": "boolean", "default": DEFAULT_RETURN_STYLES,
                                  "description": "add the edited styles to the answer"},
            }),
            "required": ["label"],
            "oneOf": _one_reference("styles", "style_image"),
            "not": {"required": ["styles", "style_label"]},
            "additionalProperties": False,
        },
    }


def _schema_of(value: Any) -> dict[str, Any]:
    """A JSON Schema that a value of this shape has (for /v1/info, whose answer is the example)."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", **({"items": _schema_of(value[0])} if value else {})}
    return {"type": "object", "properties": {k: _schema_of(v) for k, v in value.items()}, "required": list(value)}


def answer_schemas(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    png = _image("a base64 PNG")
    palette = {"anyOf": [{"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                         {"type": "null"}], "description": "null without the domain plugin: labels are class ids"}
    info_schema = _schema_of(info)
    info_schema["properties"]["palette"] = palette
    return {
        "Error": {"type": "object", "properties": {"error": {"type": "string", "description": "one line"}},
                  "required": ["error"], "additionalProperties": False},
        "Health": {"type": "object", "properties": {"status": {
            "type": "string", "enum": list(HEALTH_STATES),
            "description": f"{HEALTH_OK}, or {HEALTH_LOADING} / {HEALTH_DRAINING} with 503"}}, "required": ["status"]},
        "EncodeAnswer": {"type": "object", "properties": {
            "styles": ref("Styles"), "ms": {"type": "number"},
            "label": {**png, "description": "the segmenter's class ids, only where the request had no label"}},
            "required": ["styles", "ms"]},
        "SynthesizeAnswer": {"type": "object", "properties": {
            "image": {**png, "description": "the synthesized image, a base64 RGB PNG at the package resolution"},
            "seed": {"type": "integer"}, "backend": {"type": "string"}, "ms": {"type": "number"},
            "styles": {"allOf": [ref("Styles")], "description": "the edited styles, with return_styles"}},
            "required": ["image", "seed", "backend", "ms"]},
        "Info": info_schema,
        "Samples": {"type": "object", "properties": {"samples": {"type": "array", "items": {
            "type": "object", "properties": {"name": {"type": "string"}, "image": png, "label": png},
            "required": ["name", "image", "label"]}}}, "required": ["samples"]},
    }


# The JSON error answers (app.py's error_response), by status: {"error": "one line"}.
ERRORS = {
    400: "bad input (JSON, fields, images, classes, styles), or a malformed HTTP request",
    401: "missing or wrong API key",
    403: "a Host that is not this machine's loopback (a server without a key on a loopback address)",
    404: "no such route, or no such editor file",
    405: "a method the route does not take (Allow lists those it does)",
    408: "the headers or the body did not arrive in time (the connection is closed)",
    413: "a body over the server's limit, or more encoder jobs than its queue holds",
    415: "a Content-Encoding other than identity, gzip or deflate",
    417: "an Expect other than 100-continue",
    500: "an internal error (the server logs it)",
    503: "still loading, shutting down, queue full or too many connections: retry after Retry-After",
    504: "past the server's per-request timeout",
    505: VERSION_NOT_SPOKEN,
}
ERROR_HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    405: {"Allow": "the methods the route takes"},
    503: {"Retry-After": f"seconds ({RETRY_AFTER_S})"},
}


def _error_name(status: int) -> str:
    return f"Error{status}"


def _error_response(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": ERRORS[status], "content": {JSON: {"schema": ref("Error")}}}
    if status in ERROR_HEADERS:
        answer["headers"] = {name: {"description": what, "schema": {"type": "string"}}
                             for name, what in ERROR_HEADERS[status].items()}
    return answer


def examples(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Requests the server answers 200: a label map of class 0 and a grey style image at the package size
    (/v1/synthesize's only for a package without extra channels: operations says so)."""
    size = (info["resolution"]["height"], info["resolution"]["width"])
    label, image = encode_png(np.zeros(size, np.uint8)), encode_png(np.full((*size, 3), 128, np.uint8))
    last = info["class_names"][-1]
    return {
        "encode": {"image": image, "label": label},
        "synthesize": {"label": label, "style_image": image, "style_label": label,
                       "swaps": [{"classes": [last], "image": image, "label": label}], "seed": DEFAULT_SEED},
    }


def _json_body(schema: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(schema), "example": example}}}


def _answer(description: str, schema: dict[str, Any] | None = None, media: str = JSON) -> dict[str, Any]:
    return {"description": description, **({"content": {media: {"schema": schema}}} if schema else {})}


def _synthesize(info: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """/v1/synthesize's operation: for a package with extra mask channels, which the API does not carry, the
    400 it answers every request, without the example or a 200 it never gives."""
    summary = "a label map and styles (with swaps, interpolations) -> an image"
    if info["extra_channels"]:
        return {"summary": summary, "description": extra_channels_refusal(info["extra_channels"]),
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("SynthesizeRequest")}}},
                "responses": {}}
    return {"summary": summary, "requestBody": _json_body("SynthesizeRequest", example),
            "responses": {"200": _answer("the image", ref("SynthesizeAnswer"))}}


def operations(info: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """What each route does and answers: (method, path template) -> the Operation without its errors."""
    bodies = examples(info)
    etag = {"ETag": {"description": "revalidate with If-None-Match (304 while current)", "schema": {"type": "string"}}}
    return {
        ("GET", "/"): {"summary": "the editor's page (docs/editor.md)",
                       "responses": {"200": _answer("HTML", {"type": "string"}, "text/html")}},
        ("GET", STATIC_PREFIX + "{name}"): {
            "summary": "one of the editor's files (JavaScript, CSS)",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {**_answer("the file", {"type": "string"}, "*/*"), "headers": etag},
                          "304": {"description": "the client's copy is current"}}},
        ("GET", "/healthz"): {"summary": "readiness: 200 once the package is loaded, 503 while loading or draining",
                              "responses": {"200": _answer("ready", ref("Health")),
                                            "503": _answer("loading or draining", ref("Health"))}},
        ("GET", "/v1/info"): {"summary": "the package, backend and limits",
                              "responses": {"200": _answer("the server's package", ref("Info"))}},
        ("GET", "/v1/samples"): {"summary": "the dataset pairs of --samples, at the package resolution",
                                 "responses": {"200": _answer("samples", ref("Samples"))}},
        ("POST", "/v1/encode"): {"summary": "an image (and its label map) -> its styles",
                                 "requestBody": _json_body("EncodeRequest", bodies["encode"]),
                                 "responses": {"200": _answer("the styles", ref("EncodeAnswer"))}},
        ("POST", "/v1/synthesize"): _synthesize(info, bodies["synthesize"]),
        ("GET", "/metrics"): {"summary": "Prometheus metrics",
                              "responses": {"200": _answer("Prometheus text", {"type": "string"},
                                                           Metrics.content_type.split(";")[0])}},
        ("GET", OPENAPI_PATH): {"summary": "this document",
                                "responses": {"200": {**_answer("OpenAPI 3.1", {"type": "object"}), "headers": etag},
                                              "304": {"description": "the client's copy is current"}}},
    }


def _errors(method: str, path: str, api_key: bool) -> list[int]:
    """The error statuses a route answers (app.py: the middleware's checks, then the handler's)."""
    statuses = [400, 408, 417, 500, 503, 505]
    if path != "/healthz":  # the Host check leaves /healthz out
        statuses.append(403)
    if api_key and path not in OPEN_ROUTES:
        statuses.append(401)
    if path.startswith(STATIC_PREFIX):
        statuses.append(404)
    if method == "POST":
        statuses += [413, 415, 504]
    return sorted(statuses)


def openapi_document(info: dict[str, Any], routes: Iterable[tuple[str, str]], api_key: bool) -> dict[str, Any]:
    """The OpenAPI document of a server: info, its Service.info(); routes, the (method, path) it registered
    (HEAD is GET without the body); api_key, whether it requires the key (then securitySchemes say how)."""
    described = operations(info)
    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes:
        operation = dict(described[("GET" if method == "HEAD" else method, path)])
        if method == "HEAD":
            operation["summary"] = f"GET {path} without the body"
        operation["operationId"] = f"{method.lower()}_{path.strip('/').replace('/', '_') or 'editor'}"
        operation["operationId"] = "".join(c if c.isalnum() else "_" for c in operation["operationId"])
        responses = dict(operation["responses"])
        for status in _errors(method, path, api_key):
            responses.setdefault(str(status), {"$ref": f"#/components/responses/{_error_name(status)}"})
        operation["responses"] = responses
        if api_key and path in OPEN_ROUTES:
            operation["security"] = []  # answered without the key
        paths.setdefault(path, {})[method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"sean serve: {info['domain']}", "version": info["version"],
                 "description": f"SEAN image synthesis for the package of domain {info['domain']!r}: "
                                f"{len(info['class_names'])} classes, "
                                f"{info['resolution']['width']}x{info['resolution']['height']} images; bodies "
                                f"of at most {info['limits']['max_body_bytes']} bytes, images and label maps of at "
                                f"most {info['limits']['max_image_pixels']} pixels (docs/serving.md)."},
        "paths": paths,
        "components": {"schemas": {**request_schemas(info["class_names"], info["style_dim"]),
                                   **answer_schemas(info)},
                       "responses": {_error_name(status): _error_response(status) for status in ERRORS}},
    }
    if api_key:
        document["components"]["securitySchemes"] = {
            BEARER: {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
            KEY_HEADER: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
        }
        document["security"] = [{BEARER: []}, {KEY_HEADER: []}]
    return document
