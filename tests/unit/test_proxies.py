"""X-Forwarded-For is believed only from as many proxies as TRUSTED_PROXIES says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask, request

from tests.support.live import LiveServer


def _add_address_route(app: Flask) -> None:
    @app.get("/test/client-address")
    def client_address() -> Any:
        return {"ip": request.remote_addr, "scheme": request.scheme}


def _seen(server: LiveServer, headers: dict[str, str]) -> dict[str, str]:
    with httpx.Client(base_url=server.url) as client:
        return client.get("/test/client-address", headers=headers).json()


def test_without_trusted_proxies_forwarded_headers_are_ignored(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(configure=_add_address_route)
    seen = _seen(server, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen == {"ip": "127.0.0.1", "scheme": "http"}


@pytest.mark.parametrize(
    ("hops", "forwarded_for", "expected"),
    [
        # One proxy: only the entry it appended counts; what the client
        # claimed before it is ignored.
        (1, "203.0.113.7, 198.51.100.2", "198.51.100.2"),
        # Two proxies: the entry the outer one appended is the client.
        (2, "203.0.113.7, 198.51.100.2, 10.0.0.5", "198.51.100.2"),
    ],
)
def test_the_client_is_the_entry_the_outermost_trusted_proxy_wrote(
    make_server: Callable[..., LiveServer], hops: int, forwarded_for: str, expected: str
) -> None:
    server = make_server(configure=_add_address_route, trusted_proxies=hops)
    seen = _seen(server, {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"})
    assert seen == {"ip": expected, "scheme": "https"}
