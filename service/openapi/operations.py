"""What each operation of the contract takes and answers: the table the OpenAPI document is built from.

Shapes are the pydantic models the resources validate and serialise with,
so the document cannot drift from the code; ``tests/test_openapi.py`` checks
that this table and the app's routes name the same operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from service.auth.schemas import Credentials, CsrfToken, RefreshRequest, SessionPublic, TokenPair
from service.health import Liveness, Readiness
from service.notes.schemas import NoteCreate, NoteListQuery, NotePage, NotePublic, NoteUpdate
from service.users.schemas import PasswordChange, UserCreate, UserPublic

API = "/api/v1"
# Who may call: anyone, a bearer token only, a cookie session only, or either of the two.
Auth = Literal["none", "bearer", "cookie", "user"]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # an OpenAPI path template: /api/v1/notes/{note_id}
    summary: str
    tag: str
    auth: Auth = "none"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    returns: type[BaseModel] | None = None
    many: bool = False  # the answer is a JSON array of ``returns``
    errors: tuple[int, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # success headers: name -> description
    media_type: str = "application/json"
    links: dict[str, dict[str, Any]] = field(default_factory=dict)  # OpenAPI links from the success


def _note_links() -> dict[str, dict[str, Any]]:
    # What a client (and schemathesis's stateful phase) can do with a new note.
    note = {"note_id": "$response.body#/id"}
    return {
        name: {"operationId": operation_id, "parameters": note}
        for name, operation_id in (
            ("GetNote", "get_notes_note_id"),
            ("UpdateNote", "patch_notes_note_id"),
            ("DeleteNote", "delete_notes_note_id"),
        )
    }


LOGIN_ERRORS = (401, 429)
OPERATIONS: tuple[Operation, ...] = (
    Operation("post", f"{API}/auth/register", "Create an account", "auth",
              body=UserCreate, status=201, returns=UserPublic, errors=(409,)),
    Operation("post", f"{API}/auth/login", "Log in for a bearer token pair", "auth",
              body=Credentials, returns=TokenPair, errors=LOGIN_ERRORS),
    Operation("post", f"{API}/auth/refresh", "Spend a refresh token for a new pair", "auth",
              body=RefreshRequest, returns=TokenPair, errors=(401,)),
    Operation("post", f"{API}/auth/logout", "End this session", "auth", auth="user", status=204),
    Operation("post", f"{API}/auth/logout-all", "End every session of the caller", "auth",
              auth="user", status=204),
    Operation("get", f"{API}/auth/sessions", "List the caller's sessions", "auth",
              auth="user", returns=SessionPublic, many=True,
              links={"EndFirstSession": {"operationId": "delete_auth_sessions_session_id",
                                         "parameters": {"session_id": "$response.body#/0/id"}}}),
    Operation("delete", f"{API}/auth/sessions/{{session_id}}", "End one of the caller's sessions", "auth",
              auth="user", status=204, errors=(404,)),
    Operation("post", f"{API}/session", "Log in with a cookie session (browsers)", "session",
              body=Credentials, returns=CsrfToken, errors=LOGIN_ERRORS,
              headers={"Set-Cookie": "The session cookie (HttpOnly, SameSite=Lax, Secure in production)."}),
    Operation("delete", f"{API}/session", "Log out of the cookie session", "session",
              auth="user", status=204),
    Operation("get", f"{API}/users/me", "The caller's account", "users", auth="user", returns=UserPublic),
    Operation("put", f"{API}/users/me/password", "Change the caller's password", "users",
              auth="user", body=PasswordChange, status=204, errors=(403, 429)),
    Operation("get", f"{API}/notes", "The caller's notes, newest first, a page at a time", "notes",
              auth="user", query=NoteListQuery, returns=NotePage, errors=(422,)),
    Operation("post", f"{API}/notes", "Create a note", "notes", auth="user", body=NoteCreate, status=201,
              returns=NotePublic, headers={"Location": "The new note's URL."}, links=_note_links()),
    Operation("get", f"{API}/notes/{{note_id}}", "One of the caller's notes", "notes", auth="user",
              returns=NotePublic, errors=(404,)),
    Operation("patch", f"{API}/notes/{{note_id}}", "Change a note's title or body", "notes", auth="user",
              body=NoteUpdate, returns=NotePublic, errors=(404,)),
    Operation("delete", f"{API}/notes/{{note_id}}", "Delete a note", "notes", auth="user", status=204,
              errors=(404,)),
    Operation("get", "/healthz", "Alive while the process serves", "operations", returns=Liveness),
    Operation("get", "/readyz", "Ready when the database and Redis answer", "operations",
              returns=Readiness, errors=(503,)),
    Operation("get", "/metrics", "Prometheus metrics, summed over every worker", "operations",
              media_type="text/plain"),
    Operation("get", "/openapi.json", "This document", "operations"),
    Operation("get", "/docs", "A page to read and try the API", "operations", media_type="text/html"),
)  # fmt: skip
