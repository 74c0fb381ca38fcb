"""The floor: a bare ASGI app answering every path with a constant JSON body.

Served by hypercorn with the service's own settings (``config.hypercorn``), it
is what the server and the machine cost before any application code runs.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"id":1,"username":"bench","created_at":"2026-01-01T00:00:00+00:00"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
