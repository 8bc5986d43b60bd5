"""The chat page's files as the app serves them: content types, caching, nothing outside web/."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from starlette.requests import Request

from agentstream.exceptions import NotFound
from agentstream.http.static import static_file
from tests.harness import ROOT, Devhost


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("", "text/html; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("agentstream.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ],
)
def test_each_file_is_served_with_its_content_type(devhost: Devhost, path: str, content_type: str) -> None:
    response = requests.get(f"{devhost.url}/api/ui/{path}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (ROOT / "agentstream" / "web" / (path or "index.html")).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    again = requests.get(
        f"{devhost.url}/api/ui/{path}", headers={"If-None-Match": response.headers["etag"]}, timeout=10
    )
    assert again.status_code == 304 and again.content == b""


def test_the_page_forbids_inline_script_and_foreign_origins(devhost: Devhost) -> None:
    policy = requests.get(f"{devhost.url}/api/ui/", timeout=10).headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "default-src 'none'" in policy


@pytest.mark.parametrize("path", ["nope.js", "..%2Ffunction_app.py", "%2e%2e/requirements.txt", "sub//x.js", "README"])
def test_anything_else_is_a_json_404(devhost: Devhost, path: str) -> None:
    response = requests.get(f"{devhost.url}/api/ui/{path}", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_root_and_the_bare_folder_lead_to_the_page(devhost: Devhost) -> None:
    for path in ("/", "/api/ui"):
        response = requests.get(devhost.url + path, allow_redirects=False, timeout=10)
        assert response.status_code in (307, 308) and response.headers["location"].endswith("/api/ui/")
    assert requests.get(devhost.url + "/", timeout=10).url == f"{devhost.url}/api/ui/"


def test_a_symlink_in_the_folder_pointing_outside_it_is_a_404(tmp_path: Path) -> None:
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("<p>page</p>")
    (tmp_path / "secret.txt").write_text("outside the web folder")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "sub").symlink_to(tmp_path)
    (root / "inside.txt").write_text("inside")
    (root / "alias.txt").symlink_to(root / "inside.txt")

    assert static_file(_request("/api/ui/index.html"), root, "index.html").status_code == 200
    assert static_file(_request("/api/ui/alias.txt"), root, "alias.txt").body == b"inside"
    for path in ("leak.txt", "sub/secret.txt"):
        with pytest.raises(NotFound):
            static_file(_request(f"/api/ui/{path}"), root, path)


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []})
