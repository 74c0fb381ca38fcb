"""HTTP resources for the caller's security events."""

from __future__ import annotations

from typing import Any

from service.auth.events import records as events
from service.auth.events.schemas import EventListQuery, EventPage
from service.auth.guard import principal
from service.resources import API, AsyncResource, operation
from service.serving import runtime


class Events(AsyncResource):
    @operation(
        f"{API}/auth/events",
        "The caller's security events, newest first, a page at a time",
        auth="either",
        query=EventListQuery,
        returns=EventPage,
    )
    async def get(self, query: EventListQuery) -> Any:
        return await events.page_of(
            runtime.current().db, principal().account, limit=query.limit, cursor=query.cursor
        )
