"""The client's address behind reverse proxies, trusted only as far as configured."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import Settings


def register_proxies(app: Flask, settings: Settings) -> None:
    """Believe ``X-Forwarded-*`` from the last ``TRUSTED_PROXIES`` hops only.

    Each proxy appends the address it received the request from, so only the
    rightmost entries were written by proxies we run; anything to their left
    came from the client and may be invented. With 0 (the default) the
    headers are ignored and ``request.remote_addr`` is the peer's address, as
    a server reachable without a proxy needs.

    X-Forwarded-Proto and -Host are set (overwritten, not appended) by the
    proxy next to the service, our nginx, so one value is trusted whatever
    the number of hops.
    """
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1, x_host=1)  # type: ignore[method-assign]
