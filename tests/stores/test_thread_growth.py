"""Invariant 11: a thread's stored bytes and full-replay bytes grow linearly with its turns.

Every run ends with a MESSAGES_SNAPSHOT of the whole conversation; the log stores it as a
reference and each reader expands it (agentstream.log.snapshots). A thread of 200 turns is built
through the store API and the real run ending (`steps.finish_run`), and its bytes at 200 turns
are held to at most 2.2 times those at 100, while a reader watching the last run live, a reader
resuming into it and a replay from the start each end with the full snapshot.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ag_ui.core import RunStartedEvent, TextMessageContentEvent, TextMessageEndEvent, TextMessageStartEvent

from agentstream.agent.steps import StepContext, finish_run
from agentstream.log.events import Envelope, NewEvent
from agentstream.log.reader import ReadOptions, read_thread
from agentstream.log.snapshots import COMPACT_SNAPSHOT
from agentstream.log.sse import envelope_frames
from agentstream.log.stores import EventStore
from agentstream.log.tail import TailHub
from tests.stores.backends import Backend

TURNS = 200
GROWTH_LIMIT = 2.2
WORDS = 12


async def start_turn(store: EventStore, n: int, *, create: bool | None = None) -> str:
    """Run `n` of the thread started, with its user message in the log and the conversation."""
    run_id = f"run-{n:03d}"
    user = {"id": f"user-{n:03d}", "role": "user", "content": f"Question {n}: what happens next in the story?"}
    events = [
        NewEvent.of(RunStartedEvent(thread_id="t", run_id=run_id)),
        NewEvent.of(TextMessageStartEvent(message_id=user["id"], role="user")),
        NewEvent.of(TextMessageContentEvent(message_id=user["id"], delta=user["content"])),
        NewEvent.of(TextMessageEndEvent(message_id=user["id"])),
    ]
    await store.start_run("t", run_id, events, [user], create=n == 1 if create is None else create, agent="default")
    return run_id


async def end_turn(store: EventStore, n: int, run_id: str) -> None:
    """The model's answer committed as one step, then the run's real ending (snapshot and RUN_FINISHED)."""
    answer_id = f"{run_id}.m0"
    words = [f"word{i}-of-answer-{n} " for i in range(WORDS)]
    events = [
        NewEvent.of(TextMessageStartEvent(message_id=answer_id, role="assistant")),
        *(NewEvent.of(TextMessageContentEvent(message_id=answer_id, delta=w)) for w in words),
        NewEvent.of(TextMessageEndEvent(message_id=answer_id)),
    ]
    answer = {"id": answer_id, "role": "assistant", "content": "".join(words)}
    await store.commit_step("t", run_id, answer_id, result={"toolCalls": []}, events=events, messages=[answer])
    await finish_run(StepContext(store, "t", run_id))


async def read_all(
    hub: TailHub,
    *,
    after: int,
    follow: bool = False,
    until_run: str | None = None,
    started: asyncio.Event | None = None,
) -> list[Envelope]:
    """What a reader gets from `after`: to the end of the thread, or (following) to `until_run`'s end."""
    got: list[Envelope] = []
    options = ReadOptions(after=after, follow=follow, max_seconds=60, heartbeat=30)
    async for batch in read_thread(hub, "t", options):
        got += batch
        if started is not None:
            started.set()
        if until_run is not None and any(e.run_id == until_run and e.is_terminal for e in batch):
            break
    return got


def wire_bytes(envelopes: list[Envelope]) -> int:
    return sum(len(chunk) for chunk in envelope_frames(envelopes))


def snapshots(envelopes: list[Envelope]) -> list[tuple[str, dict[str, Any]]]:
    """The run-closing snapshots a reader got, full (MESSAGES_SNAPSHOT) or compact (CUSTOM)."""
    found = []
    for envelope in envelopes:
        body = envelope.body()
        if envelope.type == "MESSAGES_SNAPSHOT" or body.get("name") == COMPACT_SNAPSHOT:
            found.append((envelope.type, body))
    return found


