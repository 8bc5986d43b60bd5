"""`python -m devhost`: run function_app.py locally, without the Functions host or Core Tools."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from .config import DevhostConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port to listen on (default 7071)")
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost"), help="durable history and the event store")
    parser.add_argument("--reset", action="store_true", help="delete the data folder first")
    parser.add_argument("--app", default="function_app", help="module holding the function app (default function_app)")
    args = parser.parse_args(argv)

    config = DevhostConfig(host=args.host, port=args.port, app_module=args.app, data_dir=args.data_dir)
    config.prepare_environment(reset=args.reset)
    sys.path.insert(0, str(Path.cwd()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .server import create_app

    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", timeout_graceful_shutdown=2)
    )
    print(f"agentstream devhost: {config.base_url}  (data in {config.data_dir}/)", flush=True)
    print(
        f"  try: curl -N -H 'Accept: text/plain' {config.base_url}/{config.route_prefix}/agent/run "
        f"-H 'Content-Type: text/plain' -d 'What is the weather in Paris?'",
        flush=True,
    )
    server.run()


if __name__ == "__main__":
    main()
