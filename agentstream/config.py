"""Settings, read from app settings / environment variables.

Every setting here is listed with its default in README.md and local.settings.json.example.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .exceptions import ConfigError

EVENT_STORES = ("sqlite",)
MODEL_PROVIDERS = ("demo",)


@dataclass(frozen=True, kw_only=True)
class Settings:
    event_store: str = "sqlite"
    event_store_path: Path = Path(".devhost/events.db")
    model_provider: str = "demo"
    demo_tokens_per_second: float = 40.0
    max_model_steps: int = 8
    step_max_attempts: int = 3
    step_retry_interval_ms: int = 1000
    stream_max_seconds: float = 200.0
    stream_heartbeat_seconds: float = 15.0
    stream_retry_ms: int = 1000
    max_request_bytes: int = 1_048_576
    max_message_chars: int = 32_000
    client_tool_timeout_seconds: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            event_store=reader.choice("EVENT_STORE", cls.event_store, EVENT_STORES),
            event_store_path=Path(reader.text("EVENT_STORE_PATH", str(cls.event_store_path))),
            model_provider=reader.choice("MODEL_PROVIDER", cls.model_provider, MODEL_PROVIDERS),
            demo_tokens_per_second=reader.number("DEMO_TOKENS_PER_SECOND", cls.demo_tokens_per_second),
            max_model_steps=int(reader.number("MAX_MODEL_STEPS", cls.max_model_steps, minimum=1)),
            step_max_attempts=int(reader.number("STEP_MAX_ATTEMPTS", cls.step_max_attempts, minimum=1)),
            step_retry_interval_ms=int(reader.number("STEP_RETRY_INTERVAL_MS", cls.step_retry_interval_ms, minimum=1)),
            stream_max_seconds=reader.number("STREAM_MAX_SECONDS", cls.stream_max_seconds, minimum=0.1),
            stream_heartbeat_seconds=reader.number(
                "STREAM_HEARTBEAT_SECONDS", cls.stream_heartbeat_seconds, minimum=0.1
            ),
            stream_retry_ms=int(reader.number("STREAM_RETRY_MS", cls.stream_retry_ms, minimum=0)),
            max_request_bytes=int(reader.number("MAX_REQUEST_BYTES", cls.max_request_bytes, minimum=1)),
            max_message_chars=int(reader.number("MAX_MESSAGE_CHARS", cls.max_message_chars, minimum=1)),
            client_tool_timeout_seconds=reader.number(
                "CLIENT_TOOL_TIMEOUT_SECONDS", cls.client_tool_timeout_seconds, minimum=0.1
            ),
        )
        if settings.stream_max_seconds >= 230:
            raise ConfigError(
                f"Config 'STREAM_MAX_SECONDS' has value '{settings.stream_max_seconds:g}'. "
                "It must stay below Azure's 230 s HTTP response limit."
            )
        return settings


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name, "").strip()
        return value or default

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"Config '{name}' has value '{value}'. Expected one of {', '.join(choices)}.")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"Config '{name}' has value '{raw}'. Not a valid number.") from None
        if value < minimum:
            raise ConfigError(f"Config '{name}' has value '{raw}'. It must be at least {minimum:g}.")
        return value
