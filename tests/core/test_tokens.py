"""Stream tokens: bound to one thread, expiring, and useless without the secret."""

from __future__ import annotations

import pytest

from agentstream.exceptions import Forbidden, Unauthorized
from agentstream.tokens import issue_stream_token, verify_stream_token

SECRET = "s" * 40
NOW = 1_800_000_000.0


def test_a_token_opens_its_own_thread_until_it_expires() -> None:
    token = issue_stream_token(SECRET, "thread-1", 60, now=NOW)
    verify_stream_token(SECRET, token, "thread-1", now=NOW + 59)
    with pytest.raises(Unauthorized) as expired:
        verify_stream_token(SECRET, token, "thread-1", now=NOW + 60)
    assert expired.value.code == "token_expired" and expired.value.headers == {"WWW-Authenticate": "Bearer"}


def test_a_valid_token_for_another_thread_is_forbidden_not_unauthorized() -> None:
    token = issue_stream_token(SECRET, "thread-1", 60, now=NOW)
    with pytest.raises(Forbidden) as refused:
        verify_stream_token(SECRET, token, "thread-2", now=NOW)
    assert refused.value.status_code == 403 and refused.value.code == "token_thread_mismatch"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: issue_stream_token("x" * 40, "thread-1", 60, now=NOW),  # another secret
        lambda t: t.replace("thread-1", "thread-2"),  # re-pointed at another thread
        lambda t: t.replace(str(int(NOW + 60)), str(int(NOW + 6000))),  # expiry pushed out
        lambda t: t.rsplit(".", 1)[0] + ".",  # signature dropped
        lambda t: "st2" + t[3:],  # unknown version
        lambda t: t + "é",  # not ASCII
        lambda t: "garbage",
        lambda t: "",
    ],
)
def test_a_tampered_or_foreign_token_is_unauthorized(forge) -> None:
    token = issue_stream_token(SECRET, "thread-1", 60, now=NOW)
    with pytest.raises(Unauthorized) as refused:
        verify_stream_token(SECRET, forge(token), "thread-1", now=NOW)
    assert refused.value.status_code == 401 and refused.value.code == "invalid_token"
