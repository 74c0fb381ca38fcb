"""Notes over real HTTP: ownership, validation, and keyset paging, as the contract describes them."""

from __future__ import annotations

import base64
import threading
from datetime import datetime

import httpx
import pytest

from tests.factories import Account, logged_in_user
from tests.support.live import LiveServer

NOTES = "/api/v1/notes"


def create(client: httpx.Client, account: Account, title: str = "a note", body: str = "") -> dict:
    response = client.post(NOTES, json={"title": title, "body": body}, headers=account.auth)
    assert response.status_code == 201, response.text
    return response.json()


def all_pages(client: httpx.Client, account: Account, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(NOTES, params=params, headers=account.auth)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def test_create_returns_the_note_with_its_location(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.post(NOTES, json={"title": "groceries", "body": "eggs"}, headers=account.auth)
    assert response.status_code == 201
    note = response.json()
    assert set(note) == {"id", "title", "body", "created_at", "updated_at"}
    assert (note["title"], note["body"]) == ("groceries", "eggs")
    assert datetime.fromisoformat(note["created_at"]).tzinfo is not None
    assert response.headers["Location"].endswith(f"{NOTES}/{note['id']}")
    fetched = client.get(response.headers["Location"], headers=account.auth)
    assert fetched.status_code == 200
    assert fetched.json() == note


def test_patch_changes_only_the_given_fields(client: httpx.Client) -> None:
    account = logged_in_user(client)
    note = create(client, account, "title", "body")
    response = client.patch(f"{NOTES}/{note['id']}", json={"body": "new body"}, headers=account.auth)
    assert response.status_code == 200
    changed = response.json()
    assert (changed["title"], changed["body"]) == ("title", "new body")
    assert changed["created_at"] == note["created_at"]
    assert changed["updated_at"] >= note["updated_at"]
    assert client.get(f"{NOTES}/{note['id']}", headers=account.auth).json() == changed


def test_delete_removes_the_note(client: httpx.Client) -> None:
    account = logged_in_user(client)
    note = create(client, account)
    assert client.delete(f"{NOTES}/{note['id']}", headers=account.auth).status_code == 204
    assert client.get(f"{NOTES}/{note['id']}", headers=account.auth).status_code == 404
    assert client.delete(f"{NOTES}/{note['id']}", headers=account.auth).status_code == 404


def test_another_users_note_is_indistinguishable_from_a_missing_one(client: httpx.Client) -> None:
    owner, other = logged_in_user(client), logged_in_user(client)
    note = create(client, owner, "private")
    url = f"{NOTES}/{note['id']}"
    missing = client.get(f"{NOTES}/{note['id'] + 10**9}", headers=other.auth)
    strip = lambda r: {k: v for k, v in r.json().items() if k not in ("request_id", "detail")}  # noqa: E731
    for response in (
        client.get(url, headers=other.auth),
        client.patch(url, json={"title": "mine now"}, headers=other.auth),
        client.delete(url, headers=other.auth),
    ):
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert strip(response) == strip(missing)
    assert client.get(NOTES, headers=other.auth).json()["items"] == []
    assert client.get(url, headers=owner.auth).json()["title"] == "private"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_notes_need_a_token(client: httpx.Client, method: str) -> None:
    response = client.request(method, NOTES, json={"title": "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": ""}, "title", "must not be empty"),
        ({"title": "t" * 201}, "title", "must be at most 200 characters"),
        ({"title": "t", "body": "b" * 10_001}, "body", "must be at most 10000 characters"),
        ({"body": "no title"}, "title", "is required"),
        ({"title": 7}, "title", "must be a string"),
        ({"title": "nul\u0000"}, "title", "has characters that are not allowed"),
        ({"title": "t", "color": "red"}, "color", "is not allowed"),
    ],
)
def test_invalid_note_names_the_field(client: httpx.Client, body: dict, field: str, message: str) -> None:
    account = logged_in_user(client)
    response = client.post(NOTES, json=body, headers=account.auth)
    assert response.status_code == 422
    assert {"field": field, "message": message} in response.json()["errors"]


def test_limits_of_title_and_body_are_inclusive(client: httpx.Client) -> None:
    account = logged_in_user(client)
    note = create(client, account, "é" * 200, "b" * 10_000)
    assert len(note["title"]) == 200


