"""The client for agentstream's HTTP API, on `requests`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import requests

from ._base_client import DEFAULT_URL, BaseClient
from .backoff import Backoff
from .errors import error_from_response
from .run import Run
from .stream import EventStream
from .tools import ClientTool


class AgentStreamClient(BaseClient):
    """Starts runs, streams them with automatic resume, and reads thread status.

    Usage:

        client = AgentStreamClient("http://127.0.0.1:7071")
        run = client.run("What is the weather in Paris?")
        for delta in run.text():
            print(delta, end="", flush=True)
        print(run.result().usage)

    Parameters:

    * base_url - the app's root URL; the API lives under `{base_url}/api`.
    * token - sent as `Authorization: Bearer <token>` on every request.
    * headers - extra headers for every request (e.g. `x-functions-key`).
    * backoff - the reconnect policy of streams (`Backoff`).
    * timeout - seconds to wait for a non-streaming answer, and to connect.
    * read_timeout - seconds of silence after which a stream counts as dropped. The server sends a
      heartbeat every 15 s by default, so the default of 45 s means three missed heartbeats.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
        read_timeout: float = 45.0,
        api_prefix: str = "/api",
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            headers=headers,
            backoff=backoff,
            timeout=timeout,
            read_timeout=read_timeout,
            api_prefix=api_prefix,
        )
        self._session = session or requests.Session()

    def __enter__(self) -> AgentStreamClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- runs ----------------------------------------------------------------------------

    def agents(self) -> list[dict[str, Any]]:
        """The app's agents: name, description and tools (with their JSON schemas), the default first."""
        return list(self._request("GET", self._agents_url())["agents"])

    def run(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        thread_id: str | None = None,
        agent: str | None = None,
        tools: Sequence[ClientTool] = (),
        state: Any = None,
        resume: Sequence[Mapping[str, Any]] | None = None,
    ) -> Run:
        """Start a run (a new thread, or the next turn of `thread_id`) and return its handle.

        `agent` names the app's agent to run (see `agents()`); without it, the app's first agent
        runs. A thread stays with the agent that started it.

        `resume` answers the interrupts of the thread's last run (`result().interrupts`, each
        answered with `interrupt.approve()` or `interrupt.reject()`) and continues it; it takes
        `thread_id` and no message.

        Give either `message` or `messages` (`[{"role": "user", "content": "..."}]`, ending with a
        user message). `tools` are client-side tools the model may call; their handlers answer
        while the run is read. Raises an `APIStatusError` subclass when the server refuses: e.g.
        `ConflictError` when the thread already has an active run.
        """
        url, body = self._run_request(
            message, messages=messages, thread_id=thread_id, agent=agent, tools=tools, state=state, resume=resume
        )
        started_at = time.monotonic()
        started = self._request("POST", url, json=body)
        stream_token = started.get("stream_token")
        stream = self._open_stream(self._started_stream_url(started), stream_token=stream_token, until_terminal=True)
        return Run(
            self,
            stream,
            thread_id=started["thread_id"],
            run_id=started["run_id"],
            started_at=started_at,
            tools=tools,
            stream_token=stream_token,
        )

    def resume(
        self, thread_id: str, *, after: int = 0, tools: Sequence[ClientTool] = (), stream_token: str | None = None
    ) -> Run:
        """Re-attach to a thread's stream after event `after` and follow it until the thread is idle.

        With `tools`, calls to them that the stream shows ending are answered (again: a call that
        already has its answer is left as it is).
        """
        stream = self.stream(thread_id, after=after, stream_token=stream_token)
        return Run(self, stream, thread_id=thread_id, run_id=None, tools=tools, stream_token=stream_token)

    def stream(
        self,
        thread_id: str,
        *,
        after: int = 0,
        run_id: str | None = None,
        follow: bool = False,
        stream_token: str | None = None,
    ) -> EventStream:
        """A thread's events after `after`, reconnecting by itself (see `EventStream`).

        `stream_token` is the `stream_token` of a start response, for servers that require one
        to read streams.
        """
        url, params = self._stream_request(thread_id, run_id=run_id, follow=follow)
        return self._open_stream(url, after=after, params=params, stream_token=stream_token)

    def cancel(self, thread_id: str, run_id: str) -> dict[str, Any]:
        """Cancel a run. Idempotent: `{"status": "cancelling"}` while it winds down, then `"cancelled"`."""
        return self._request("POST", self._cancel_url(thread_id, run_id))

    def submit_tool_results(self, thread_id: str, run_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Answer client-side tool calls of a waiting run: `[{"toolCallId", "content", "error"?}]`."""
        return self._request("POST", self._tool_results_url(thread_id, run_id), json={"results": results})

    def thread(self, thread_id: str, *, stream_token: str | None = None) -> dict[str, Any]:
        """A thread's status: its runs, last event id and committed messages."""
        return self._request("GET", self._thread_url(thread_id), headers=self.reader_headers(stream_token))

    def health(self) -> dict[str, Any]:
        return self._request("GET", self._health_url())

    def _open_stream(
        self,
        url: str,
        *,
        after: int | None = None,
        params: dict[str, str] | None = None,
        stream_token: str | None,
        until_terminal: bool = False,
    ) -> EventStream:
        return EventStream(
            self._session,
            url,
            after=after,
            params=params,
            headers=self.reader_headers(stream_token),
            backoff=self.backoff,
            until_terminal=until_terminal,
            connect_timeout=self.timeout,
            read_timeout=self.read_timeout,
        )

    def _request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        response = self._session.request(
            method, url, headers=self.headers if headers is None else headers, timeout=self.timeout, **kwargs
        )
        if response.status_code >= 400:
            raise error_from_response(response)
        return dict(response.json())
