"""The value types of settings: URLs that hide their password from every repr, and bounded numbers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field


def mask_password(url: str) -> str:
    """``url`` with the password in its credentials or query replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if sep:
        location, slash, path = rest.partition("/")
        credentials, at, hosts = location.rpartition("@")
        if at and ":" in credentials:
            credentials = credentials.partition(":")[0] + ":***"
        url = f"{scheme}{sep}{credentials}{at}{hosts}{slash}{path}"
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


class SecretUrl(str):
    """A URL that may carry a password: used as the whole URL, shown by ``repr`` without it."""

    def __repr__(self) -> str:
        return repr(mask_password(self))


Url = Annotated[str, AfterValidator(SecretUrl)]
Positive = Annotated[int, Field(gt=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
NotNegative = Annotated[int, Field(ge=0)]
