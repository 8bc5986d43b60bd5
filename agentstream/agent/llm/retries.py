"""The retry rule of the OpenAI clients (Chat Completions and Responses), and how API errors map to codes.

Retries are ours, not the SDK's (clients are built with `max_retries=0`), so they follow one rule: a
call that failed before anything was streamed (429, honouring `retry-after`; 5xx; a timeout; a
refused connection) is tried again here with backoff. Once a chunk went out, a failure is raised
instead: the step closes and discards what it streamed and is redone as a whole. Errors that no
retry can fix (a content filter, a refusal, a request the API refuses) are final and end the run.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable

import httpx
import openai

from .base import Chunk, ModelError

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0

Sleep = Callable[[float], Awaitable[None]]


class StreamBroken(Exception):
    """The response stream ended before the model finished (a proxy closed it cleanly, say)."""


async def stream_with_retries(
    attempt: Callable[[], AsyncGenerator[Chunk, None]],
    *,
    attempts: int,
    sleep: Sleep,
    logger: logging.Logger,
) -> AsyncGenerator[Chunk, None]:
    """The chunks of `attempt()`, calling it again while it fails before its first chunk."""
    for number in range(1, attempts + 1):
        streamed = False
        try:
            async with contextlib.aclosing(attempt()) as chunks:
                async for chunk in chunks:
                    streamed = True
                    yield chunk
            return
        except openai.APIStatusError as exc:
            error, delay = status_error(exc), retry_after(exc)
        # The SDK wraps transport errors of the request, but (since openai 2) not those of reading the stream.
        except (openai.APITimeoutError, httpx.TimeoutException) as exc:
            error, delay = ModelError(f"The model did not answer in time: {exc}", code="model_timeout"), None
        except (openai.APIConnectionError, httpx.TransportError, StreamBroken) as exc:
            error, delay = ModelError(f"The model connection failed: {exc}", code="model_unavailable"), None
        except openai.APIError as exc:
            # An error the API sent inside a 200 stream.
            error, delay = stream_error(exc.code or _code_of(exc.body), exc.message), None
        except ModelError as exc:
            error, delay = exc, None
        if streamed or error.final or number == attempts:
            raise error
        wait = min(BACKOFF_SECONDS * 2 ** (number - 1), MAX_BACKOFF_SECONDS) if delay is None else delay
        logger.warning(
            "Model call failed before streaming (%s, attempt %d of %d); retrying in %.2f s: %s",
            error.code,
            number,
            attempts,
            wait,
            error,
        )
        await sleep(wait)


def status_error(exc: openai.APIStatusError) -> ModelError:
    detail = f"{exc.status_code} from the model API: {exc.message}"
    if exc.code == "content_filter" or _inner_code(exc.body) == "ResponsibleAIPolicyViolation":
        return ModelError(f"The request was refused by a content filter ({detail}).", code="content_filter", final=True)
    if exc.status_code == 429:
        return ModelError(f"Rate limited: {detail}", code="rate_limited")
    if exc.status_code >= 500 or exc.status_code in (408, 409):
        return ModelError(f"The model API failed: {detail}", code="model_unavailable")
    return ModelError(f"The model API refused the request: {detail}", final=True)


def stream_error(code: str | None, message: str) -> ModelError:
    """An error reported in the body of a stream (the Responses API's `error` and `response.failed`)."""
    detail = f"{code or 'error'} from the model API: {message}"
    if code == "rate_limit_exceeded":
        return ModelError(f"Rate limited: {detail}", code="rate_limited")
    if code == "server_error" or code is None:
        return ModelError(f"The model API failed: {detail}", code="model_unavailable")
    # The safety codes: content_filter, bio_policy, image_content_policy_violation.
    if code == "content_filter" or "policy" in code:
        return ModelError(f"The request was refused by a content filter ({detail}).", code="content_filter", final=True)
    return ModelError(f"The model API refused the request: {detail}", final=True)


def _code_of(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return str(body["code"])
    return None


def _inner_code(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("innererror")
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None


def retry_after(exc: openai.APIStatusError) -> float | None:
    """The wait the server asked for: `retry-after-ms`, then `retry-after` (seconds or an HTTP date)."""
    headers = exc.response.headers
    seconds: float | None = None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            seconds = float(ms) / 1000
        elif (value := headers.get("retry-after")) is not None:
            try:
                seconds = float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                seconds = when.timestamp() - time.time()
    except (ValueError, TypeError):
        return None
    if seconds is None:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
