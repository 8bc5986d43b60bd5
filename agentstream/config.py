"""Settings, read from app settings / environment variables.

Every setting here is listed with its default in README.md and local.settings.json.example.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .exceptions import ConfigError

# The event store backends (agentstream.log.stores.BACKENDS maps each to its class).
EVENT_STORES = ("sqlite", "redis", "table")
MODEL_PROVIDERS = ("demo", "openai", "azure_openai")
MODEL_APIS = ("chat", "responses")
REASONING_EFFORTS = ("minimal", "low", "medium", "high")
API_AUTH_MODES = ("none", "function_key", "entra")
STREAM_TOKEN_SECRET_MIN_CHARS = 32


@dataclass(frozen=True, kw_only=True)
class Settings:
    event_store: str = "sqlite"
    event_store_path: Path = Path(".devhost/events.db")
    event_table_prefix: str = "agentstream"
    # The host's storage account (AzureWebJobsStorage*), which the table store shares.
    storage_connection_string: str | None = field(default=None, repr=False)
    storage_table_uri: str | None = None
    storage_credential: str | None = None
    storage_client_id: str | None = None
    event_retention: float = 7 * 86400.0
    redis_url: str = "redis://127.0.0.1:6379/0"
    model_provider: str = "demo"
    model_api: str = "chat"
    model_reasoning_effort: str | None = None
    demo_tokens_per_second: float = 40.0
    openai_api_key: str | None = field(default=None, repr=False)
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    azure_openai_endpoint: str | None = None
    azure_openai_deployment: str | None = None
    azure_openai_api_key: str | None = field(default=None, repr=False)
    azure_openai_api_version: str = "2024-10-21"
    azure_client_id: str | None = None
    model_timeout_seconds: float = 60.0
    max_model_steps: int = 8
    step_max_attempts: int = 3
    step_retry_interval_ms: int = 1000
    stream_max_seconds: float = 200.0
    stream_heartbeat_seconds: float = 15.0
    stream_write_timeout_seconds: float = 5.0
    stream_retry_ms: int = 1000
    max_request_bytes: int = 1_048_576
    max_message_chars: int = 32_000
    client_tool_timeout_seconds: float = 300.0
    orchestration_start_grace_seconds: float = 60.0
    api_auth: str = "none"
    stream_token_secret: str = field(default="", repr=False)
    stream_token_ttl_seconds: float = 3600.0
    cors_allowed_origins: tuple[str, ...] = ()
    max_concurrent_streams: int = 200
    purge_schedule: str = "0 17 3 * * *"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            event_store=reader.choice("EVENT_STORE", cls.event_store, EVENT_STORES),
            event_store_path=Path(reader.text("EVENT_STORE_PATH", str(cls.event_store_path))),
            event_table_prefix=reader.table_prefix("EVENT_TABLE_PREFIX", cls.event_table_prefix),
            storage_connection_string=reader.optional("AzureWebJobsStorage"),
            storage_table_uri=reader.optional("AzureWebJobsStorage__tableServiceUri")
            or _table_uri_of_account(reader.optional("AzureWebJobsStorage__accountName")),
            storage_credential=reader.optional("AzureWebJobsStorage__credential"),
            storage_client_id=reader.optional("AzureWebJobsStorage__clientId"),
            event_retention=reader.duration("EVENT_RETENTION", cls.event_retention),
            redis_url=reader.text("REDIS_URL", cls.redis_url),
            model_provider=reader.choice("MODEL_PROVIDER", cls.model_provider, MODEL_PROVIDERS),
            model_api=reader.choice("MODEL_API", cls.model_api, MODEL_APIS),
            model_reasoning_effort=reader.optional_choice("MODEL_REASONING_EFFORT", REASONING_EFFORTS),
            demo_tokens_per_second=reader.number("DEMO_TOKENS_PER_SECOND", cls.demo_tokens_per_second),
            openai_api_key=reader.optional("OPENAI_API_KEY"),
            openai_model=reader.text("OPENAI_MODEL", cls.openai_model),
            openai_base_url=reader.url("OPENAI_BASE_URL"),
            azure_openai_endpoint=reader.url("AZURE_OPENAI_ENDPOINT"),
            azure_openai_deployment=reader.optional("AZURE_OPENAI_DEPLOYMENT"),
            azure_openai_api_key=reader.optional("AZURE_OPENAI_API_KEY"),
            azure_openai_api_version=reader.text("AZURE_OPENAI_API_VERSION", cls.azure_openai_api_version),
            azure_client_id=reader.optional("AZURE_CLIENT_ID"),
            model_timeout_seconds=reader.number("MODEL_TIMEOUT_SECONDS", cls.model_timeout_seconds, minimum=0.1),
            max_model_steps=int(reader.number("MAX_MODEL_STEPS", cls.max_model_steps, minimum=1)),
            step_max_attempts=int(reader.number("STEP_MAX_ATTEMPTS", cls.step_max_attempts, minimum=1)),
            step_retry_interval_ms=int(reader.number("STEP_RETRY_INTERVAL_MS", cls.step_retry_interval_ms, minimum=1)),
            stream_max_seconds=reader.number("STREAM_MAX_SECONDS", cls.stream_max_seconds, minimum=0.1),
            stream_heartbeat_seconds=reader.number(
                "STREAM_HEARTBEAT_SECONDS", cls.stream_heartbeat_seconds, minimum=0.1
            ),
            stream_write_timeout_seconds=reader.number(
                "STREAM_WRITE_TIMEOUT_SECONDS", cls.stream_write_timeout_seconds, minimum=0.1
            ),
            stream_retry_ms=int(reader.number("STREAM_RETRY_MS", cls.stream_retry_ms, minimum=0)),
            max_request_bytes=int(reader.number("MAX_REQUEST_BYTES", cls.max_request_bytes, minimum=1)),
            max_message_chars=int(reader.number("MAX_MESSAGE_CHARS", cls.max_message_chars, minimum=1)),
            client_tool_timeout_seconds=reader.number(
                "CLIENT_TOOL_TIMEOUT_SECONDS", cls.client_tool_timeout_seconds, minimum=0.1
            ),
            orchestration_start_grace_seconds=reader.number(
                "ORCHESTRATION_START_GRACE_SECONDS", cls.orchestration_start_grace_seconds
            ),
            api_auth=read_api_auth(env),
            stream_token_secret=env.get("STREAM_TOKEN_SECRET", "").strip(),
            stream_token_ttl_seconds=reader.number("STREAM_TOKEN_TTL_SECONDS", cls.stream_token_ttl_seconds, minimum=1),
            cors_allowed_origins=reader.origins("CORS_ALLOWED_ORIGINS"),
            max_concurrent_streams=int(reader.number("MAX_CONCURRENT_STREAMS", cls.max_concurrent_streams, minimum=1)),
            purge_schedule=read_purge_schedule(env),
        )
        secret = settings.stream_token_secret
        if settings.api_auth != "none" and not secret:
            raise ConfigError(
                f"Config 'STREAM_TOKEN_SECRET' is not set. API_AUTH={settings.api_auth} needs it to sign stream "
                "tokens: set a random value of at least 32 characters (e.g. `openssl rand -base64 48`)."
            )
        if secret and len(secret) < STREAM_TOKEN_SECRET_MIN_CHARS:
            raise ConfigError(
                f"Config 'STREAM_TOKEN_SECRET' is {len(secret)} characters long. "
                f"Use a random value of at least {STREAM_TOKEN_SECRET_MIN_CHARS} characters."
            )
        if settings.stream_max_seconds >= 230:
            raise ConfigError(
                f"Config 'STREAM_MAX_SECONDS' has value '{settings.stream_max_seconds:g}'. "
                "It must stay below Azure's 230 s HTTP response limit."
            )
        if settings.event_store == "table":
            _check_table_storage(settings)
        _check_model_settings(settings)
        return settings


def _table_uri_of_account(account: str | None) -> str | None:
    return None if account is None else f"https://{account}.table.core.windows.net"


def _check_table_storage(settings: Settings) -> None:
    if settings.storage_table_uri is None and settings.storage_connection_string is None:
        raise ConfigError(
            "Config 'EVENT_STORE' is 'table' but the storage account is not set. Set 'AzureWebJobsStorage' "
            "to a connection string ('UseDevelopmentStorage=true' for Azurite), or "
            "'AzureWebJobsStorage__tableServiceUri' for an identity-based connection."
        )
    credential = settings.storage_credential
    if credential is not None and credential.lower() != "managedidentity":
        raise ConfigError(
            f"Config 'AzureWebJobsStorage__credential' has value '{credential}'. Expected managedidentity, "
            "or leave it unset to use DefaultAzureCredential."
        )


def _check_model_settings(settings: Settings) -> None:
    if settings.model_provider == "openai" and not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError(
            "Config 'OPENAI_API_KEY' is missing. MODEL_PROVIDER=openai needs it "
            "(or OPENAI_BASE_URL, for a compatible server that takes no key)."
        )
    if settings.model_provider == "azure_openai":
        for name, value in (
            ("AZURE_OPENAI_ENDPOINT", settings.azure_openai_endpoint),
            ("AZURE_OPENAI_DEPLOYMENT", settings.azure_openai_deployment),
        ):
            if not value:
                raise ConfigError(f"Config '{name}' is missing. MODEL_PROVIDER=azure_openai needs it.")


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()


def read_api_auth(env: Mapping[str, str] | None = None) -> str:
    """API_AUTH alone: the function app reads it at import time, to set its triggers' auth levels."""
    return _Reader(os.environ if env is None else env).choice("API_AUTH", Settings.api_auth, API_AUTH_MODES)


