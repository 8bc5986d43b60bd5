"""The host's keys, as devhost keeps them: a master key, one function key and the Durable system key.

The Functions host keeps its keys in its secrets store; devhost keeps them in
`<data-dir>/host-keys.json`, created on first start with random values. `DEVHOST_FUNCTION_KEY`
and `DEVHOST_MASTER_KEY` override the stored values (handy in tests and scripts).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

KEYS_FILE = "host-keys.json"


@dataclass(frozen=True, kw_only=True)
class HostKeys:
    master_key: str
    function_key: str
    durable_system_key: str

    @classmethod
    def load(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> HostKeys:
        env = os.environ if env is None else env
        path = data_dir / KEYS_FILE
        if path.exists():
            stored = cls(**json.loads(path.read_text()))
        else:
            stored = cls(
                master_key=secrets.token_urlsafe(32),
                function_key=secrets.token_urlsafe(32),
                durable_system_key=secrets.token_urlsafe(32),
            )
            path.touch(mode=0o600)
            path.write_text(json.dumps(asdict(stored), indent=2))
        return cls(
            master_key=env.get("DEVHOST_MASTER_KEY") or stored.master_key,
            function_key=env.get("DEVHOST_FUNCTION_KEY") or stored.function_key,
            durable_system_key=stored.durable_system_key,
        )

    def admits(self, auth_level: str, key: str | None) -> bool:
        """Whether a request presenting `key` may call a function of `auth_level`, as the host decides."""
        if auth_level == "anonymous":
            return True
        if not key:
            return False
        accepted = [self.master_key] if auth_level == "admin" else [self.master_key, self.function_key]
        return any(secrets.compare_digest(key.encode(), accepted_key.encode()) for accepted_key in accepted)
