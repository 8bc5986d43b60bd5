"""`agentstream-devhost` (or `python -m devhost`): serve function_app.py locally, without Core Tools."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from . import faults
from .config import DevhostConfig
from .durable.delivery import DeliveryMode
from .keys import KEYS_FILE

PID_FILE = "devhost.pid"


class RunContextFormatter(logging.Formatter):
    """Shows the thread and run ids that agentstream's log records carry (as `extra`)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = [f"{name}={getattr(record, name)}" for name in ("thread_id", "run_id") if getattr(record, name, None)]
        return f"{text} [{' '.join(context)}]" if context else text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agentstream-devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port to listen on (default 7071)")
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost"), help="durable history and the event store")
    parser.add_argument("--reset", action="store_true", help="delete the data folder first")
    parser.add_argument("--app", default="function_app", help="module holding the function app (default function_app)")
    parser.add_argument(
        "--azure-http-log",
        action="store_true",
        help="log every Azure SDK request and response (Table storage, Azure Monitor); off by default",
    )
    args = parser.parse_args(argv)

    config = DevhostConfig(host=args.host, port=args.port, app_module=args.app, data_dir=args.data_dir)
    try:
        faults.configure(os.environ.get(faults.ENV))
        DeliveryMode.from_environment(os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    # Bound before anything else, so a busy port fails at once, before the app loads or any banner.
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        print(
            f"agentstream devhost: cannot listen on {config.host}:{config.port}: {exc.strerror}. "
            f"Stop whatever uses the port, or pass --port (make run ARGS='--port 7072').",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
    config.prepare_environment(reset=args.reset)
    sys.path.insert(0, str(Path.cwd()))
    handler = logging.StreamHandler()
    handler.setFormatter(RunContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # Imported once the settings are in the environment: agentstream may read them at import.
    from agentstream.telemetry import AZURE_HTTP_LOGGER

    # An explicit level here is what quiet_azure_http_logging() leaves alone.
    logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.INFO if args.azure_http_log else logging.WARNING)
    # Its one notice per start ("df_loads was called without expected_type") comes from the SDK's own
    # activity input converter, which no app can hand a type to: not worth a line on every start.
    logging.getLogger("azure.functions.DurableFunctions").setLevel(logging.WARNING)

    from .server import create_app

    app = create_app(config)
    server = _Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", timeout_graceful_shutdown=2),
        config,
    )
    server.run(sockets=[sock])


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # A restart right after a crash must not wait for the old connections' TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """Prints the banner once the app has started and the socket accepts connections, not before.

    While serving, `<data-dir>/devhost.pid` holds the process id, for `kill -9 "$(cat .devhost/devhost.pid)"`
    (the crash the walkthrough recovers from). It goes at shutdown: uvicorn re-raises a caught
    SIGTERM once it has shut down, so code after `run()` would not get to remove it.
    """

    def __init__(self, uvicorn_config: uvicorn.Config, config: DevhostConfig) -> None:
        super().__init__(uvicorn_config)
        self.devhost = config

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        config = self.devhost
        (config.data_dir / PID_FILE).write_text(f"{os.getpid()}\n")
        print(f"agentstream devhost: {config.base_url}  (data in {config.data_dir}/)", flush=True)
        print(f"  keys, for functions that require them: {config.data_dir / KEYS_FILE}", flush=True)
        print(
            f"  try: curl -N -H 'Accept: text/plain' {config.base_url}/{config.route_prefix}/agent/run "
            f"-H 'Content-Type: text/plain' -d 'What is the weather in Paris?'",
            flush=True,
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        (self.devhost.data_dir / PID_FILE).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
