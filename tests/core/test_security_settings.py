"""The security settings are validated like every other: a clear ConfigError, never a silent default."""

from __future__ import annotations

import pytest

from agentstream.config import Settings, TelemetrySettings, read_api_auth, read_purge_schedule
from agentstream.exceptions import ConfigError

SECRET = "0123456789abcdef0123456789abcdef"


def test_defaults_leave_auth_off_and_cors_closed() -> None:
    settings = Settings.from_env({})
    assert settings.api_auth == "none" and settings.cors_allowed_origins == ()
    assert settings.stream_token_ttl_seconds == 3600 and settings.max_concurrent_streams == 200
    assert settings.purge_schedule == "0 17 3 * * *"


def test_auth_needs_a_long_enough_stream_token_secret_which_never_shows_in_repr() -> None:
    with pytest.raises(ConfigError, match="STREAM_TOKEN_SECRET' is not set"):
        Settings.from_env({"API_AUTH": "function_key"})
    with pytest.raises(ConfigError, match="at least 32"):
        Settings.from_env({"API_AUTH": "entra", "STREAM_TOKEN_SECRET": "short"})
    settings = Settings.from_env({"API_AUTH": "Function_Key", "STREAM_TOKEN_SECRET": SECRET})
    assert settings.api_auth == "function_key" and SECRET not in repr(settings)
    with pytest.raises(ConfigError, match="API_AUTH"):
        read_api_auth({"API_AUTH": "basic"})


def test_cors_origins_are_normalized_and_checked() -> None:
    settings = Settings.from_env({"CORS_ALLOWED_ORIGINS": " https://App.example.com/ ,http://localhost:3000,"})
    assert settings.cors_allowed_origins == ("https://app.example.com", "http://localhost:3000")
    assert Settings.from_env({"CORS_ALLOWED_ORIGINS": "*"}).cors_allowed_origins == ("*",)
    for bad in ("app.example.com", "https://app.example.com/path", "ftp://x"):
        with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
            Settings.from_env({"CORS_ALLOWED_ORIGINS": bad})


def test_limits_and_schedule_are_checked() -> None:
    with pytest.raises(ConfigError, match="MAX_CONCURRENT_STREAMS"):
        Settings.from_env({"MAX_CONCURRENT_STREAMS": "0"})
    with pytest.raises(ConfigError, match="STREAM_TOKEN_TTL_SECONDS"):
        Settings.from_env({"STREAM_TOKEN_TTL_SECONDS": "soon"})
    assert read_purge_schedule({"PURGE_SCHEDULE": "0 */5 * * * *"}) == "0 */5 * * * *"
    with pytest.raises(ConfigError, match="PURGE_SCHEDULE"):
        read_purge_schedule({"PURGE_SCHEDULE": "*/5 * * * *"})


def test_telemetry_reads_identity_based_ingestion() -> None:
    assert TelemetrySettings.from_env({}).connection_string == ""
    entra = TelemetrySettings.from_env(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=k",
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=abc;Authorization=AAD",
        }
    )
    assert entra.entra_ingestion and entra.entra_client_id == "abc" and "InstrumentationKey" not in repr(entra)
    system = TelemetrySettings.from_env({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD"})
    assert system.entra_ingestion and system.entra_client_id is None
    with pytest.raises(ConfigError, match="APPLICATIONINSIGHTS_AUTHENTICATION_STRING"):
        TelemetrySettings.from_env({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=Key"})
