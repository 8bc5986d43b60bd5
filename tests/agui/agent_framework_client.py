"""Streams one run from agentstream's AG-UI endpoint with Agent Framework's AGUIChatClient.

Runs in its own virtualenv (agent-framework-ag-ui pins an older ag-ui-protocol than agentstream):
    python agent_framework_client.py <endpoint> <thread id> <message>
Prints one JSON object: each streamed update's role and contents, in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from agent_framework.ag_ui import AGUIChatClient


def describe(content: Any) -> dict[str, Any]:
    described = {"type": content.type}
    for name in ("text", "call_id", "name", "arguments", "result", "message", "error_code"):
        value = getattr(content, name, None)
        if value is not None:
            described[name] = value if isinstance(value, str | int | float | bool) else str(value)
    return described


async def main(endpoint: str, thread_id: str, message: str) -> None:
    updates = []
    async with AGUIChatClient(endpoint=endpoint) as client:
        stream = client.get_response(message, stream=True, options={"metadata": {"thread_id": thread_id}})
        async for update in stream:
            updates.append({"role": str(update.role), "contents": [describe(c) for c in update.contents]})
    print(json.dumps({"updates": updates}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