@dataclass(frozen=True, kw_only=True)
class TelemetrySettings:
    """Application Insights export, read once when the function app is imported."""

    connection_string: str = field(default="", repr=False)
    entra_ingestion: bool = False
    entra_client_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelemetrySettings:
        env = os.environ if env is None else env
        # The standard setting for identity-based ingestion: "Authorization=AAD[;ClientId=<user-assigned id>]".
        auth = dict(
            part.split("=", 1)
            for part in env.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "").split(";")
            if "=" in part
        )
        entra = auth.get("Authorization", "").strip().upper() == "AAD"
        if auth and not entra:
            raise ConfigError(
                "Config 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING' must be 'Authorization=AAD' "
                "or 'ClientId=<client id>;Authorization=AAD'."
            )
        return cls(
            connection_string=env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip(),
            entra_ingestion=entra,
            entra_client_id=auth.get("ClientId", "").strip() or None,
        )


def read_purge_schedule(env: Mapping[str, str] | None = None) -> str:
    """PURGE_SCHEDULE alone: a timer trigger's schedule is fixed when the function app is indexed."""
    value = _Reader(os.environ if env is None else env).text("PURGE_SCHEDULE", Settings.purge_schedule)
    if len(value.split()) != 6:
        raise ConfigError(
            f"Config 'PURGE_SCHEDULE' has value '{value}'. Expected an NCRONTAB expression with 6 fields "
            "(second minute hour day month day-of-week), e.g. '0 17 3 * * *'."
        )
    return value


