"""Head and body limits, and the framings refused before Flask sees the request.

h11 refuses (431) only a head that arrives incomplete past its buffer; a head
read in one go can carry far more, so these bounds apply whatever the reads
were. A body is bounded while it arrives, so an oversized upload is refused
without being stored. Every refusal here closes the connection: after a
framing we refused, the next bytes on it cannot be trusted to start a
request (RFC 9112 section 6.1, request smuggling).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from tempfile import SpooledTemporaryFile
from typing import IO, Any, NamedTuple

MAX_TARGET_BYTES = 8 * 1024  # path plus query string
MAX_HEADER_BYTES = 16 * 1024  # every header name and value together
MAX_HEADERS = 100
Scope = dict[str, Any]


class Refusal(NamedTuple):
    """A request answered before Flask: its status and the problem's detail."""

    status: int
    detail: str


def check_head(scope: Scope, max_body: int) -> Refusal | None:
    """The refusal a request's line and headers earn, or None when they are acceptable."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    if target > MAX_TARGET_BYTES:
        return Refusal(414, f"The path and query string must be at most {MAX_TARGET_BYTES} bytes.")
    headers = scope.get("headers", ())
    if len(headers) > MAX_HEADERS or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
        return Refusal(431, f"At most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all.")
    lengths = [value.strip() for name, value in headers if name == b"content-length"]
    if lengths and any(name == b"transfer-encoding" for name, _ in headers):
        return Refusal(400, "A request must not carry both Content-Length and Transfer-Encoding.")
    if len(set(lengths)) > 1 or (lengths and not lengths[0].isdigit()):
        return Refusal(400, "Content-Length must be one non-negative integer.")
    if lengths and int(lengths[0]) > max_body:
        return Refusal(413, f"The body must be at most {max_body} bytes.")
    return None


async def read_body(
    receive: Callable[[], Awaitable[dict[str, Any]]], max_body: int
) -> tuple[IO[bytes] | None, Refusal | None]:
    """The whole body, spooled to disk past 64 KiB; or the refusal; or (None, None) if the client left."""
    body: IO[bytes] = SpooledTemporaryFile(max_size=65536)  # noqa: SIM115 (the caller closes it)
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            body.close()
            return None, None
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > max_body:
            body.close()
            return None, Refusal(413, f"The body must be at most {max_body} bytes.")
        body.write(chunk)
        if not message.get("more_body"):
            body.seek(0)
            return body, None
