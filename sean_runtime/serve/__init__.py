"""`sean serve`: the package over HTTP (JSON in and out), with dynamic batching, limits and metrics.

Modules, each with one job:
  runtime   the runtime names the service uses (Synthesizer, Styles, which errors mean bad input)
  codec     base64 PNG / JPEG images in and out, the pixel count checked before decoding
  encoding  request bodies sent gzip / deflate, decoded within the body limit
  schema    the request bodies: the JSON parser's limits, fields, types and defaults, checked before any work
  batching  the inference queue: one worker thread, generator calls batched across requests
  service   what each route does, independent of HTTP
  metrics   Prometheus metrics (prometheus-client)
  routes    the names of routes, headers and /healthz's states, which app enforces and openapi publishes
  app       the aiohttp application: routes, status codes, API key, limits, JSON errors
  openapi   the OpenAPI 3.1 document app serves at /openapi.json, from schema's fields and the loaded package
  server    start, ready line, SIGTERM / SIGINT drain, exit code
  static/   the editor that app serves at / (HTML, CSS, JavaScript modules; docs/editor.md)
The wire format is docs/serving.md. Only app, server and metrics import the `serve` extra (aiohttp,
prometheus-client); codec and schema are also used by the client, sean_runtime.remote.
"""
