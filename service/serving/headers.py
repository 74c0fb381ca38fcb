"""Headers every response carries, whoever wrote it: Flask, a refusal, or hypercorn's h11.

An API answers with JSON that no browser should sniff, frame, cache or
refer onward: the hardening is the same on every response. The one HTML
page, ``/docs``, runs Swagger UI's inline start-up script, so its policy only
forbids framing; everything else gets a policy that allows nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]
DOCS_PAGE = "/docs"
HARDENING: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_NOTHING_ALLOWED = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_NOT_FRAMED = (b"content-security-policy", b"frame-ancestors 'none'")
# Credentials and per-user data must never sit in a shared or browser cache;
# a response that says how it may be cached (the docs assets) keeps its word.
_NO_STORE = (b"cache-control", b"no-store")


def secured(path: str, headers: Iterable[tuple[bytes, bytes]], request_id: str) -> Headers:
    """``headers`` (lower-case names) plus the request id and the hardening headers."""
    out = list(headers)
    out.append((b"x-request-id", request_id.encode()))
    out.extend(HARDENING)
    out.append(_NOT_FRAMED if path == DOCS_PAGE else _NOTHING_ALLOWED)
    if not path.startswith(DOCS_PAGE) and not any(name == b"cache-control" for name, _ in out):
        out.append(_NO_STORE)
    return out
