"""Ids in paths are canonical ASCII decimal: every resource has exactly one URL, anything else is 404."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import logged_in_user

# Digits Werkzeug's own int converter takes (\d matches every Unicode decimal digit).
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@pytest.fixture
def note(client: httpx.Client) -> tuple[dict[str, str], int]:
    account = logged_in_user(client)
    response = client.post("/api/v1/notes", json={"title": "t", "body": "b"}, headers=account.auth)
    assert response.status_code == 201
    return account.auth, response.json()["id"]


def spellings(note_id: int) -> list[str]:
    digits = str(note_id)
    return [
        digits.translate(ARABIC_INDIC),
        digits.translate(FULLWIDTH),
        f"0{digits}",
        f"+{digits}",
        f"{digits}.0",
        f"{digits[:-1]}{digits[-1].translate(FULLWIDTH)}",  # one foreign digit among ASCII ones
    ]


def test_a_note_answers_only_at_its_canonical_url(client: httpx.Client, note: tuple[dict, int]) -> None:
    auth, note_id = note
    assert client.get(f"/api/v1/notes/{note_id}", headers=auth).status_code == 200
    for spelling in spellings(note_id):
        for method in ("GET", "PATCH", "DELETE"):
            response = client.request(method, f"/api/v1/notes/{spelling}", headers=auth, json={"title": "x"})
            assert response.status_code == 404, (method, spelling, response.status_code)
            assert response.headers["Content-Type"] == "application/problem+json"
    # Nothing above reached the note: it is unchanged and still there.
    response = client.get(f"/api/v1/notes/{note_id}", headers=auth)
    assert response.status_code == 200
    assert response.json()["title"] == "t"


def test_ids_past_64_bits_are_404_not_an_overflow(client: httpx.Client, note: tuple[dict, int]) -> None:
    auth, _ = note
    for note_id in (2**63 - 1, 2**63, 10**19, 10**30):
        response = client.get(f"/api/v1/notes/{note_id}", headers=auth)
        assert response.status_code == 404, note_id
        assert response.headers["Content-Type"] == "application/problem+json"


def test_the_location_of_a_new_note_is_its_canonical_url(
    client: httpx.Client, note: tuple[dict, int]
) -> None:
    auth, _ = note
    response = client.post("/api/v1/notes", json={"title": "t", "body": "b"}, headers=auth)
    assert response.headers["Location"] == f"/api/v1/notes/{response.json()['id']}"
