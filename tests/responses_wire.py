"""The Responses API's streaming wire format, for the local OpenAI server (`tests/openai_server.py`).

Each event is `event: <type>` and `data: {json}` with a `sequence_number` counting from 0, in the
order the API sends them: `response.created`, `response.in_progress`, then per output item
`response.output_item.added`, its parts and deltas (reasoning summary parts and text, message
content parts and text, function call arguments), `response.output_item.done`, and last
`response.completed` with usage (or `response.incomplete`, `response.failed`, or an `error` event).

Encrypted reasoning is an opaque token the server issues when the request includes
`reasoning.encrypted_content`; `issued` remembers each one, so the server can refuse an input
reasoning item it did not issue, as the real API refuses what it cannot decrypt.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.openai_server import Reply

CREATED = 1_763_800_000
_WORDS = re.compile(r"\S+\s*")


def responses_events(reply: Reply, body: dict[str, Any], issued: dict[str, str]) -> list[tuple[str, str]]:
    """(event type, data JSON) of one streamed response."""
    model = body.get("model", "gpt-test")
    response_id = f"resp_{secrets.token_hex(8)}"
    events: list[dict[str, Any]] = []
    output: list[dict[str, Any]] = []
    deltas = 0

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    def response(status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": body.get("max_output_tokens"),
            "model": model,
            "output": list(output),
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": body.get("tools", []),
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "metadata": {},
            **fields,
        }

    emit("response.created", response=response("in_progress"))
    emit("response.in_progress", response=response("in_progress"))
    if reply.error_event is not None:
        emit("error", code=reply.error_event, message=f"Scripted {reply.error_event}", param=None)
        return _frames(events)

    parts = reply.summary_parts or ([reply.reasoning] if reply.reasoning else [])
    if parts or reply.encrypted:
        index = len(output)
        item: dict[str, Any] = {"id": f"rs_{secrets.token_hex(8)}", "type": "reasoning", "summary": []}
        emit("response.output_item.added", output_index=index, item=item)
        for summary_index, part in enumerate(parts):
            ids = {"item_id": item["id"], "output_index": index, "summary_index": summary_index}
            emit("response.reasoning_summary_part.added", **ids, part={"type": "summary_text", "text": ""})
            for word in _WORDS.findall(part):
                emit("response.reasoning_summary_text.delta", **ids, delta=word, obfuscation="x")
                deltas += 1
            emit("response.reasoning_summary_text.done", **ids, text=part)
            emit("response.reasoning_summary_part.done", **ids, part={"type": "summary_text", "text": part})
        done: dict[str, Any] = {**item, "summary": [{"type": "summary_text", "text": part} for part in parts]}
        if "reasoning.encrypted_content" in (body.get("include") or []):
            done["encrypted_content"] = token = f"enc_{secrets.token_urlsafe(24)}"
            issued[token] = item["id"]
        emit("response.output_item.done", output_index=index, item=done)
        output.append(done)

    if reply.text or reply.refusal:
        index = len(output)
        item = {"id": f"msg_{secrets.token_hex(8)}", "type": "message", "status": "in_progress", "content": []}
        item["role"] = "assistant"
        emit("response.output_item.added", output_index=index, item=item)
        ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
        if reply.refusal:
            emit("response.content_part.added", **ids, part={"type": "refusal", "refusal": ""})
            emit("response.refusal.delta", **ids, delta=reply.refusal)
            emit("response.refusal.done", **ids, refusal=reply.refusal)
            content = {"type": "refusal", "refusal": reply.refusal}
        else:
            empty: dict[str, Any] = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            emit("response.content_part.added", **ids, part=empty)
            for word in _WORDS.findall(reply.text):
                emit("response.output_text.delta", **ids, delta=word, logprobs=[], obfuscation="x")
                deltas += 1
            emit("response.output_text.done", **ids, text=reply.text, logprobs=[])
            content = {**empty, "text": reply.text}
        emit("response.content_part.done", **ids, part=content)
        done = {**item, "status": "completed", "content": [content]}
        emit("response.output_item.done", output_index=index, item=done)
        output.append(done)

    for position, (name, arguments) in enumerate(reply.tool_calls):
        index = len(output)
        call_id = reply.call_ids[position] if reply.call_ids is not None else f"call_{secrets.token_hex(8)}"
        item = {"id": f"fc_{secrets.token_hex(8)}", "type": "function_call", "status": "in_progress"}
        item |= {"arguments": "", "call_id": call_id, "name": name}
        emit("response.output_item.added", output_index=index, item=item)
        # Split mid-token, as the API does: pieces of 7 characters.
        for offset in range(0, len(arguments), 7):
            piece = arguments[offset : offset + 7]
            emit("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece)
            deltas += 1
        emit("response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=arguments)
        done = {**item, "status": "completed", "arguments": arguments}
        emit("response.output_item.done", output_index=index, item=done)
        output.append(done)

    if reply.failed_code is not None:
        error = {"code": reply.failed_code, "message": f"Scripted {reply.failed_code}"}
        emit("response.failed", response=response("failed", error=error))
        return _frames(events)
    completion = reply.completion_tokens if reply.completion_tokens is not None else deltas
    usage = {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.prompt_tokens + completion,
    }
    if reply.incomplete_reason is not None:
        details = {"reason": reply.incomplete_reason}
        emit("response.incomplete", response=response("incomplete", incomplete_details=details, usage=usage))
    else:
        emit("response.completed", response=response("completed", usage=usage))
    return _frames(events)


def input_problem(body: dict[str, Any], issued: dict[str, str]) -> tuple[int, str] | None:
    """What the real API would refuse in a request's input: (status, message), or None."""
    for item in body.get("input") or []:
        if item.get("type") != "reasoning":
            continue
        token = item.get("encrypted_content")
        if token is None and body.get("store") is False:
            return 404, (
                f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set to false."
            )
        if token is not None and issued.get(token) != item.get("id"):
            return 400, "Could not decrypt the provided encrypted_content."
    text_format = (body.get("text") or {}).get("format")
    if text_format is not None and text_format.get("type") == "json_schema" and text_format.get("strict"):
        if problem := strict_schema_problem(text_format.get("schema") or {}):
            return 400, f"Invalid schema for response_format '{text_format.get('name')}': {problem}"
    return None


def strict_schema_problem(schema: dict[str, Any], path: str = "root") -> str | None:
    """The first rule of strict structured outputs a schema breaks, as the API words them."""
    if "$ref" in schema and len(schema) > 1:
        return f"context=({path}), $ref cannot have keywords {sorted(set(schema) - {'$ref'})}."
    properties = schema.get("properties")
    if properties is not None:
        if schema.get("additionalProperties") is not False:
            return f"In context=({path}), 'additionalProperties' is required to be supplied and to be false."
        if sorted(schema.get("required") or []) != sorted(properties):
            return f"In context=({path}), 'required' is required to be supplied and to include every property."
    children: list[tuple[str, dict[str, Any]]] = [(f"{path}.{n}", s) for n, s in (properties or {}).items()]
    children += [(f"{path}.$defs.{n}", s) for n, s in (schema.get("$defs") or {}).items()]
    children += [(f"{path}.anyOf.{i}", s) for i, s in enumerate(schema.get("anyOf") or [])]
    if isinstance(schema.get("items"), dict):
        children.append((f"{path}.items", schema["items"]))
    for child_path, child in children:
        if problem := strict_schema_problem(child, child_path):
            return problem
    return None


def _frames(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["type"], json.dumps(event, separators=(",", ":"))) for event in events]
