"""The names the server's routes and headers go by, which app.py enforces and openapi.py publishes.

A module of its own, below both, so that the document imports what it describes from here rather than from
the application that serves it (tests/test_architecture.py checks the import graph has no cycle).
"""

from __future__ import annotations

STATIC_PREFIX = "/static/"  # the editor's files (package data), open like its page
# Routes answered without the API key, by their template: load balancers probe /healthz; the editor's
# page and files are the package's own and hold no data (the page asks for the key when /v1 says 401).
OPEN_ROUTES = ("/healthz", "/", STATIC_PREFIX + "{name}")
# The key's headers: Authorization: Bearer KEY, or this one (the --api-key-file help and docs/serving.md say so).
API_KEY_HEADER = "X-API-Key"
OPENAPI_PATH = "/openapi.json"  # the OpenAPI document of this server (openapi.py), behind the key like /v1/info
RETRY_AFTER_S = "1"  # a 503's Retry-After
# /healthz's {"status": ...}: ready (200), or 503 before the package is loaded and while shutting down;
# openapi.py publishes HEALTH_STATES as the answer's enum.
HEALTH_OK, HEALTH_LOADING, HEALTH_DRAINING = "ok", "loading", "draining"
HEALTH_STATES = (HEALTH_OK, HEALTH_LOADING, HEALTH_DRAINING)
# The 505's cause, for openapi.py's list of errors. app.py's HTTP_VERSIONS and http11_requests own the rule:
# HTTP/1.1 and 1.0 are spoken, a later HTTP/1 minor version that aiohttp's parser takes is read as 1.1.
VERSION_NOT_SPOKEN = ("an HTTP version other than HTTP/1.x that aiohttp's parser takes (HTTP/2.0, HTTP/0.9, ...); "
                      "HTTP/1.2 .. 1.9, where the parser takes them (its pure-Python one), are answered as HTTP/1.1")
