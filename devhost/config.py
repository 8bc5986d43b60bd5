"""What devhost needs to know: where to listen, where to keep its data, and the app's settings."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class DevhostConfig:
    host: str = "127.0.0.1"
    port: int = 7071
    app_dir: Path = Path(".")
    app_module: str = "function_app"
    data_dir: Path = Path(".devhost")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def host_json(self) -> dict[str, Any]:
        path = self.app_dir / "host.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def route_prefix(self) -> str:
        http = self.host_json().get("extensions", {}).get("http", {})
        return str(http.get("routePrefix", "api"))

    def prepare_environment(self, *, reset: bool) -> None:
        """Apply local.settings.json like `func start` does, then devhost's own defaults.

        Variables already set in the environment win, so tests and shells can override anything.
        """
        if reset and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        local_settings = self.app_dir / "local.settings.json"
        if local_settings.exists():
            values = json.loads(local_settings.read_text()).get("Values", {})
            for name, value in values.items():
                os.environ.setdefault(name, str(value))
        os.environ.setdefault("EVENT_STORE", "sqlite")
        os.environ.setdefault("EVENT_STORE_PATH", str(self.data_dir / "events.db"))
        os.environ.setdefault("TASK_HUB_NAME", "agentstream")
