"""Loopback servers for the client tests: a proxy that cuts streams, and a server of doctored streams."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

_HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive", "content-encoding"}


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class CuttingProxy:
    """Forwards everything to `upstream`, but ends every event stream after `every` events.

    Odd cuts are abrupt (chunked body left unfinished, with half of the next frame sent: a dropped
    connection); even cuts end the body cleanly after a partial frame (like a proxy's idle close).
    """

    def __init__(self, upstream: str, every: int) -> None:
        self.upstream = upstream
        self.every = every
        self.stream_requests: list[dict[str, str]] = []
        self.cuts = 0
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = requests.request(
                    method, proxy.upstream + self.path, headers=headers, data=body, stream=True, timeout=30
                )
                is_stream = upstream.headers.get("content-type", "").startswith("text/event-stream")
                self.send_response(upstream.status_code)
                for name, value in upstream.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                if not is_stream:
                    content = upstream.content
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    return
                with proxy._lock:
                    proxy.stream_requests.append(dict(self.headers.items()))
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self._relay(upstream)

            def _relay(self, upstream: requests.Response) -> None:
                buffer = b""
                sent = 0
                with upstream:
                    for chunk in upstream.iter_content(chunk_size=None):
                        buffer += chunk
                        while b"\n\n" in buffer:
                            frame, buffer = buffer.split(b"\n\n", 1)
                            frame += b"\n\n"
                            if frame.startswith(b"id:") and sent == proxy.every:
                                self._cut(frame)
                                return
                            self._chunk(frame)
                            sent += frame.startswith(b"id:")
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _cut(self, next_frame: bytes) -> None:
                with proxy._lock:
                    proxy.cuts += 1
                    abrupt = proxy.cuts % 2 == 1
                self._chunk(next_frame[: len(next_frame) // 2])
                if not abrupt:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        return Handler


Route = Callable[[BaseHTTPRequestHandler], None]


def doctored_server(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    """A handler that answers each path (without query) with its function from `routes`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        requests_seen: list[tuple[str, str | None]] = []

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def _route(self) -> None:
            path = self.path.split("?")[0]
            Handler.requests_seen.append((path, self.headers.get("Last-Event-ID")))
            route = routes.get(path)
            if route is None:
                send_json(self, 404, {"error": {"code": "not_found", "message": f"No route {path}."}})
            else:
                route(self)

    return Handler


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def send_events(handler: BaseHTTPRequestHandler, events: list[tuple[int, dict[str, object]]]) -> None:
    body = "retry: 10\n\n" + "".join(f"id: {i}\ndata: {json.dumps(e)}\n\n" for i, e in events)
    data = body.encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
