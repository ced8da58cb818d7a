"""GET /openapi.json: a valid OpenAPI 3.1 document of every route the app registers, whose request schemas are
the parser's (schema.py) and whose examples the server answers 200, in-process with the shapes package."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sean_core.errors import InputError
from sean_runtime.serve import schema
from sean_runtime.serve.app import ROUTES, UNMATCHED_ROUTE, ServerState, build_app, registered_routes
from sean_runtime.serve.batching import InferenceQueue
from sean_runtime.serve.metrics import Metrics
from sean_runtime.serve.openapi import openapi_document, operations
from sean_runtime.serve.routes import OPEN_ROUTES, STATIC_PREFIX
from sean_runtime.serve.service import Limits, Service, extra_channels_refusal
from sean_runtime.synthesizer import Synthesizer

KEY = "k3y"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def synth(shapes_package) -> Synthesizer:
    return Synthesizer.load(shapes_package, backend="onnxruntime")


def served(synth: Synthesizer, scenario: Callable[[TestClient], Awaitable[Any]], api_key: str | None = None) -> Any:
    """scenario(client) against an in-process app with the package loaded."""

    async def run() -> Any:
        state = ServerState(Limits(), Metrics(max_batch=8), api_key)
        queue = InferenceQueue(synth, max_batch=8, max_wait=0.005, max_queue=64)
        queue.start()
        state.service = Service(synth, queue, state.limits, [])
        try:
            async with TestClient(TestServer(build_app(state))) as client:
                return await scenario(client)
        finally:
            await queue.stop()

    return asyncio.run(run())


async def fetch_document(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.get("/openapi.json", headers=headers)
    assert response.status == 200 and response.content_type == "application/json"
    return await response.json()


@pytest.fixture(scope="module")
def document(synth) -> dict[str, Any]:
    return served(synth, fetch_document)


# --- a JSON Schema check of the keywords the document uses (jsonschema is not a dependency) ----------------
def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"].startswith("#/"), node
        target = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def fits(document: dict[str, Any], value: Any, node: Any) -> bool:
    """Whether value is valid under the JSON Schema node (the keywords openapi.py writes; others fail the test)."""
    node = resolve(document, node)
    known = {"type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems",
             "maxItems", "minimum", "maximum", "anyOf", "oneOf", "allOf", "not", "description", "default",
             "contentEncoding"}
    assert set(node) <= known, set(node) - known
    kind = node.get("type")
    if kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        return False
    if kind == "number" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return False
    if kind in TYPES and (not isinstance(value, TYPES[kind]) or (kind != "boolean" and isinstance(value, bool))):
        return False
    if "enum" in node and value not in node["enum"]:
        return False
    if "const" in node and value != node["const"]:
        return False
    if isinstance(value, (int, float)) and not node.get("minimum", value) <= value <= node.get("maximum", value):
        return False
    if isinstance(value, dict):
        properties = node.get("properties", {})
        if any(name not in value for name in node.get("required", [])):
            return False
        if node.get("additionalProperties") is False and set(value) - set(properties):
            return False
        if any(not fits(document, value[k], s) for k, s in properties.items() if k in value):
            return False
    if isinstance(value, list):
        if not node.get("minItems", 0) <= len(value) <= node.get("maxItems", len(value)):
            return False
        if "items" in node and not all(fits(document, v, node["items"]) for v in value):
            return False
    if "anyOf" in node and not any(fits(document, value, s) for s in node["anyOf"]):
        return False
    if "oneOf" in node and sum(fits(document, value, s) for s in node["oneOf"]) != 1:
        return False
    if "allOf" in node and not all(fits(document, value, s) for s in node["allOf"]):
        return False
    return not ("not" in node and fits(document, value, node["not"]))


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


# --- (1) a valid OpenAPI 3.1 document ----------------------------------------------------------------------
def check_openapi_31(document: dict[str, Any]) -> None:
    """The rules of OpenAPI 3.1 the document could break: required objects, status keys, path parameters,
    unique operationIds and $refs that resolve."""
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert isinstance(document["info"]["title"], str) and isinstance(document["info"]["version"], str)
    ids = []
    for path, item in document["paths"].items():
        assert path.startswith("/") and set(item) <= METHODS, (path, set(item))
        templated = set(re.findall(r"{([^}]+)}", path))
        for operation in item.values():
            ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated and all(p["required"] for p in operation.get("parameters", [])), path
            assert operation["responses"], path
            for status, answer in operation["responses"].items():
                assert re.fullmatch(r"[1-5](\d\d|XX)|default", status), (path, status)
                assert isinstance(resolve(document, answer)["description"], str), (path, status)
            for scheme in (s for entry in operation.get("security", []) for s in entry):
                assert scheme in document["components"]["securitySchemes"]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"\w+", i) for i in ids), ids

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(document, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


def test_the_document_is_openapi_31_with_an_etag(synth, document):
    check_openapi_31(document)
    try:  # the full validator where it is installed (not a dependency of the project)
        from openapi_spec_validator import validate
    except ImportError:
        pass
    else:
        validate(document)
    assert document["components"]["schemas"]["ClassRef"]["anyOf"][0]["enum"] == list(synth.class_names)
    assert "64x64 images" in document["info"]["description"]

    async def revalidate(client: TestClient) -> tuple[int, int]:
        first = await client.get("/openapi.json")
        again = await client.get("/openapi.json", headers={"If-None-Match": first.headers["ETag"]})
        return first.status, again.status

    assert served(synth, revalidate) == (200, 304)


# --- (2) every route, and nothing else ---------------------------------------------------------------------
def test_every_registered_route_is_described_and_nothing_else(synth, document):
    app = build_app(ServerState(Limits(), Metrics(max_batch=8)))
    registered = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
                  if r.resource is not None and r.resource.name != UNMATCHED_ROUTE}
    assert {("post", "/v1/synthesize"), ("get", "/openapi.json"), ("head", "/healthz")} <= registered
    assert {(method, path) for path, item in document["paths"].items() for method in item} == registered
    async def info(client: TestClient) -> dict[str, Any]:
        return await (await client.get("/v1/info")).json()

    described = operations(served(synth, info))  # the descriptions, registered or not
    assert {(method.lower(), path) for method, path in described} == {r for r in registered if r[0] != "head"}


def test_every_list_of_the_routes_names_each_registered_route():
    """The README's `Routes:` line, `sean serve --help` and the 404's list (app.ROUTES) name every route a client
    calls (the editor's files aside: the page loads them), so a new route is not found only by reading code."""
    from sean_runtime.commands.serve import serve_command

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (listed,) = re.findall(r"^Routes: (.*?)\. ", readme, re.M | re.S)
    help_text = " ".join((serve_command.help or "").split())
    routes = {(method, path) for method, path in registered_routes(build_app(ServerState(Limits(), Metrics(8))))
              if method != "HEAD" and not path.startswith(STATIC_PREFIX)}
    assert ("GET", "/openapi.json") in routes
    for method, path in sorted(routes):
        assert f"`{method} {path}`" in listed, (method, path, listed)
        assert f"{method} {path}" in help_text and f"{method} {path}" in ROUTES, (method, path)


def test_the_key_is_described_where_the_server_has_one(synth, document):
    async def keyed(client: TestClient) -> tuple[int, dict[str, Any]]:
        refused = await client.get("/openapi.json")
        return refused.status, await fetch_document(client, {"Authorization": f"Bearer {KEY}"})

    status, with_key = served(synth, keyed, api_key=KEY)
    assert status == 401  # it names the package's classes, like /v1/info
    assert "securitySchemes" not in document["components"] and "security" not in document
    schemes = with_key["components"]["securitySchemes"]
    assert {(s["type"], s.get("scheme", s.get("name"))) for s in schemes.values()} == {
        ("http", "bearer"), ("apiKey", "X-API-Key")}
    for path, item in with_key["paths"].items():
        for operation in item.values():
            assert (operation.get("security") == []) == (path in OPEN_ROUTES), path
            assert ("401" in operation["responses"]) == (path not in OPEN_ROUTES), path


async def health(client: TestClient) -> tuple[int, Any]:
    response = await client.get("/healthz")
    return response.status, await response.json()


def unloaded_health(draining: bool) -> tuple[int, Any]:
    """/healthz of an app whose package is still loading (draining=False) or that shuts down before it has one."""

    async def run() -> tuple[int, Any]:
        state = ServerState(Limits(), Metrics(max_batch=8))
        state.draining = draining
        async with TestClient(TestServer(build_app(state))) as client:
            return await health(client)

    return asyncio.run(run())


def test_every_healthz_status_is_in_the_documents_enum(synth, document):
    """A probe that checks the status against the document: each state /healthz reports (ok, loading before the
    package, draining at shutdown) is in the Health enum under the HTTP status documented for it, and the enum
    lists no other."""
    answers = [served(synth, health), unloaded_health(draining=False), unloaded_health(draining=True)]
    responses = document["paths"]["/healthz"]["get"]["responses"]
    enum = schema_of(document, "Health")["properties"]["status"]["enum"]
    for code, body in answers:
        schema = responses[str(code)]["content"]["application/json"]["schema"]
        assert fits(document, body, schema) and body["status"] in enum, (code, body)
    assert sorted(body["status"] for _, body in answers) == sorted(enum)
    assert [code for code, _ in answers] == [200, 503, 503]


# --- (3) the request schemas are the server's ---------------------------------------------------------------
def bodies(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str, str]]:
    """route -> (its example, the request schema's name, the answer schema's name)."""
    found = {}
    for path, item in document["paths"].items():
        if "post" in item:
            content = item["post"]["requestBody"]["content"]["application/json"]
            answer = item["post"]["responses"]["200"]["content"]["application/json"]["schema"]
            found[path] = (content["example"], content["schema"]["$ref"].rsplit("/", 1)[1],
                           answer["$ref"].rsplit("/", 1)[1])
    return found


