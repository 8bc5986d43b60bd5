"""Smoke test of a deployed agentstream app: the stream contract, end to end, against a real URL.

    python scripts/smoke.py https://<app>.azurewebsites.net --key <function key>

It starts a run and streams it, drops the connection and resumes (no gap, no duplicate), replays
the thread, cancels a second run, checks the stream token rules when the app issues tokens, and
waits for a stream's planned close (STREAM_MAX_SECONDS, before Azure's 230 s cut; skip it with
--skip-planned-close). It prints a table and exits 1 if any check failed.

Standard library only, so any Python 3.10 or later runs it, inside the app's virtualenv or not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

PROMPT = "Smoke test: count from 1 to 30, one number per line."
TERMINAL = {"RUN_FINISHED", "RUN_ERROR"}
# Azure's front ends end any HTTP response at 230 s; the app must end its streams before that.
AZURE_RESPONSE_LIMIT_SECONDS = 230.0
# Text deltas read (the user's message is one) before the connection is dropped mid-answer.
DELTAS_BEFORE_DROP = 3


class CheckFailed(Exception):
    """A check found the app doing something other than the contract says."""


class Skipped(Exception):
    """A check that does not apply to this deployment."""


@dataclass
class Event:
    id: int
    body: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.body.get("type"))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_code(self) -> str | None:
        try:
            return str(self.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        text = self.body.decode("utf-8", "replace").strip()
        return f"{self.status} {text[:200]}" if text else str(self.status)


@dataclass
class Stream:
    """An open SSE response, read frame by frame; `close()` drops the connection."""

    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse
    retry: int | None = None
    # When set (time.monotonic()), reading past it raises TimeoutError, heartbeats or not.
    deadline: float | None = None
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def events(self) -> Iterator[Event]:
        while True:
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the stream is still open")
                self.connection.sock.settimeout(left)
            raw = self.response.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\n")
            if line.endswith("\r"):
                raise CheckFailed("a frame line ends with CR; the stream must use LF only")
            if not line:
                if self._data:
                    if self._id is None:
                        raise CheckFailed("an event came without an id")
                    body = json.loads("\n".join(self._data))
                    yield Event(int(self._id), body)
                self._data, self._id = [], None
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    self._data.append(value)
                elif name == "id":
                    self._id = value
                elif name == "retry":
                    self.retry = int(value)

    def read_all(self) -> list[Event]:
        try:
            return list(self.events())
        finally:
            self.close()

    def close(self) -> None:
        self.connection.close()


class App:
    """The deployed app's HTTP API, over one base URL."""

    def __init__(self, url: str, *, key: str | None, timeout: float) -> None:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SystemExit(f"Not an http(s) URL: {url!r}. Pass the app's URL, e.g. https://<app>.azurewebsites.net")
        self.scheme = parsed.scheme
        self.netloc = parsed.netloc
        self.prefix = parsed.path.rstrip("/")
        self.key = key
        self.timeout = timeout

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.netloc, timeout=timeout)
        return http.client.HTTPConnection(self.netloc, timeout=timeout)

    def _target(self, path: str) -> str:
        return f"{self.prefix}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        with_key: bool = True,
    ) -> Response:
        sent = {"Accept": "application/json", **(headers or {})}
        if with_key and self.key:
            sent["x-functions-key"] = self.key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection = self._connect(self.timeout)
        try:
            connection.request(method, self._target(path), body=data, headers=sent)
            response = connection.getresponse()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def stream(self, path: str, *, headers: dict[str, str] | None = None) -> Stream:
        answer = self._open_stream(path, headers=headers)
        if isinstance(answer, Response):
            raise CheckFailed(f"GET {path.split('?')[0]}: {answer.describe()}")
        return answer

    def refused_stream(self, path: str, *, headers: dict[str, str] | None = None) -> Response:
        answer = self._open_stream(path, headers=headers)
        if isinstance(answer, Stream):
            answer.close()
            raise CheckFailed(f"GET {path.split('?')[0]} was served as a stream; a refusal was expected")
        return answer

    def _open_stream(self, path: str, *, headers: dict[str, str] | None) -> Stream | Response:
        """The stream, or the response that refused it (any status but 200)."""
        connection = self._connect(self.timeout)
        connection.request("GET", self._target(path), headers={"Accept": "text/event-stream", **(headers or {})})
        response = connection.getresponse()
        if response.status != 200:
            refused = Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
            connection.close()
            return refused
        content_type = response.getheader("content-type", "")
        if not content_type.startswith("text/event-stream"):
            connection.close()
            raise CheckFailed(f"stream answered with content-type {content_type!r}")
        return Stream(connection, response)


