"""Serving the chat page's files: a fixed folder, known content types, nothing outside it."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..exceptions import NotFound

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
# The page loads only its own files and talks only to its own origin; model output is never HTML.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def static_file(request: Request, root: Path, path: str) -> Response:
    """The file at `path` under `root`: `index.html` for the folder itself, 404 for anything else."""
    if not path and not request.url.path.endswith("/"):
        # Relative URLs in index.html resolve against the folder, so the folder URL ends with "/".
        return RedirectResponse(request.url.path + "/", status_code=308)
    relative = PurePosixPath(path or "index.html")
    if relative.is_absolute() or any(part in ("", ".", "..") or "\\" in part for part in relative.parts):
        raise NotFound(f"No file '{path[:100]}' here.")
    file = root.joinpath(*relative.parts)
    content_type = CONTENT_TYPES.get(file.suffix.lower())
    # A symlink may point anywhere: serve only what resolves to a file inside the folder.
    if content_type is None or not file.is_file() or not file.resolve().is_relative_to(root.resolve()):
        raise NotFound(f"No file '{path[:100]}' here.")
    content = file.read_bytes()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        # Revalidate every time: a deploy must reach browsers at once, and an unchanged file costs a 304.
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["Referrer-Policy"] = "no-referrer"
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=content_type, headers=headers)
