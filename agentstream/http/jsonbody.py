"""Parsing a JSON request body into something every later step can handle.

`json.loads` accepts more than the rest of the app can take: a lone surrogate (`"\\ud800"`) parses
into a str that cannot be encoded as UTF-8 (so the store and the response writer fail on it), and
deep nesting makes every recursive step after parsing (validation, serialization) hit Python's
recursion limit. Both are refused here, as 400s, before anything looks at the content.
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import InvalidRequest

MAX_JSON_DEPTH = 64


def parse_json_object(body: bytes, *, what: str = "a JSON object") -> dict[str, Any]:
    """The body as a JSON object, or InvalidRequest: not UTF-8, not JSON, too deep, a lone surrogate, not an object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.", code="invalid_body") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.", code="invalid_json"
        ) from None
    except RecursionError:
        raise _too_deep() from None
    _check_json_value(data)
    if not isinstance(data, dict):
        raise InvalidRequest(f"The request body must be {what}.", code="invalid_body")
    return data


def _check_json_value(value: Any) -> None:
    # Iterative, so that checking a deep value cannot itself run out of stack.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_string(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


def _check_string(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            "The request body has a lone UTF-16 surrogate escape (e.g. \\ud800) in a string: "
            "surrogates must come in pairs.",
            code="invalid_json",
        ) from None


def _too_deep() -> InvalidRequest:
    return InvalidRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", code="invalid_json")
