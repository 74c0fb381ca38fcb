"""Hypercorn's HTTP/1.1 protocol with problem+json refusals, reason phrases, one write per answer.

Requests h11 cannot parse (a NUL in a header, no Host, a bad Content-Length,
an oversized head) are refused by hypercorn before the app, with an empty
400 or 431; and every status line goes out without its reason phrase. Both
are fixed where hypercorn writes them, so those refusals read like every
other answer of the service (docs/architecture.md, "Refusals"). And the
head of a response waits for the first bytes of its body, which hypercorn
sends right after it, so that both leave in one ``send`` system call
instead of two (docs/performance.md).

This module owns our override of hypercorn's internals, checked against
hypercorn 0.18.0: ``H11Protocol._send_error_response(status_code)`` and
``H11Protocol._send_h11_event(event)`` (re-implemented: the ``connection``
and ``send`` attributes it uses, and ``LocalProtocolError`` tolerated once
the peer is in error), installed as the base of ``drain``'s protocol; and
of h11's, checked against h11 0.16.0: re-making a response event from
headers it already validated (``_parsed=True``).
"""

from __future__ import annotations

from http import HTTPStatus

import h11
from hypercorn.events import RawData
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.typing import H11SendableEvent

from service import metrics
from service.errors import closing_problem, title
from service.request_ids import choose_request_id
from service.serving.access_log import log_exchange
from service.serving.headers import secured

HYPERCORN_CHECKED = "0.18.0"
H11_CHECKED = "0.16.0"
_REASONS = {status.value: title(status.value).encode() for status in HTTPStatus}
# The method of a request h11 could not parse, in the access log and metrics (nginx's "-").
UNPARSED = "-"
_DETAILS = {
    400: "The request is not valid HTTP/1.1.",
    431: "The request head is too large.",
    501: "Transfer-Encoding must be chunked.",
}


class ProblemH11Protocol(H11Protocol):
    """``H11Protocol`` whose own refusals are problem+json and whose status lines say their reason."""

    # The serialised head of a final response, until its first body bytes.
    _head = b""

    async def _send_error_response(self, status_code: int) -> None:
        request_id = choose_request_id(None)  # no request was parsed to carry one
        headers, body = closing_problem(status_code, _DETAILS.get(status_code, ""), request_id)
        headers = secured("", headers, request_id) + self.config.response_headers("h11")
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())
        log_exchange(UNPARSED, metrics.UNMATCHED, status_code, 0.0, request_id)

    async def _send_h11_event(self, event: H11SendableEvent) -> None:
        if isinstance(event, (h11.Response, h11.InformationalResponse)) and not event.reason:
            reason = _REASONS.get(event.status_code, b"")
            # _parsed: the headers were validated when hypercorn made the
            # event; validating them again costs more than the rest of this.
            event = type(event)(
                status_code=event.status_code, headers=event.headers, reason=reason, _parsed=True
            )
        try:
            data = self.connection.send(event)
        except h11.LocalProtocolError:
            if self.connection.their_state != h11.ERROR:
                raise
            return  # the peer broke the exchange: hypercorn drops the event too
        if type(event) is h11.Response:
            # Every path that sends a final head sends a body event next.
            self._head = data
            return
        if self._head:
            data, self._head = self._head + data, b""
        await self.send(RawData(data=data))