@pytest.mark.parametrize("body", [{}, {"title": None}, {"title": ""}, {"body": "b" * 10_001}])
def test_invalid_patch_is_422_and_changes_nothing(client: httpx.Client, body: dict) -> None:
    account = logged_in_user(client)
    note = create(client, account, "kept", "kept")
    response = client.patch(f"{NOTES}/{note['id']}", json=body, headers=account.auth)
    assert response.status_code == 422
    assert client.get(f"{NOTES}/{note['id']}", headers=account.auth).json() == note


@pytest.mark.parametrize("note_id", ["0", "9223372036854775808", "99999999999999999999999"])
def test_ids_out_of_range_are_404(client: httpx.Client, note_id: str) -> None:
    account = logged_in_user(client)
    for method in ("GET", "DELETE"):
        assert client.request(method, f"{NOTES}/{note_id}", headers=account.auth).status_code == 404
    patched = client.patch(f"{NOTES}/{note_id}", json={"title": "x"}, headers=account.auth)
    assert patched.status_code == 404


def test_list_is_newest_first_and_pages_cover_every_note_once(client: httpx.Client) -> None:
    account = logged_in_user(client)
    ids = [create(client, account, f"note {n}")["id"] for n in range(7)]
    pages = all_pages(client, account, limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [note["id"] for page in pages for note in page] == ids[::-1]


def test_the_last_full_page_has_no_next_cursor(client: httpx.Client) -> None:
    account = logged_in_user(client)
    for n in range(4):
        create(client, account, f"note {n}")
    assert [len(page) for page in all_pages(client, account, limit=2)] == [2, 2]
    assert client.get(NOTES, headers=account.auth).json()["next_cursor"] is None


def test_paging_while_another_client_inserts_skips_and_repeats_nothing(
    client: httpx.Client, server: LiveServer
) -> None:
    account = logged_in_user(client)
    existing = {create(client, account, f"old {n}")["id"] for n in range(12)}
    stop = threading.Event()
    inserted: list[int] = []

    def insert_continuously() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as other:
            while not stop.is_set():
                inserted.append(create(other, account, "new")["id"])

    writer = threading.Thread(target=insert_continuously)
    writer.start()
    try:
        seen, cursor = [], None
        while True:
            # An insert lands between every two pages, whatever the writer thread's pace.
            inserted.append(create(client, account, "between pages")["id"])
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            body = client.get(NOTES, params=params, headers=account.auth).json()
            seen.extend(note["id"] for note in body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "a note was shown twice"
    assert existing <= set(seen), "a note that existed before paging was skipped"
    assert seen == sorted(seen, reverse=True)
    assert len(inserted) >= 6


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.0", "", "1e2"])
def test_a_bad_limit_is_422(client: httpx.Client, limit: str) -> None:
    account = logged_in_user(client)
    response = client.get(NOTES, params={"limit": limit}, headers=account.auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_accepted(client: httpx.Client, limit: str) -> None:
    account = logged_in_user(client)
    assert client.get(NOTES, params={"limit": limit}, headers=account.auth).status_code == 200


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        "AAAAAAAAAAB",  # 11 characters, but the last one has bits past the 8th byte
        "AAAAAAAAAA",
        "AAAAAAAAAAAA",
        base64.urlsafe_b64encode(b"offset:20").decode(),
        "A" * 65,
    ],
)
def test_a_bad_cursor_is_422(client: httpx.Client, cursor: str) -> None:
    account = logged_in_user(client)
    response = client.get(NOTES, params={"cursor": cursor}, headers=account.auth)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(("cursor", "expected"), [("AAAAAAAAAAA", 0), ("__________8", 3)])
def test_every_well_formed_cursor_is_a_position(client: httpx.Client, cursor: str, expected: int) -> None:
    # The document's pattern admits exactly these strings; each one means "ids below N".
    account = logged_in_user(client)
    for n in range(3):
        create(client, account, f"note {n}")
    response = client.get(NOTES, params={"cursor": cursor}, headers=account.auth)
    assert response.status_code == 200
    assert len(response.json()["items"]) == expected


def test_ids_and_cursors_past_32_bits_work(client: httpx.Client) -> None:
    # PostgreSQL once had an int32 id column: these were a 500 there.
    account = logged_in_user(client)
    create(client, account)
    assert client.get(f"{NOTES}/{2**40}", headers=account.auth).status_code == 404
    cursor = base64.urlsafe_b64encode((2**40).to_bytes(8, "big")).decode().rstrip("=")
    response = client.get(NOTES, params={"cursor": cursor}, headers=account.auth)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1
