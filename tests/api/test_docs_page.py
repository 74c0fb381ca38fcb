"""/docs in a real browser: Debian's headless chromium renders every operation, offline."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import httpx
import pytest

from service.errors import title
from tests.support.browser import run_chromium
from tests.support.live import LiveServer
from tests.support.processes import ROOT

pytestmark = pytest.mark.slow


def test_docs_page_renders_every_operation_without_network(
    client: httpx.Client, server: LiveServer, tmp_path: Path
) -> None:
    document = client.get("/openapi.json").json()
    result = run_chromium(tmp_path / "profile", f"{server.url}/docs", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    # Swagger UI builds these elements from /openapi.json in the browser.
    assert "Unable to render this definition" not in dom
    assert ">OAS 3.1<" in dom
    rendered = {
        (method.lower(), path)
        for method, path in re.findall(
            r'opblock-summary-method">(\w+)</span>.*?data-path="([^"]+)"', dom, flags=re.S
        )
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert rendered == documented


def test_each_error_response_shows_its_own_status_and_title(
    client: httpx.Client, server: LiveServer, tmp_path: Path
) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/notes"]["post"]
    errors = sorted(int(status) for status in operation["responses"] if int(status) >= 400)
    # Swagger UI's deep link opens the operation, rendering every response's example.
    result = run_chromium(tmp_path / "profile", f"{server.url}/docs#/notes/post_notes", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", result.stdout)))
    shown = re.findall(r'"title" : "([^"]+)" , "status" : (\d+)', text)
    assert sorted(int(status) for _, status in shown) == errors
    for name, status in shown:
        assert name == title(int(status)), (name, status)


def test_docs_page_screenshot(server: LiveServer, tmp_path: Path) -> None:
    shot = tmp_path / "docs.png"
    result = run_chromium(
        tmp_path / "profile", f"{server.url}/docs", "--window-size=1280,1800",
        f"--screenshot={shot}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # Kept for a person to look at (reports/ is not committed).
    (ROOT / "reports").mkdir(exist_ok=True)
    shutil.copyfile(shot, ROOT / "reports" / "docs-page.png")
