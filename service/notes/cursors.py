"""Opaque page cursors: the id the next page starts below, as 8 bytes in URL-safe base64.

A cursor is a position in the keyset (ids, newest first), not an offset, so
notes inserted while a client pages never shift the pages it has not read.
Every string of the documented pattern decodes to some position, so the
document can say exactly which cursors are valid: any other string is a 422.
"""

from __future__ import annotations

import base64
import re

from service.errors import ValidationFailed

# 8 bytes are 11 base64 characters without padding; the last one carries
# only 4 bits, so it is one of these 16.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$"
_CURSOR = re.compile(CURSOR_PATTERN)
MAX_ID = 2**63 - 1  # ids are signed 64-bit on both backends


def encode_cursor(before: int) -> str:
    """The cursor of the page of ids below ``before``."""
    return base64.urlsafe_b64encode(before.to_bytes(8, "big")).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int | None:
    """The id a cursor's page starts below; None when no id is that large. 422 if malformed."""
    if not _CURSOR.match(cursor):
        raise ValidationFailed(
            "cursor: is not a cursor this service issued",
            errors=[{"field": "cursor", "message": "is not a cursor this service issued"}],
        )
    before = int.from_bytes(base64.urlsafe_b64decode(cursor + "="), "big")
    return None if before > MAX_ID else before