@dataclass
class Result:
    name: str
    outcome: str  # PASS, FAIL or SKIP
    detail: str


@dataclass
class Run:
    """A started run and what the smoke test saw of it."""

    thread_id: str
    stream_url: str
    cancel_url: str
    token: str | None
    events: list[Event] = field(default_factory=list)


class Smoke:
    CHECKS = (
        "health",
        "start a run",
        "stream, then drop",
        "resume: no gap, no duplicate",
        "replay equals the live stream",
        "cancel a second run",
        "stream token rules",
        "planned close",
    )

    def __init__(self, app: App, *, max_stream_seconds: float | None, report: Callable[[Result], None]) -> None:
        self.app = app
        self.max_stream_seconds = max_stream_seconds
        self.report = report
        self.results: list[Result] = []
        self.first: Run | None = None
        self.second: Run | None = None

    def check(self, name: str, needs: list[Any], body: Callable[[], str]) -> None:
        assert name == self.CHECKS[len(self.results)]
        self.results.append(self._outcome(name, needs, body))
        self.report(self.results[-1])

    @staticmethod
    def _outcome(name: str, needs: list[Any], body: Callable[[], str]) -> Result:
        if any(dependency is None for dependency in needs):
            return Result(name, "SKIP", "needs the checks above, which failed")
        try:
            return Result(name, "PASS", body())
        except Skipped as skipped:
            return Result(name, "SKIP", str(skipped))
        except CheckFailed as failed:
            return Result(name, "FAIL", str(failed))
        except Exception as error:  # a broken deployment answers anything; it is a failed row, not a crash
            return Result(name, "FAIL", f"{type(error).__name__}: {error}")

    # -- the checks ------------------------------------------------------------------------

    def health(self) -> str:
        response = self.app.request("GET", "/api/health", with_key=False)
        expect(response.status == 200, f"GET /api/health: {response.describe()}")
        return "200, the store is reachable"

    def start(self, message: str) -> Run:
        response = self.app.request("POST", "/api/agent/run", body={"message": message})
        if response.status == 401:
            wanted = "refused the function key given with --key" if self.app.key else "wants a function key: --key"
            raise CheckFailed(f"401: the app {wanted}")
        expect(response.status == 202, f"POST /api/agent/run: {response.describe()}")
        answer = response.json()
        for name in ("thread_id", "run_id", "stream_url", "status_url", "cancel_url"):
            expect(isinstance(answer.get(name), str), f"the start answer has no {name}: {answer}")
        expect(response.headers.get("location") == answer["stream_url"], "Location is not the stream_url")
        return Run(answer["thread_id"], answer["stream_url"], answer["cancel_url"], answer.get("stream_token"))

    def start_first(self) -> str:
        self.first = self.start(PROMPT)
        auth = "with a stream token" if self.first.token else "no stream token (API_AUTH=none)"
        return f"202, thread {self.first.thread_id}, {auth}"

    def stream_then_drop(self) -> str:
        run = self.first
        assert run is not None
        stream = self.app.stream(run.stream_url)
        headers = {name.lower(): value for name, value in stream.response.getheaders()}
        expect("no-cache" in headers.get("cache-control", ""), f"Cache-Control is {headers.get('cache-control')!r}")
        # A front end that compresses or buffers the stream holds events back until it has enough.
        expect("content-encoding" not in headers, f"the stream came {headers.get('content-encoding')}-encoded")
        expect(headers.get("x-thread-id") == run.thread_id, "x-thread-id is not the run's thread")
        deltas = 0
        try:
            for event in stream.events():
                run.events.append(event)
                deltas += event.type == "TEXT_MESSAGE_CONTENT"
                if deltas == DELTAS_BEFORE_DROP or event.type in TERMINAL:
                    break
        finally:
            stream.close()
        expect(stream.retry is not None, "the stream did not open with a retry: frame")
        expect(bool(run.events), "the stream ended without an event")
        expect(run.events[0].type == "RUN_STARTED", f"the first event is {run.events[0].type}, not RUN_STARTED")
        when = "after the run ended" if run.events[-1].type in TERMINAL else "mid-answer"
        return f"{len(run.events)} events, then the connection was dropped {when}"

    def resume(self) -> str:
        run = self.first
        assert run is not None
        last = run.events[-1].id
        resumed = self.app.stream(
            f"/api/agent/stream/{run.thread_id}", headers={"Last-Event-ID": str(last), **bearer(run.token)}
        )
        run.events.extend(resumed.read_all())
        ids = [event.id for event in run.events]
        expect(ids == list(range(1, len(ids) + 1)), f"ids are not 1..{len(ids)} in order: {gaps(ids)}")
        terminal = [event for event in run.events if event.type in TERMINAL]
        expect(len(terminal) == 1, f"{len(terminal)} terminal events; exactly one expected")
        expect(run.events[-1].type == "RUN_FINISHED", f"the run ended with {describe_event(run.events[-1])}")
        text = "".join(str(e.body.get("delta", "")) for e in run.events if e.type == "TEXT_MESSAGE_CONTENT")
        expect(bool(text.strip()), "the run streamed no text")
        return f"resumed after id {last}: ids 1..{ids[-1]}, no gap, no duplicate, one RUN_FINISHED"

    def replay(self) -> str:
        run = self.first
        assert run is not None
        replayed = self.app.stream(f"/api/agent/stream/{run.thread_id}?after=0", headers=bearer(run.token)).read_all()
        expect(
            [(e.id, e.body) for e in replayed] == [(e.id, e.body) for e in run.events],
            f"the replay ({len(replayed)} events) differs from what the live stream sent ({len(run.events)})",
        )
        caught_up = self.app.refused_stream(
            f"/api/agent/stream/{run.thread_id}",
            headers={"Last-Event-ID": str(run.events[-1].id), **bearer(run.token)},
        )
        expect(caught_up.status == 204, f"a caught-up reconnect to the idle thread got {caught_up.describe()}, not 204")
        return f"{len(replayed)} events, identical; a caught-up reconnect gets 204"

    def cancel(self) -> str:
        self.second = run = self.start(PROMPT + " Take your time.")
        response = self.app.request("POST", run.cancel_url)
        status = response.json().get("status") if response.status in (200, 202) else None
        expect(status in ("cancelling", "cancelled"), f"POST cancel_url: {response.describe()}")
        run.events = self.app.stream(run.stream_url).read_all()
        terminal = [event for event in run.events if event.type in TERMINAL]
        expect(len(terminal) == 1, f"{len(terminal)} terminal events; exactly one expected")
        outcome = terminal[0].body.get("outcome") or {}
        expect(
            terminal[0].type == "RUN_FINISHED" and outcome.get("type") == "cancelled",
            f"the cancelled run ended with {describe_event(terminal[0])}",
        )
        again = self.app.request("POST", run.cancel_url)
        expect(again.status == 200, f"cancelling again (idempotent) got {again.describe()}")
        return f"{response.status} {status}; the run ended with RUN_FINISHED outcome cancelled; again: 200"

    def token_rules(self) -> str:
        first, second = self.first, self.second
        assert first is not None and second is not None
        if first.token is None:
            raise Skipped("the app issues no stream tokens (API_AUTH=none, or no STREAM_TOKEN_SECRET)")
        path = f"/api/agent/stream/{first.thread_id}?after=0"
        refusals = [
            ("no token", {}, 401, "token_required"),
            ("a forged token", {"Authorization": "Bearer not-a-token"}, 401, "invalid_token"),
            ("the other thread's token", bearer(second.token), 403, "token_thread_mismatch"),
        ]
        for label, headers, status, code in refusals:
            response = self.app.refused_stream(path, headers=headers)
            expect(
                response.status == status and response.error_code() == code,
                f"a stream with {label}: {response.describe()}; {status} {code} expected",
            )
            expect(b"data:" not in response.body, f"the stream refused for {label} sent events")
        status_path = f"/api/agent/threads/{first.thread_id}"
        anonymous = self.app.request("GET", status_path, with_key=False)
        expect(anonymous.status == 401, f"thread status without a token: {anonymous.describe()}")
        allowed = self.app.request("GET", status_path, headers=bearer(first.token), with_key=False)
        expect(allowed.status == 200, f"thread status with its token: {allowed.describe()}")
        expect(allowed.json().get("last_event_id") == first.events[-1].id, "thread status has another last_event_id")
        checked = "no token 401, forged 401, another thread's 403, status 401 without and 200 with"
        if self.app.key:
            keyless = self.app.request("POST", "/api/agent/run", body={"message": PROMPT}, with_key=False)
            expect(keyless.status == 401, f"a start without the function key got {keyless.describe()}")
            checked += "; a start without the key 401"
        return checked

    def planned_close(self) -> str:
        run = self.first
        assert run is not None
        if self.max_stream_seconds is None:
            raise Skipped("skipped (--skip-planned-close)")
        limit = self.max_stream_seconds
        began = time.monotonic()
        # follow=1 keeps a caught-up stream of an idle thread open until the app ends it by plan.
        stream = self.app.stream(
            f"/api/agent/stream/{run.thread_id}?follow=1",
            headers={"Last-Event-ID": str(run.events[-1].id), **bearer(run.token)},
        )
        stream.deadline = began + limit
        try:
            # A stream cut off instead of ended raises here too (http.client's IncompleteRead).
            extra = stream.read_all()
        except TimeoutError as timeout:
            raise CheckFailed(f"the stream was still open after {limit:g} s") from timeout
        took = time.monotonic() - began
        expect(not extra, f"the idle thread's follow stream sent {len(extra)} events")
        # A follow stream that ends at once is not a planned close: it should wait for new runs.
        expect(took >= 1, f"the follow stream ended after {took:.1f} s, long before any planned close")
        return f"the app ended the stream after {took:.1f} s (limit {limit:g} s)"

    def run(self) -> list[Result]:
        self.check("health", [], self.health)
        self.check("start a run", [], self.start_first)
        self.check("stream, then drop", [self.first], self.stream_then_drop)
        started = self.first if self.first is not None and self.first.events else None
        self.check("resume: no gap, no duplicate", [started], self.resume)
        finished = started if self.results[-1].outcome == "PASS" else None
        self.check("replay equals the live stream", [finished], self.replay)
        self.check("cancel a second run", [self.first], self.cancel)
        self.check("stream token rules", [finished, self.second], self.token_rules)
        self.check("planned close", [finished], self.planned_close)
        return self.results


