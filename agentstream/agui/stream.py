"""A run of the thread's log as an AG-UI event stream, for clients that speak AG-UI only.

Three shapes, each a complete AG-UI run as clients verify it (RUN_STARTED first, every delta
inside its START/END, one terminal event last):

- `run_frames`: a run this request started. The log's echo of the client's own input messages
  is left out (the client holds them already; re-sending them would double them in its list).
- `join_frames`: a run already under way ("hydration"). RUN_STARTED, a MESSAGES_SNAPSHOT of
  everything finished so far, START events (with the content so far) for the message and tool
  call still streaming, then the live tail to the run's end.
- `replay_frames`: an idle thread. RUN_STARTED, MESSAGES_SNAPSHOT, RUN_FINISHED: the client gets
  the conversation and nothing runs.

Frames are `data: <json>\\n\\n` with LF only and no `id:` lines: AG-UI has no resume cursor, and
the snapshot and re-opened events are made up for this reader, so they have no place in the log.
A discarded step attempt is followed by a MESSAGES_SNAPSHOT without it, because AG-UI clients
cannot take back text they applied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Container, Iterable
from typing import Any

from ag_ui.core import RunFinishedEvent, RunFinishedInterruptOutcome, RunFinishedSuccessOutcome, RunStartedEvent

from ..agent import state
from ..config import get_settings
from ..log.events import STEP_DISCARDED, Envelope, NewEvent
from ..log.reader import ReadOptions, read_thread
from ..log.sse import comment_frame, data_frame
from ..log.stores.base import EventStore
from ..log.tail import TailHub
from .conversation import Conversation
from .messages import pending_tool_calls

PROTOCOL_VERSION = "1.0"


class RunProjection:
    """Turns a run's envelopes into AG-UI frames, keeping the conversation a client would hold."""

    def __init__(
        self,
        thread_id: str,
        conversation: Conversation,
        *,
        echoed: Iterable[dict[str, Any]] = (),
        snapshot_first: bool = False,
    ) -> None:
        """`echoed`: the client's messages this run was started with, whose events are left out.
        `snapshot_first`: a MESSAGES_SNAPSHOT follows RUN_STARTED, for a run that continues tool
        calls an earlier run made (a resumed one), so its results tie to calls the stream showed."""
        self.thread_id = thread_id
        self.conversation = conversation
        self.snapshot_first = snapshot_first
        self.ended = False
        self._echoed = set()
        for message in echoed:
            self._echoed.add(message["id"])
            self._echoed.update(call["id"] for call in message.get("toolCalls") or ())

    def frames(self, envelopes: list[Envelope]) -> str:
        out: list[str] = []
        for envelope in envelopes:
            out += [data_frame(event.data) for event in self.events(envelope)]
        return "".join(out)

    def events(self, envelope: Envelope) -> list[NewEvent]:
        if envelope.type == "RUN_STARTED":
            started = run_started(self.thread_id, envelope.run_id)
            return [started, self.conversation.snapshot()] if self.snapshot_first else [started]
        body = envelope.body()
        if _echo_key(body) in self._echoed:
            return []
        self.conversation.apply(body)
        event = NewEvent(envelope.type, envelope.data)
        if envelope.is_terminal:
            self.ended = True
        if envelope.type == "CUSTOM" and body.get("name") == STEP_DISCARDED:
            return [event, self.conversation.snapshot()]
        return [event]


def run_started(thread_id: str, run_id: str) -> NewEvent:
    return NewEvent.of(RunStartedEvent(thread_id=thread_id, run_id=run_id, protocol_version=PROTOCOL_VERSION))


def _echo_key(body: dict[str, Any]) -> str | None:
    """The id that ties an event to an input message: its own, or its tool call's."""
    kind = body["type"]
    if kind.startswith("TEXT_MESSAGE_") or kind == "TOOL_CALL_RESULT":
        return body.get("messageId")
    if kind in ("TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END"):
        return body.get("toolCallId")
    return None