def test_a_thread_of_200_turns_stores_and_replays_in_linear_bytes(backend: Backend) -> None:
    env = backend.new_env()
    sizes: dict[int, tuple[int, int]] = {}

    async def main() -> None:
        store = backend.open_store(env)
        hub = TailHub(store)
        try:
            async with asyncio.timeout(300):
                for n in range(1, TURNS - 1):
                    await end_turn(store, n, await start_turn(store, n))
                    if n == TURNS // 2:
                        sizes[n] = (backend.stored_bytes(env), wire_bytes(await read_all(hub, after=0)))
                head = await store.head("t")
                assert head is not None
                # A reader following the thread from here: it watches the last two runs as they happen.
                last = f"run-{TURNS:03d}"
                follower = asyncio.create_task(read_all(hub, after=head.last_seq, follow=True, until_run=last))
                await end_turn(store, TURNS - 1, await start_turn(store, TURNS - 1))
                await last_turn(store, hub, follower)
                replay = await read_all(hub, after=0)
                sizes[TURNS] = (backend.stored_bytes(env), wire_bytes(replay))
                if backend.name == "table":
                    # Every row fits in itself: no payload needed chunk rows beyond an entity's limits.
                    assert "events:c" not in backend.snapshot(env)
                await check_replay(store, replay)
        finally:
            await store.close()

    async def last_turn(store: EventStore, hub: TailHub, follower: asyncio.Task[list[Envelope]]) -> None:
        run_id = await start_turn(store, TURNS)
        run = await store.get_run("t", run_id)
        assert run is not None
        # A reader of the last run from its start, watching it as it goes.
        started = asyncio.Event()
        live = asyncio.create_task(read_all(hub, after=run.start_seq - 1, started=started))
        await started.wait()
        await end_turn(store, TURNS, run_id)
        conversation = await store.get_messages("t")
        assert len(conversation) == 2 * TURNS
        watched = await follower
        assert [kind for kind, _ in snapshots(watched)] == ["MESSAGES_SNAPSHOT", "MESSAGES_SNAPSHOT"]
        assert snapshots(watched)[0][1]["messages"] == conversation[:-2]
        for reader in (await live, watched):
            assert [e.seq for e in reader] == list(range(reader[0].seq, reader[-1].seq + 1))
            assert [e.type for e in reader[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_FINISHED"]
            assert reader[-2].body()["messages"] == conversation
        # A reader resuming inside the last run (after its RUN_STARTED) gets the same full snapshot.
        resumed = await read_all(hub, after=run.start_seq)
        assert resumed[0].seq == run.start_seq + 1
        assert [e.type for e in resumed[-2:]] == ["MESSAGES_SNAPSHOT", "RUN_FINISHED"]
        assert resumed[-2].body()["messages"] == conversation

    async def check_replay(store: EventStore, replay: list[Envelope]) -> None:
        head = await store.head("t")
        assert head is not None
        assert [e.seq for e in replay] == list(range(1, head.last_seq + 1))
        conversation = await store.get_messages("t")
        found = snapshots(replay)
        assert len(found) == TURNS
        # The first and the last are whole; those between carry each run's own messages once.
        assert [kind for kind, _ in found] == ["MESSAGES_SNAPSHOT"] + ["CUSTOM"] * (TURNS - 2) + ["MESSAGES_SNAPSHOT"]
        assert found[0][1]["messages"] == conversation[:2]
        rebuilt = found[0][1]["messages"] + [m for _, body in found[1:-1] for m in body["value"]["messages"]]
        assert rebuilt == conversation[: 2 * (TURNS - 1)]
        assert found[-1][1]["messages"] == conversation

    asyncio.run(main())
    (stored_100, replay_100), (stored_200, replay_200) = sizes[TURNS // 2], sizes[TURNS]
    print(
        f"\n{backend.name}: stored {stored_100} -> {stored_200} bytes ({stored_200 / stored_100:.2f}x), "
        f"full replay {replay_100} -> {replay_200} bytes ({replay_200 / replay_100:.2f}x)"
    )
    assert stored_200 <= GROWTH_LIMIT * stored_100, (stored_100, stored_200)
    assert replay_200 <= GROWTH_LIMIT * replay_100, (replay_100, replay_200)


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_snapshots_outlive_retention_trimming_and_go_with_the_purge(backend: Backend) -> None:
    clock = FakeClock()
    env = backend.new_env()

    async def main() -> None:
        store = backend.open_store(env, retention=60, clock=clock)
        hub = TailHub(store)
        try:
            async with asyncio.timeout(60):
                for n in (1, 2, 3):
                    await end_turn(store, n, await start_turn(store, n))
                before = snapshots(await read_all(hub, after=0))
                assert before[0][1]["messages"][0]["id"] == "user-001"
                clock.now += 100  # turns 1-3 are past retention: the next write trims their events
                await end_turn(store, 4, await start_turn(store, 4))
                head = await store.head("t")
                assert head is not None and head.floor > 0
                # The messages are no events: a reader from the floor still gets the whole conversation.
                [(kind, body)] = snapshots(await read_all(hub, after=head.floor))
                assert kind == "MESSAGES_SNAPSHOT"
                assert [m["id"] for m in body["messages"]] == [
                    f"{role}-{n:03d}" if role == "user" else f"run-{n:03d}.m0"
                    for n in (1, 2, 3, 4)
                    for role in ("user", "run")
                ]
                clock.now += 100
                assert [p.thread_id for p in await store.purge_idle_threads(clock.now - 50)] == ["t"]
                assert await store.message_count("t") == 0
                # The same thread id starts over at seq 1: its snapshots are its own, not the purged one's.
                await end_turn(store, 7, await start_turn(store, 7, create=True))
                [(kind, body)] = snapshots(await read_all(hub, after=0))
                assert kind == "MESSAGES_SNAPSHOT"
                assert [m["id"] for m in body["messages"]] == ["user-007", "run-007.m0"]
        finally:
            await store.close()

    asyncio.run(main())