def expect(condition: bool, failure: str) -> None:
    if not condition:
        raise CheckFailed(failure)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def describe_event(event: Event) -> str:
    details = {key: event.body[key] for key in ("code", "message", "outcome") if key in event.body}
    return f"{event.type} {json.dumps(details)}" if details else event.type


def gaps(ids: list[int]) -> str:
    duplicates = sorted(i for i, count in Counter(ids).items() if count > 1)
    missing = sorted(set(range(1, max(ids, default=0) + 1)) - set(ids))
    return f"missing {missing[:10]}, duplicated {duplicates[:10]}"


WIDTH = max(len(name) for name in Smoke.CHECKS)


def print_row(result: Result) -> None:
    print(f"{result.name:<{WIDTH}}  {result.outcome:<6}  {result.detail}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("url", help="the app's URL, e.g. https://<app>.azurewebsites.net (azd env get-values)")
    parser.add_argument("--key", help="a function key (API_AUTH=function_key): az functionapp keys list")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds each request may wait (default 30)")
    parser.add_argument(
        "--max-stream-seconds",
        type=float,
        default=AZURE_RESPONSE_LIMIT_SECONDS,
        help="the planned close must come within this many seconds (default 230, Azure's limit)",
    )
    parser.add_argument(
        "--skip-planned-close", action="store_true", help="do not wait for the planned close (it takes minutes)"
    )
    args = parser.parse_args(argv)
    app = App(args.url, key=args.key, timeout=args.timeout)
    limit = None if args.skip_planned_close else args.max_stream_seconds
    if limit is not None:
        print(f"The planned-close check waits up to {limit:g} s; --skip-planned-close skips it.")
    print(f"{'check':<{WIDTH}}  result  detail\n{'-' * WIDTH}  ------  ------", flush=True)
    results = Smoke(app, max_stream_seconds=limit, report=print_row).run()
    counts = Counter(result.outcome for result in results)
    print(f"\n{counts['PASS']} passed, {counts['SKIP']} skipped, {counts['FAIL']} failed.")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
