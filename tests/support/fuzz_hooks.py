"""Schemathesis hooks (SCHEMATHESIS_HOOKS) for tests/api/test_fuzz.py.

* Every case is authenticated with a real bearer login. A provider rather
  than a fixed header: when the run itself revokes the token (logout,
  logout-all), schemathesis sees the 401, logs in again through ``get`` and
  retries the case.
* Passwords are limited in UTF-8 bytes (bcrypt's 72), which JSON Schema cannot
  say: the document gives ``maxLength: 72`` and the rule in prose, and this
  filter keeps the generator from calling a longer one "schema-valid".
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis

PASSWORD_FIELDS = ("password", "new_password")
MAX_PASSWORD_BYTES = 72


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    if not isinstance(body, dict):
        return True
    return not any(
        isinstance(body.get(name), str)
        and len(body[name].encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES
        for name in PASSWORD_FIELDS
    )


@schemathesis.auth(refresh_interval=None)
class BearerLogin:
    def get(self, case: Any, context: Any) -> str:
        response = requests.post(
            f"{os.environ['FUZZ_BASE_URL']}/api/v1/auth/login",
            json={"username": os.environ["FUZZ_USERNAME"], "password": os.environ["FUZZ_PASSWORD"]},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
