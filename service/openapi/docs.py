"""``/openapi.json`` and ``/docs``: Swagger UI served from the installed swagger-ui-bundle package.

The page and its assets come from the package on disk, so the docs work with
no network at run time (no CDN).
"""

from __future__ import annotations

import functools
import json

import swagger_ui_bundle
from flask import Response, current_app, send_from_directory

from service.openapi.document import build_document

ASSETS = swagger_ui_bundle.swagger_ui_path
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Notes API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    });
  </script>
</body>
</html>
"""


@functools.cache
def _document_json(cookie_name: str) -> str:
    # Built once per process: the table and the models do not change while it runs.
    return json.dumps(build_document(cookie_name=cookie_name), separators=(",", ":"))


def openapi_json() -> Response:
    """The OpenAPI 3.1 document."""
    body = _document_json(current_app.config["SESSION_COOKIE_NAME"])
    return Response(body, mimetype="application/json")


def docs_page() -> Response:
    """The Swagger UI page that renders ``/openapi.json``."""
    return Response(_PAGE, mimetype="text/html")


def docs_asset(filename: str) -> Response:
    """A Swagger UI asset from the installed package (safe_join refuses paths outside it)."""
    return send_from_directory(ASSETS, filename, max_age=86400)
