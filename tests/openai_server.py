"""A local OpenAI-compatible Chat Completions server for the tests: real HTTP on a loopback port.

It streams the way the OpenAI API does, byte for byte: one SSE event per HTTP chunk
(`data: {json}` and a blank line), a role chunk first, content or tool-call deltas (tool-call
arguments split mid-token across chunks, one call after the other by `index`), a chunk with the
`finish_reason`, a usage chunk with empty `choices` when `stream_options.include_usage` is set,
and `data: [DONE]`. It also serves Azure OpenAI's route,
`/openai/deployments/{deployment}/chat/completions?api-version=...`, with Azure's empty-choices
prompt-filter chunk first, and checks the `api-key` header or the bearer token.

What each request gets is scripted: `script(Reply(...), ...)` queues replies for the next requests
in order; with nothing queued the server echoes the last user message. Replies can fail: a status
(429 with `retry-after`, 500, 400 content filter), a connection cut after k chunks, a hang,
`finish_reason: content_filter`. Every request is kept in `requests` for the tests to inspect.

It also speaks the Responses API (`/v1/responses`, and Azure OpenAI's v1 route
`/openai/v1/responses`, which takes the deployment as the model and no api-version), in its own
wire format (`tests/responses_wire.py`), and refuses what the real API refuses: reasoning items it
cannot decrypt, strict schemas that break the rules of structured outputs.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.harness import free_port
from tests.responses_wire import input_problem, responses_events, strict_schema_problem

CREATED = 1_763_800_000
_WORDS = re.compile(r"\S+\s*")
_AZURE_ROUTE = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_RESPONSES_ROUTES = ("/v1/responses", "/openai/v1/responses")


@dataclass
class Reply:
    """One scripted response. The default is a plain text answer."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    call_ids: list[str] | None = None  # ids for the tool calls; default: fresh random ones
    finish_reason: str | None = None  # default: "tool_calls" with calls, else "stop"
    status: int = 200
    error_code: str | None = None
    retry_after: str | None = None
    retry_after_ms: int | None = None
    cut_after: int | None = None  # close the connection after this many data chunks
    hang_after: int | None = None  # stop sending (keep the connection open) after this many chunks
    chunk_delay: float = 0.0  # seconds between chunks, to pace a stream
    prompt_tokens: int = 11
    completion_tokens: int | None = None  # default: one per delta
    before: Callable[[], None] | None = None  # run when the request arrives, before anything is sent
    refusal: str | None = None
    # An error in the stream once it started: Chat Completions sends `{"error": {...}}` after its first
    # chunk, the Responses API an `error` event after response.in_progress.
    error_event: str | None = None
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    # The Responses API only:
    summary_parts: list[str] = field(default_factory=list)  # reasoning summary parts (default: [reasoning])
    encrypted: bool = False  # a reasoning item with no summary, only encrypted content (when asked for)
    failed_code: str | None = None  # end with response.failed carrying this error code
    incomplete_reason: str | None = None  # end with response.incomplete for this reason


@dataclass
class ReceivedRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]


