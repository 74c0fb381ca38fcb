"""Schemathesis hooks (SCHEMATHESIS_HOOKS): authenticate every case with a real bearer login.

A provider rather than a fixed header: when the run itself revokes the
token (it calls logout too), schemathesis sees the 401, logs in again through
``get`` and retries the case.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis


@schemathesis.auth()
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