@dataclass(frozen=True, slots=True)
class Setting:
    """An app setting read each time it is used, so the value never sits in code or in an object's repr,
    and a rotated secret (e.g. a Key Vault reference) is picked up. Made by `setting()`."""

    name: str
    prefix: str = ""

    def read(self, env: Mapping[str, str] | None = None) -> str:
        value = (os.environ if env is None else env).get(self.name, "").strip()
        if not value:
            raise ConfigError(f"Config '{self.name}' is not set. Set it in the app settings (or local.settings.json).")
        return self.prefix + value


def setting(name: str, *, prefix: str = "") -> Setting:
    """The app setting `name` as a value read when it is needed: `setting("MCP_TOKEN", prefix="Bearer ")`."""
    return Setting(name, prefix)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name, "").strip()
        return value or default

    def optional(self, name: str) -> str | None:
        return self._env.get(name, "").strip() or None

    def table_prefix(self, name: str, default: str) -> str:
        value = self.text(name, default)
        # Table names are 3-63 letters and digits starting with a letter; the store adds up to 7.
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,55}", value):
            raise ConfigError(
                f"Config '{name}' has value '{value}'. Use 1-56 letters and digits, starting with a letter."
            )
        return value

    def url(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not value.startswith(("http://", "https://")):
            raise ConfigError(f"Config '{name}' has value '{value}'. Expected an http:// or https:// URL.")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"Config '{name}' has value '{value}'. Expected one of {', '.join(choices)}.")
        return value

    def optional_choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        return self.choice(name, "", choices) if self.optional(name) else None

    def origins(self, name: str) -> tuple[str, ...]:
        """Comma-separated origins (`scheme://host[:port]`), or `*` for any."""
        origins = []
        for item in self._env.get(name, "").split(","):
            origin = item.strip().rstrip("/").lower()
            if not origin:
                continue
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
                raise ConfigError(
                    f"Config '{name}' has origin '{item.strip()}'. Expected scheme://host[:port] "
                    "(no path), e.g. https://app.example.com, or * for any origin."
                )
            origins.append(origin)
        return tuple(origins)

    def duration(self, name: str, default: float) -> float:
        """Seconds, written as a number or with a unit: `90`, `90s`, `15m`, `12h`, `7d`."""
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        unit = _DURATION_UNITS.get(raw[-1])
        try:
            value = float(raw[:-1] if unit else raw) * (unit or 1)
        except ValueError:
            raise ConfigError(
                f"Config '{name}' has value '{raw}'. Expected seconds, or a number with s, m, h or d (e.g. 7d)."
            ) from None
        if not 0 < value < math.inf:
            raise ConfigError(f"Config '{name}' has value '{raw}'. It must be a finite duration above 0.")
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