def test_the_examples_are_answered_and_a_field_not_listed_is_refused(synth, document):
    examples = bodies(document)
    assert set(examples) == {"/v1/encode", "/v1/synthesize"}

    async def post_all(client: TestClient) -> list[tuple[str, int, Any]]:
        seen = []
        for path, (example, _, _) in examples.items():
            for body in (example, {**example, "unlisted": 1}):
                response = await client.post(path, json=body)
                seen.append((path, response.status, await response.json()))
        return seen

    for path, status, answer in served(synth, post_all):
        example, request, reply = examples[path]
        assert fits(document, example, schema_of(document, request))
        assert not fits(document, {**example, "unlisted": 1}, schema_of(document, request))
        if "error" in answer:
            assert status == 400 and "unknown field(s) ['unlisted']" in answer["error"], answer
            assert fits(document, answer, schema_of(document, "Error"))
        else:
            assert status == 200 and fits(document, answer, schema_of(document, reply)), (path, answer)


def test_every_documented_field_is_read_by_the_parser_with_its_default(document):
    styles = {"codes": [[0.0]], "present": [True]}
    values = {"image": "aW1n", "label": "bGFi", "style_image": "aW1n", "style_label": "bGFi", "styles": styles,
              "swaps": [], "interpolate": [], "fallback": "error", "seed": 7, "noise": False, "return_styles": True,
              "classes": ["blob"], "alpha": 0.5}
    minimal = {"EncodeRequest": {"image": "aW1n"}, "SynthesizeRequest": {"label": "bGFi", "style_image": "aW1n"},
               "Swap": {"classes": "blob", "image": "aW1n"}, "Interpolation": {"alpha": 0.5, "image": "aW1n"}}

    def parse(name: str, body: dict[str, Any]) -> Any:
        if name in ("EncodeRequest", "SynthesizeRequest"):
            return (schema.parse_encode if name == "EncodeRequest" else schema.parse_synthesize)(body)
        field = "swaps" if name == "Swap" else "interpolate"
        return schema.parse_synthesize({"label": "bGFi", "styles": styles, field: [body]})

    for name, base in minimal.items():
        node = schema_of(document, name)
        assert node["additionalProperties"] is False
        parse(name, base)  # the least a body holds is accepted, and so is each documented field
        for field in node["properties"]:
            body = {**{k: v for k, v in base.items() if field != "styles" or k != "image"}, field: values[field]}
            if field == "styles" and name == "SynthesizeRequest":
                body.pop("style_image")
            parse(name, body)
        for field in node["required"]:
            with pytest.raises(InputError, match=f"{field} is missing"):
                parse(name, {k: v for k, v in base.items() if k != field})
        with pytest.raises(InputError, match=re.escape("unknown field(s) ['unlisted']")):
            parse(name, {**base, "unlisted": 1})
    parsed = schema.parse_synthesize(minimal["SynthesizeRequest"])
    defaults = {k: v["default"] for k, v in schema_of(document, "SynthesizeRequest")["properties"].items()
                if "default" in v}
    assert defaults == {"swaps": list(parsed.swaps), "fallback": parsed.fallback, "seed": parsed.seed,
                        "noise": parsed.noise, "return_styles": parsed.return_styles}
    fallback = schema_of(document, "SynthesizeRequest")["properties"]["fallback"]["enum"]
    for value in fallback:
        assert schema.parse_synthesize({**minimal["SynthesizeRequest"], "fallback": value}).fallback == value
    with pytest.raises(InputError, match="fallback must be one of"):
        schema.parse_synthesize({**minimal["SynthesizeRequest"], "fallback": "mean"})


