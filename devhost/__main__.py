"""`python -m devhost`: run function_app.py locally, without the Functions host or Core Tools."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from . import faults
from .config import DevhostConfig
from .keys import KEYS_FILE


class RunContextFormatter(logging.Formatter):
    """Shows the thread and run ids that agentstream's log records carry (as `extra`)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = [f"{name}={getattr(record, name)}" for name in ("thread_id", "run_id") if getattr(record, name, None)]
        return f"{text} [{' '.join(context)}]" if context else text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port to listen on (default 7071)")
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost"), help="durable history and the event store")
    parser.add_argument("--reset", action="store_true", help="delete the data folder first")
    parser.add_argument("--app", default="function_app", help="module holding the function app (default function_app)")
    args = parser.parse_args(argv)

    config = DevhostConfig(host=args.host, port=args.port, app_module=args.app, data_dir=args.data_dir)
    try:
        faults.configure(os.environ.get(faults.ENV))
    except ValueError as exc:
        parser.error(str(exc))
    config.prepare_environment(reset=args.reset)
    sys.path.insert(0, str(Path.cwd()))
    handler = logging.StreamHandler()
    handler.setFormatter(RunContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])

    from .server import create_app

    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", timeout_graceful_shutdown=2)
    )
    print(f"agentstream devhost: {config.base_url}  (data in {config.data_dir}/)", flush=True)
    print(f"  keys, for functions that require them: {config.data_dir / KEYS_FILE}", flush=True)
    print(
        f"  try: curl -N -H 'Accept: text/plain' {config.base_url}/{config.route_prefix}/agent/run "
        f"-H 'Content-Type: text/plain' -d 'What is the weather in Paris?'",
        flush=True,
    )
    server.run()


if __name__ == "__main__":
    main()
