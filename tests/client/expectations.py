"""What the sync and the async client must both show: the same runs, checked the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentstream_client import Backoff, ClientTool, RunResult, StreamEvent
from tests.checks import assistant_texts
from tests.client.servers import CuttingProxy
from tests.harness import Devhost

FAST = Backoff(initial=0.01, maximum=0.05, max_attempts=5)
CUT_RUN_MESSAGE = "What is the weather in Paris, and what time is it?"
TOOLS_MESSAGE = "Please pick_colour and confirm_booking."


def proxy_mark(cutting: CuttingProxy) -> tuple[int, int]:
    """Where the proxy stands before a run: its cuts and stream requests so far."""
    return cutting.cuts, len(cutting.stream_requests)


def check_cut_run(
    devhost: Devhost,
    cutting: CuttingProxy,
    mark: tuple[int, int],
    run: Any,
    events: list[StreamEvent],
    result: RunResult,
) -> None:
    """A run read through the cutting proxy since `mark` gave exactly the uninterrupted run, and its result."""
    cuts_before, since = mark
    direct = devhost.stream(f"/api/agent/stream/{run.thread_id}")
    assert [(e.id, e.body) for e in events] == [(e.id, e.body) for e in direct]
    assert events[-1].type == "RUN_FINISHED"
    assert cutting.cuts - cuts_before >= len(events) // 4 - 1
    assert run.stream.connections >= len(events) // 4
    resumed_from = [int(h["Last-Event-ID"]) for h in cutting.stream_requests[since:] if "Last-Event-ID" in h]
    assert resumed_from == sorted(resumed_from) and len(set(resumed_from)) == len(resumed_from)

    status = devhost.status(run.thread_id)
    assert result.ok and result.outcome == "success" and result.error is None
    assert result.text == "\n".join(t.strip() for t in assistant_texts(status["messages"]).values())
    assert result.messages == status["messages"]
    [usage] = status["runs"][0]["usage"]
    assert result.usage == usage and result.usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert run.first_token_at is not None


def colour_and_booking(pick_colour: Callable[[dict[str, Any]], Any]) -> list[ClientTool]:
    """The client tools of `TOOLS_MESSAGE`: `pick_colour` answers, `confirm_booking` raises."""

    def confirm_booking(arguments: dict[str, Any]) -> str:
        raise PermissionError("the user said no")

    colour = ClientTool(
        name="pick_colour",
        description="Let the user pick a colour.",
        parameters={
            "type": "object",
            "properties": {"palette": {"type": "string", "enum": ["warm", "cold"]}},
            "required": ["palette"],
        },
        handler=pick_colour,
    )
    return [colour, ClientTool(name="confirm_booking", description="Ask the user to confirm.", handler=confirm_booking)]


def check_tool_answers(run: Any, result: RunResult, asked: list[dict[str, Any]]) -> None:
    """Both tools of `colour_and_booking` were answered once, through the proxy's cuts, and the run used the answers."""
    assert asked == [{"palette": "warm"}]
    assert result.ok and run.stream.connections > 1
    contents = {r.body["toolCallId"]: r.body["content"] for r in run.events if r.type == "TOOL_CALL_RESULT"}
    calls = {e.body["toolCallName"]: e.body["toolCallId"] for e in run.events if e.type == "TOOL_CALL_START"}
    assert contents == {
        calls["pick_colour"]: '{"colour": "teal", "palette": "warm"}',
        calls["confirm_booking"]: "Error: PermissionError: the user said no",
    }
    assert [a["toolCallId"] for a in run.tool_answers] == [calls["pick_colour"], calls["confirm_booking"]]
    tool_messages = [m for m in result.messages if m["role"] == "tool"]
    assert [m.get("error") for m in tool_messages] == [None, "PermissionError: the user said no"]
    assert result.text.endswith(
        'Here is what I found: {"colour": "teal", "palette": "warm"}; Error: PermissionError: the user said no.'
    )
