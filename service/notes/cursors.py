"""Opaque page cursors: the id of the last note shown, in URL-safe base64.

A cursor is a position in the keyset (ids, newest first), not an offset, so
notes inserted while a client pages never shift the pages it has not read.
"""

from __future__ import annotations

import base64
import binascii
import re

from service.errors import ValidationFailed

_PREFIX = "n1:"  # a version, so the format can change without accepting old cursors wrongly
_PAYLOAD = re.compile(r"^n1:([1-9][0-9]{0,18})$")
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ID = 2**63 - 1


def encode_cursor(note_id: int) -> str:
    """The cursor that continues after ``note_id``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{note_id}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    """The note id a cursor points after; 422 for anything this service did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    match = _PAYLOAD.match(raw)
    if match is None or int(match.group(1)) > MAX_ID:
        raise ValidationFailed(
            "cursor: is not a cursor this service issued",
            errors=[{"field": "cursor", "message": "is not a cursor this service issued"}],
        )
    return int(match.group(1))
