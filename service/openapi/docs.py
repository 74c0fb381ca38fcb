"""``/openapi.json`` and ``/docs``: Swagger UI served from the installed swagger-ui-bundle package.

The page and its assets come from the package on disk, so the docs work with
no network at run time (no CDN).
"""

from __future__ import annotations

import json

import swagger_ui_bundle
from flask import Response, current_app, send_from_directory

from service.openapi.document import build_document
from service.resources import AsyncResource, operation

ASSETS = swagger_ui_bundle.swagger_ui_path
_CACHE = "service.openapi.document"
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


class OpenApiDocument(AsyncResource):
    @operation("/openapi.json", "This document", dependencies=False)
    def get(self) -> Response:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        body = app.extensions.get(_CACHE)
        if body is None:
            # Built once per app: the declarations and the models do not change while it runs.
            document = build_document(app, cookie_name=app.config["SESSION_COOKIE_NAME"])
            body = app.extensions[_CACHE] = json.dumps(document, separators=(",", ":"))
        return Response(body, mimetype="application/json")


class DocsPage(AsyncResource):
    @operation("/docs", "A page to read and try the API", media_type="text/html", dependencies=False)
    def get(self) -> Response:
        return Response(_PAGE, mimetype="text/html")


class DocsAsset(AsyncResource):
    @operation("/docs/assets/<path:filename>", "A Swagger UI asset", documented=False)
    def get(self, filename: str) -> Response:
        # From the installed package; safe_join refuses paths outside it.
        return send_from_directory(ASSETS, filename, max_age=86400)
