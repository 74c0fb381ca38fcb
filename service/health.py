"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import text

from service import metrics
from service.errors import DependencyDown
from service.resources import AsyncResource
from service.serving import runtime

PROBE_TIMEOUT = 2.0


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok"]
    checks: dict[str, Literal["ok"]]


class Health(AsyncResource):
    """Alive while the process serves; touches no dependency."""

    async def get(self) -> Any:
        return Liveness(status="ok").model_dump()


class Ready(AsyncResource):
    """Ready when the database and Redis both answer."""

    async def get(self) -> Any:
        rt = runtime.current()
        results = await asyncio.gather(_probe(_ping_db(rt)), _probe(rt.redis.ping()))
        down = [name for name, ok in zip(("database", "redis"), results, strict=True) if not ok]
        for name in down:
            metrics.count_dependency_failure(name)
        if down:
            raise DependencyDown(f"Not ready: {' and '.join(down)} unavailable.")
        return Readiness(status="ok", checks={"database": "ok", "redis": "ok"}).model_dump()


async def _ping_db(rt: runtime.Runtime) -> None:
    async with rt.db.reader() as conn:
        await conn.execute(text("SELECT 1"))


async def _probe(check: Any) -> bool:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT)
    except Exception:
        return False
    return True
