"""A new endpoint is its declared resource method and nothing else: served, authenticated, documented."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from pydantic import BaseModel, ConfigDict, Field

from service.auth.guard import principal
from service.resources import API, AsyncResource, operation
from service.routes import add_resources
from tests.factories import PASSWORD, logged_in_user
from tests.support.live import LiveServer


class Shout(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    text: str = Field(min_length=1, max_length=20)


class Times(BaseModel):
    times: int = Field(1, ge=1, le=3)


class Echo(BaseModel):
    text: str
    user_id: int


class Shouts(AsyncResource):
    @operation(f"{API}/shouts", "Shout back", auth="either", body=Shout, status=201, returns=Echo)
    async def post(self, form: Shout) -> Any:
        return {"text": form.text.upper(), "user_id": principal().user_id}


class ShoutItem(AsyncResource):
    @operation(f"{API}/shouts/<int:shout_id>", "Repeat a shout", auth="bearer", query=Times, returns=Echo)
    async def get(self, query: Times, shout_id: int) -> Any:
        return Echo(text=str(shout_id) * query.times, user_id=principal().user_id)

    @operation(f"{API}/shouts/<int:shout_id>", "Forget a shout", auth="cookie", status=204,
               errors={404: "There is no shout 12."})  # fmt: skip
    async def delete(self, shout_id: int) -> None:
        return None


@pytest.fixture
def shouting(make_server: Callable[..., LiveServer]) -> LiveServer:
    def configure(app: Flask) -> None:
        add_resources(app, sys.modules[__name__])

    return make_server(configure=configure)


def test_a_declared_resource_is_served_with_its_auth_body_and_status(shouting: LiveServer) -> None:
    with httpx.Client(base_url=shouting.url, timeout=30) as client:
        account = logged_in_user(client)
        assert client.post("/api/v1/shouts", json={"text": "hi"}).status_code == 401
        refused = client.post("/api/v1/shouts", json={"text": 5}, headers=account.auth)
        assert refused.status_code == 422
        assert refused.json()["errors"] == [{"field": "text", "message": "must be a string"}]
        created = client.post("/api/v1/shouts", json={"text": "hi"}, headers=account.auth)
        assert created.status_code == 201
        assert created.json() == {"text": "HI", "user_id": account.id}
        again = client.get("/api/v1/shouts/7?times=3", headers=account.auth)
        assert again.json() == {"text": "777", "user_id": account.id}
        assert client.get("/api/v1/shouts/7?times=9", headers=account.auth).status_code == 422


def test_bearer_only_and_cookie_only_operations_refuse_the_other(shouting: LiveServer) -> None:
    with httpx.Client(base_url=shouting.url, timeout=30) as client:
        account = logged_in_user(client)
        login = client.post("/api/v1/session", json={"username": account.username, "password": PASSWORD})
        client.cookies.clear()  # sent by hand: the cookie is Secure and the server is plain http
        cookie = {"Cookie": f"session={login.cookies['session']}"}
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        assert client.get("/api/v1/shouts/1", headers=account.auth).status_code == 200
        assert client.get("/api/v1/shouts/1", headers=cookie).status_code == 401
        assert client.delete("/api/v1/shouts/1", headers=account.auth).status_code == 401
        assert client.delete("/api/v1/shouts/1", headers=cookie).status_code == 403
        assert client.delete("/api/v1/shouts/1", headers=cookie | csrf).status_code == 204


def test_a_declared_resource_is_documented(shouting: LiveServer) -> None:
    document = httpx.get(f"{shouting.url}/openapi.json").json()
    create = document["paths"]["/api/v1/shouts"]["post"]
    assert create["tags"] == ["shouts"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Shout"
    }
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Echo"
    }
    assert sorted(create["responses"]) == ["201", "400", "401", "403", "413", "415", "422", "503"]
    item = document["paths"]["/api/v1/shouts/{shout_id}"]
    assert item["get"]["security"] == [{"bearerAuth": []}]
    assert item["delete"]["security"] == [{"cookieSession": [], "csrfToken": []}]
    assert [p["name"] for p in item["get"]["parameters"]] == ["shout_id", "times"]
    assert item["get"]["parameters"][0]["schema"]["type"] == "integer"
    example = item["delete"]["responses"]["404"]["content"]["application/problem+json"]["example"]
    assert (example["status"], example["title"], example["detail"]) == (
        404,
        "Not Found",
        "There is no shout 12.",
    )
