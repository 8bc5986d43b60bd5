"""The stream as plain text (`Accept: text/plain`): the assistant's words only, for `curl -N`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from ..log.events import Envelope


async def plain_text_chunks(batches: AsyncIterator[list[Envelope]]) -> AsyncIterator[str]:
    user_messages: set[str] = set()
    wrote_text = False
    async for batch in batches:
        out: list[str] = []
        for envelope in batch:
            if envelope.type == "TEXT_MESSAGE_START":
                body = envelope.body()
                if body.get("role") == "user":
                    user_messages.add(body["messageId"])
                elif wrote_text:
                    out.append("\n")  # each assistant message on its own line
            elif envelope.type == "TEXT_MESSAGE_CONTENT":
                body = envelope.body()
                if body["messageId"] not in user_messages:
                    out.append(body["delta"])
                    wrote_text = True
            elif envelope.type == "RUN_FINISHED":
                out.append("\n")
                # A run that stops for a person says what it waits for, and how to answer.
                outcome = envelope.body().get("outcome") or {}
                for interrupt in outcome.get("interrupts", []) if outcome.get("type") == "interrupt" else []:
                    out.append(
                        f"[waiting for approval: {interrupt.get('message', '')} (interrupt {interrupt['id']})]\n"
                    )
            elif envelope.type == "RUN_ERROR":
                body = envelope.body()
                out.append(f"\n[run failed: {body.get('code', 'error')}: {json.dumps(body['message'])[1:-1]}]\n")
        if out:
            yield "".join(out)
