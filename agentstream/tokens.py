"""Stream tokens: short-lived credentials for reading one thread, signed with the app's secret.

A token is `st1.<thread_id>.<expires_at>.<signature>`: the version, the thread it is bound to, its
expiry in Unix seconds, and HMAC-SHA256 over the first three parts (base64url, no padding). It
names its thread in the clear so a valid token for another thread can be told apart (403) from a
forged one (401). Thread ids never contain a dot, so the parts split unambiguously.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from .exceptions import Forbidden, Unauthorized

VERSION = "st1"


def issue_stream_token(secret: str, thread_id: str, ttl_seconds: float, *, now: float | None = None) -> str:
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    claims = f"{VERSION}.{thread_id}.{expires_at}"
    return f"{claims}.{_sign(secret, claims)}"


def verify_stream_token(secret: str, token: str, thread_id: str, *, now: float | None = None) -> None:
    """Return if `token` lets its bearer read `thread_id`; raise Unauthorized or Forbidden otherwise."""
    claims, _, signature = token.rpartition(".")
    parts = claims.split(".")
    if (
        not token.isascii()
        or len(parts) != 3
        or parts[0] != VERSION
        or not hmac.compare_digest(_sign(secret, claims), signature)
    ):
        raise Unauthorized("The stream token is not valid.", code="invalid_token")
    _, token_thread, expires_at = parts
    if not expires_at.isdigit() or int(expires_at) <= (time.time() if now is None else now):
        raise Unauthorized("The stream token has expired. Get a new one from the start call.", code="token_expired")
    if not hmac.compare_digest(token_thread, thread_id):
        raise Forbidden("The stream token is for another thread.", code="token_thread_mismatch")


def _sign(secret: str, claims: str) -> str:
    digest = hmac.new(secret.encode(), claims.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
