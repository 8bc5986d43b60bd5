"""What both clients share: settings, headers, routes and request bodies. Only the I/O differs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urljoin

from .backoff import Backoff
from .tools import ClientTool

DEFAULT_URL = "http://127.0.0.1:7071"


class BaseClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        headers: Mapping[str, str] | None,
        backoff: Backoff | None,
        timeout: float,
        read_timeout: float,
        api_prefix: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + "/" + api_prefix.strip("/") if api_prefix.strip("/") else self.base_url
        self.headers = dict(headers or {})
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.read_timeout = read_timeout

    def reader_headers(self, stream_token: str | None) -> dict[str, str]:
        """Headers for the reader routes (stream, status): a stream token replaces the caller's bearer token."""
        if stream_token is None:
            return self.headers
        return {**self.headers, "Authorization": f"Bearer {stream_token}"}

    def _run_request(
        self,
        message: str | None,
        *,
        messages: list[dict[str, Any]] | None,
        thread_id: str | None,
        agent: str | None,
        tools: Sequence[ClientTool],
        state: Any,
        resume: Sequence[Mapping[str, Any]] | None,
    ) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body that start a run."""
        body: dict[str, Any] = {}
        if message is not None:
            body["message"] = message
        if messages is not None:
            body["messages"] = messages
        if thread_id is not None:
            body["thread_id"] = thread_id
        if tools:
            body["tools"] = [tool.declaration() for tool in tools]
        if state is not None:
            body["state"] = state
        if resume is not None:
            body["resume"] = [dict(entry) for entry in resume]
        route = "agent/run" if agent is None else f"agents/{quote(agent, safe='')}/run"
        return f"{self.api_url}/{route}", body

    def _started_stream_url(self, started: dict[str, Any]) -> str:
        """The absolute URL of a start answer's `stream_url` (relative on the wire)."""
        return urljoin(self.base_url + "/", str(started["stream_url"]))

    def _stream_request(self, thread_id: str, *, run_id: str | None, follow: bool) -> tuple[str, dict[str, str]]:
        """The URL and query of a thread's stream."""
        params = {}
        if run_id is not None:
            params["run_id"] = run_id
        if follow:
            params["follow"] = "1"
        return f"{self.api_url}/agent/stream/{thread_id}", params

    def _agents_url(self) -> str:
        return f"{self.api_url}/agents"

    def _thread_url(self, thread_id: str) -> str:
        return f"{self.api_url}/agent/threads/{thread_id}"

    def _cancel_url(self, thread_id: str, run_id: str) -> str:
        return f"{self._thread_url(thread_id)}/runs/{run_id}/cancel"

    def _tool_results_url(self, thread_id: str, run_id: str) -> str:
        return f"{self._thread_url(thread_id)}/runs/{run_id}/tool-results"

    def _health_url(self) -> str:
        return f"{self.api_url}/health"