async def run_frames(hub: TailHub, projection: RunProjection, run_id: str, after: int) -> AsyncIterator[str]:
    """The run from `after` (exclusive) to its end, or to the planned close of the response."""
    async for batch in read_thread(hub, projection.thread_id, _options(after, run_id)):
        yield projection.frames(batch) if batch else comment_frame("ping")


async def read_run(store: EventStore, thread_id: str, run_id: str, start_seq: int) -> tuple[list[Envelope], int]:
    """The run's events committed so far, and the thread's last seq read."""
    backlog: list[Envelope] = []
    cursor = start_seq - 1
    while batch := await store.read(thread_id, after=cursor, limit=1000):
        backlog += [e for e in batch if e.run_id == run_id]
        cursor = batch[-1].seq
    return backlog, cursor


def mentioned_messages(envelopes: list[Envelope]) -> set[str]:
    """Ids of the messages these events start, add to or attach tool calls to."""
    ids: set[str] = set()
    for envelope in envelopes:
        body = envelope.body()
        ids.update(body[key] for key in ("messageId", "parentMessageId") if key in body)
    return ids


async def join_frames(hub: TailHub, thread_id: str, run_id: str, start_seq: int) -> AsyncIterator[str]:
    """Join a run under way: a valid run opening that brings the client up to date, then the tail."""
    conversation_before = await hub.store.get_messages(thread_id)
    backlog, cursor = await read_run(hub.store, thread_id, run_id, start_seq)
    # Messages this run added are rebuilt from its events, in order, with whatever is still open.
    mentioned = mentioned_messages(backlog)
    conversation = Conversation([m for m in conversation_before if m["id"] not in mentioned])
    projection = RunProjection(thread_id, conversation)
    terminal: list[NewEvent] = []
    for envelope in backlog:
        if envelope.type == "RUN_STARTED":
            continue
        events = projection.events(envelope)
        if envelope.is_terminal:
            terminal = events
    current = state.fold(e.body() for e in backlog if e.type in state.STATE_EVENTS)
    shared = [state.snapshot_event(current)] if current is not None else []
    prelude = [run_started(thread_id, run_id), conversation.snapshot(), *shared, *conversation.reopen(), *terminal]
    yield "".join(data_frame(event.data) for event in prelude)
    if not projection.ended:
        async for frames in run_frames(hub, projection, run_id, cursor):
            yield frames


def replay_frames(
    thread_id: str,
    run_id: str,
    messages: list[dict[str, Any]],
    server_tools: Container[str],
    interrupts: list[dict[str, Any]] | None = None,
    shared_state: state.State | None = None,
) -> Iterable[str]:
    """An idle thread as one complete run that changes nothing: its conversation, and what it waits
    for: the interrupts a person must answer, or else the client-side tool calls still waiting
    for the client's answer."""
    pending = pending_tool_calls(messages, server_tools)
    outcome: RunFinishedSuccessOutcome | RunFinishedInterruptOutcome | None = None
    if interrupts:
        outcome = RunFinishedInterruptOutcome.model_validate({"type": "interrupt", "interrupts": interrupts})
    elif pending:
        outcome = RunFinishedSuccessOutcome(pending_tool_call_ids=pending)
    events = [
        run_started(thread_id, run_id),
        Conversation(messages).snapshot(),
        *([state.snapshot_event(shared_state)] if shared_state is not None else []),
        NewEvent.of(RunFinishedEvent(thread_id=thread_id, run_id=run_id, outcome=outcome)),
    ]
    return [data_frame(event.data) for event in events]


def _options(after: int, run_id: str) -> ReadOptions:
    settings = get_settings()
    return ReadOptions(
        after=after,
        run_id=run_id,
        max_seconds=settings.stream_max_seconds,
        heartbeat=settings.stream_heartbeat_seconds,
    )