def test_styles_beside_an_image_or_a_label_is_refused_by_the_document_and_the_parser(document):
    """styles stand for an image and its label map: a body with styles and either of those is a client's
    mistake, refused by the parser with one line naming both fields, and by the document's schema alike."""
    codes = schema_of(document, "Styles")["properties"]["codes"]
    styles = {"codes": [[0.0] * codes["items"]["minItems"]] * codes["minItems"], "present": [True] * codes["minItems"]}
    base = {"label": "bGFi", "style_image": "aW1n"}
    cases = [("SynthesizeRequest", None, {"label": "bGFi"}, other) for other in ("style_image", "style_label")]
    for name, field, rest in (("Swap", "swaps", {"classes": "blob"}), ("Interpolation", "interpolate", {"alpha": 1})):
        cases += [(name, field, rest, other) for other in ("image", "label")]
    for name, field, rest, other in cases:
        body = {**rest, "styles": styles, other: "aW1n"}
        with pytest.raises(InputError) as refused:
            schema.parse_synthesize(body if field is None else {**base, field: [body]})
        message = str(refused.value)
        assert "\n" not in message and "styles" in message and other in message, (name, other, message)
        assert not fits(document, body, schema_of(document, name)), (name, other)
        assert fits(document, {**rest, "styles": styles}, schema_of(document, name)), name


def test_a_package_with_extra_channels_is_documented_without_synthesizes_200(synth, document):
    """The HTTP API carries no extra mask channels (cityscapes' instance edges), so /v1/synthesize answers such
    a package 400 whatever the body: its operation says why, and promises no 200 and gives no example."""

    async def info(client: TestClient) -> dict[str, Any]:
        return await (await client.get("/v1/info")).json()

    routes = [(method.upper(), path) for path, item in document["paths"].items() for method in item]
    plain = served(synth, info)
    assert plain["extra_channels"] == 0
    for extra in (0, 2):
        edged = openapi_document({**plain, "extra_channels": extra}, routes, api_key=False)
        check_openapi_31(edged)
        synthesize = edged["paths"]["/v1/synthesize"]["post"]
        body = synthesize["requestBody"]["content"]["application/json"]
        assert ("200" in synthesize["responses"]) == ("example" in body) == (extra == 0), extra
        assert (synthesize.get("description") == extra_channels_refusal(extra)) == (extra > 0), extra
        assert "400" in synthesize["responses"] and "200" in edged["paths"]["/v1/encode"]["post"]["responses"]
