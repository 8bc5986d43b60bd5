"""The client for agentstream's HTTP API on `httpx`, for asyncio."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from ._base_client import DEFAULT_URL, BaseClient
from .async_run import AsyncRun
from .async_stream import AsyncEventStream
from .backoff import Backoff
from .errors import error_from_response
from .tools import ClientTool


class AsyncAgentStreamClient(BaseClient):
    """`AgentStreamClient` for asyncio: the same API, with `await` and `async for`.

    Usage:

        async with AsyncAgentStreamClient("http://127.0.0.1:7071") as client:
            run = await client.run("What is the weather in Paris?")
            async for delta in run.consume():
                print(delta, end="", flush=True)
            print((await run.result()).usage)

    The parameters are `AgentStreamClient`'s, with `http_client` (an `httpx.AsyncClient`, for
    your own transport, proxies or limits) in place of `session`. A client passed in is left
    open by `aclose()`; one the client made itself is closed.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
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
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()

    async def __aenter__(self) -> AsyncAgentStreamClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def agents(self) -> list[dict[str, Any]]:
        """The app's agents: name, description and tools (with their JSON schemas), the default first."""
        return list((await self._request("GET", self._agents_url()))["agents"])

    async def run(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        thread_id: str | None = None,
        agent: str | None = None,
        tools: Sequence[ClientTool] = (),
        state: Any = None,
        resume: Sequence[Mapping[str, Any]] | None = None,
    ) -> AsyncRun:
        """Start a run and return its handle; see `AgentStreamClient.run`.

        A tool's handler may be an `async def`.
        """
        url, body = self._run_request(
            message, messages=messages, thread_id=thread_id, agent=agent, tools=tools, state=state, resume=resume
        )
        started_at = time.monotonic()
        started = await self._request("POST", url, json=body)
        token = started.get("stream_token")
        return AsyncRun(
            self,
            self._open_stream(self._started_stream_url(started), stream_token=token, until_terminal=True),
            thread_id=started["thread_id"],
            run_id=started["run_id"],
            started_at=started_at,
            tools=tools,
            stream_token=token,
        )

    def resume(
        self, thread_id: str, *, after: int = 0, tools: Sequence[ClientTool] = (), stream_token: str | None = None
    ) -> AsyncRun:
        """Re-attach to a thread's stream after event `after`; see `AgentStreamClient.resume`."""
        handle = self.stream(thread_id, after=after, stream_token=stream_token)
        return AsyncRun(self, handle, thread_id=thread_id, run_id=None, tools=tools, stream_token=stream_token)

    def stream(
        self,
        thread_id: str,
        *,
        after: int = 0,
        run_id: str | None = None,
        follow: bool = False,
        stream_token: str | None = None,
    ) -> AsyncEventStream:
        """A thread's events after `after`, reconnecting by itself (see `AsyncEventStream`)."""
        url, params = self._stream_request(thread_id, run_id=run_id, follow=follow)
        return self._open_stream(url, after=after, params=params, stream_token=stream_token)

    async def cancel(self, thread_id: str, run_id: str) -> dict[str, Any]:
        """Cancel a run. Idempotent: `{"status": "cancelling"}` while it winds down, then `"cancelled"`."""
        return await self._request("POST", self._cancel_url(thread_id, run_id))

    async def submit_tool_results(self, thread_id: str, run_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Answer client-side tool calls of a waiting run: `[{"toolCallId", "content", "error"?}]`."""
        return await self._request("POST", self._tool_results_url(thread_id, run_id), json={"results": results})

    async def thread(self, thread_id: str, *, stream_token: str | None = None) -> dict[str, Any]:
        """A thread's status: its runs, last event id and committed messages."""
        return await self._request("GET", self._thread_url(thread_id), headers=self.reader_headers(stream_token))

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", self._health_url())

    def _open_stream(
        self,
        url: str,
        *,
        after: int | None = None,
        params: dict[str, str] | None = None,
        stream_token: str | None,
        until_terminal: bool = False,
    ) -> AsyncEventStream:
        return AsyncEventStream(
            self._http,
            url,
            after=after,
            params=params,
            headers=self.reader_headers(stream_token),
            backoff=self.backoff,
            until_terminal=until_terminal,
            timeout=httpx.Timeout(self.timeout, read=self.read_timeout),
        )

    async def _request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, json: Any = None
    ) -> dict[str, Any]:
        response = await self._http.request(
            method, url, headers=self.headers if headers is None else headers, json=json, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise error_from_response(response)
        return dict(response.json())
