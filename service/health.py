"""The operations endpoints: liveness and readiness probes, and the Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from flask import Response
from pydantic import BaseModel
from sqlalchemy import text

from service import metrics
from service.errors import DependencyDown
from service.redis import ping
from service.resources import AsyncResource, operation
from service.serving import runtime

PROBE_TIMEOUT = 2.0


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok"]
    checks: dict[str, Literal["ok"]]


class Health(AsyncResource):
    @operation("/healthz", "Alive while the process serves", returns=Liveness, dependencies=False)
    async def get(self) -> Any:
        return Liveness(status="ok")


class Ready(AsyncResource):
    @operation(
        "/readyz",
        "Ready when the database and Redis answer",
        returns=Readiness,
        errors={503: "Not ready: redis unavailable."},
    )
    async def get(self) -> Any:
        rt = runtime.current()
        results = await asyncio.gather(_probe(_ping_db(rt)), _probe(ping(rt.redis)))
        down = [name for name, ok in zip(("database", "redis"), results, strict=True) if not ok]
        for name in down:
            metrics.count_dependency_failure(name)
        if down:
            raise DependencyDown(f"Not ready: {' and '.join(down)} unavailable.")
        return Readiness(status="ok", checks={"database": "ok", "redis": "ok"})


class Metrics(AsyncResource):
    @operation("/metrics", "Prometheus metrics, summed over every worker", media_type="text/plain")
    def get(self) -> Response:
        return metrics.metrics_view()


async def _ping_db(rt: runtime.Runtime) -> None:
    async with rt.db.reader() as conn:
        await conn.execute(text("SELECT 1"))


async def _probe(check: Any) -> bool:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT)
    except Exception:
        return False
    return True