class OpenAIServer:
    def __init__(self, *, api_key: str = "test-key", azure_deployment: str = "chat", azure_token: str | None = None):
        self.api_key = api_key
        self.azure_deployment = azure_deployment
        self.azure_token = azure_token
        self.port = free_port()
        self.requests: list[ReceivedRequest] = []
        self._replies: list[Reply] = []
        self.issued_reasoning: dict[str, str] = {}  # encrypted content → the reasoning item id it was issued for
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-server", daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (what OPENAI_BASE_URL takes)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def endpoint(self) -> str:
        """The Azure OpenAI endpoint (what AZURE_OPENAI_ENDPOINT takes)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.requests.clear()
            self.issued_reasoning.clear()

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def responses_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path in _RESPONSES_ROUTES]

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
        conversation = body.get("messages") or body.get("input") or []
        last_user: dict[str, Any] = next((m for m in reversed(conversation) if m.get("role") == "user"), {})
        return Reply(text=f"Echo: {last_user.get('content', '')}")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # The SDK stops reading at `[DONE]` (or at an error event) and may close a kept-alive
        # connection with a reset: normal client behaviour, not a server error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            super().handle_error(request, client_address)


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            body = json.loads(raw) if raw else {}
            received = ReceivedRequest(
                url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()}, body
            )
            azure = _AZURE_ROUTE.match(url.path)
            responses = url.path in _RESPONSES_ROUTES
            if azure is None and not responses and url.path != "/v1/chat/completions":
                return self._json(404, {"error": {"message": f"No route {url.path}", "type": "invalid_request_error"}})
            server.requests.append(received)
            problem = self._responses_auth_problem(received) if responses else self._auth_problem(received, azure)
            if problem is not None:
                return self._json(401, {"error": {"message": problem, "type": "invalid_request_error", "code": "401"}})
            refused = input_problem(body, server.issued_reasoning) if responses else _chat_problem(body)
            if refused is not None:
                status, message = refused
                return self._json(status, {"error": {"message": message, "type": "invalid_request_error"}})
            reply = server._next_reply(body)
            if reply.before is not None:
                reply.before()
            if reply.status != 200:
                return self._error(reply)
            if responses:
                frames = [
                    f"event: {kind}\ndata: {data}"
                    for kind, data in responses_events(reply, body, server.issued_reasoning)
                ]
            else:
                frames = [f"data: {chunk}" for chunk in _chunks(reply, body, azure=azure is not None)]
            self._stream(reply, frames)

        def _responses_auth_problem(self, received: ReceivedRequest) -> str | None:
            if received.path == "/v1/responses":
                ok = received.headers.get("authorization") == f"Bearer {server.api_key}"
                return None if ok else "Incorrect API key provided."
            if received.query:
                return f"The v1 API takes no query parameters, got {sorted(received.query)}."
            if received.body.get("model") != server.azure_deployment:
                return f"Unknown deployment {received.body.get('model')}."
            if server.azure_token is not None:
                ok = received.headers.get("authorization") == f"Bearer {server.azure_token}"
            else:
                ok = received.headers.get("api-key") == server.api_key and "authorization" not in received.headers
            return None if ok else "Access denied due to invalid subscription key or wrong token."

        def _auth_problem(self, received: ReceivedRequest, azure: re.Match[str] | None) -> str | None:
            if azure is None:
                if received.headers.get("authorization") != f"Bearer {server.api_key}":
                    return "Incorrect API key provided."
                return None
            if not received.query.get("api-version"):
                return "Missing api-version."
            if azure.group(1) != server.azure_deployment:
                return f"Unknown deployment {azure.group(1)}."
            if server.azure_token is not None:
                ok = received.headers.get("authorization") == f"Bearer {server.azure_token}"
            else:
                ok = received.headers.get("api-key") == server.api_key
            return None if ok else "Access denied due to invalid subscription key or wrong token."

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, reply: Reply) -> None:
            headers = {}
            if reply.retry_after is not None:
                headers["retry-after"] = reply.retry_after
            if reply.retry_after_ms is not None:
                headers["retry-after-ms"] = str(reply.retry_after_ms)
            kind = "invalid_request_error" if reply.status < 500 else "server_error"
            error = {"message": f"Scripted {reply.status}", "type": kind, "param": None, "code": reply.error_code}
            self._json(reply.status, {"error": error}, headers)

        def _stream(self, reply: Reply, frames: list[str]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("cache-control", "no-cache")
            self.end_headers()
            for count, frame in enumerate(frames):
                if count == reply.cut_after:
                    # An abrupt end: no terminating zero-length chunk, the socket just closes.
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if count == reply.hang_after:
                    self.wfile.flush()
                    server._stopping.wait(120)
                    self.close_connection = True
                    return
                if reply.chunk_delay and count:
                    time.sleep(reply.chunk_delay)
                data = f"{frame}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _chat_problem(body: dict[str, Any]) -> tuple[int, str] | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema" and response_format["json_schema"].get("strict"):
        if problem := strict_schema_problem(response_format["json_schema"].get("schema") or {}):
            return 400, f"Invalid schema for response_format '{response_format['json_schema'].get('name')}': {problem}"
    return None


def _chunks(reply: Reply, body: dict[str, Any], *, azure: bool) -> list[str]:
    """The data lines of a streamed completion, as the API sends them."""
    model = body.get("model", "gpt-4o-mini")
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": CREATED, "model": model}
    base["system_fingerprint"] = "fp_test"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        if azure:
            choice["content_filter_results"] = {}
        return json.dumps({**base, "choices": [choice], "usage": None}, separators=(",", ":"))

    out: list[str] = []
    if azure:
        filters = [{"prompt_index": 0, "content_filter_results": {}}]
        out.append(json.dumps({**base, "choices": [], "prompt_filter_results": filters}, separators=(",", ":")))
    deltas = 0
    if reply.tool_calls and not reply.text and not reply.reasoning:
        out.append(chunk({"role": "assistant", "content": None, "refusal": None}))
    else:
        out.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    if reply.error_event is not None:
        error = {"message": f"Scripted {reply.error_event}", "type": "server_error", "param": None}
        return [*out, json.dumps({"error": {**error, "code": reply.error_event}})]
    for word in _WORDS.findall(reply.reasoning):
        out.append(chunk({"reasoning_content": word}))
        deltas += 1
    for word in _WORDS.findall(reply.text):
        out.append(chunk({"content": word}))
        deltas += 1
    if reply.refusal:
        out.append(chunk({"refusal": reply.refusal}))
    for index, (name, arguments) in enumerate(reply.tool_calls):
        call_id = reply.call_ids[index] if reply.call_ids is not None else f"call_{secrets.token_hex(8)}"
        start = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        out.append(chunk({"tool_calls": [start]}))
        # Split mid-token, as the API does: pieces of 7 characters.
        for offset in range(0, len(arguments), 7):
            piece = {"index": index, "function": {"arguments": arguments[offset : offset + 7]}}
            out.append(chunk({"tool_calls": [piece]}))
            deltas += 1
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    out.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        completion = reply.completion_tokens if reply.completion_tokens is not None else deltas
        usage = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": reply.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens, "audio_tokens": 0},
        }
        out.append(json.dumps({**base, "choices": [], "usage": usage}, separators=(",", ":")))
    out.append("[DONE]")
    return out
