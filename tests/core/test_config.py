from __future__ import annotations

import pytest

from agentstream.config import EVENT_STORES, Settings
from agentstream.exceptions import ConfigError
from agentstream.log.stores import BACKENDS


def test_model_settings_have_their_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.model_provider == "demo"
    assert settings.openai_model == "gpt-4o-mini"
    assert settings.azure_openai_api_version == "2024-10-21"
    assert settings.model_timeout_seconds == 60
    assert settings.client_tool_timeout_seconds == 300


def test_every_event_store_the_settings_accept_has_a_backend() -> None:
    assert tuple(BACKENDS) == EVENT_STORES
    assert Settings.from_env({"EVENT_STORE": "redis"}).event_store == "redis"
    with pytest.raises(ConfigError, match="Config 'EVENT_STORE' has value 'kafka'"):
        Settings.from_env({"EVENT_STORE": "kafka"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODEL_PROVIDER": "anthropic"}, "Config 'MODEL_PROVIDER' has value 'anthropic'"),
        ({"MODEL_PROVIDER": "openai"}, "Config 'OPENAI_API_KEY' is missing"),
        ({"MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": "localhost:8000"}, "Expected an http:// or https:// URL"),
        (
            {"MODEL_PROVIDER": "azure_openai", "AZURE_OPENAI_DEPLOYMENT": "d"},
            "Config 'AZURE_OPENAI_ENDPOINT' is missing",
        ),
        (
            {"MODEL_PROVIDER": "azure_openai", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"},
            "Config 'AZURE_OPENAI_DEPLOYMENT' is missing",
        ),
        ({"MODEL_TIMEOUT_SECONDS": "0"}, "Config 'MODEL_TIMEOUT_SECONDS' has value '0'"),
        ({"CLIENT_TOOL_TIMEOUT_SECONDS": "soon"}, "Config 'CLIENT_TOOL_TIMEOUT_SECONDS' has value 'soon'"),
    ],
)
def test_bad_model_settings_are_refused_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_an_openai_compatible_server_needs_no_key_and_keys_stay_out_of_reprs() -> None:
    local = Settings.from_env({"MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    assert local.openai_api_key is None
    keyed = Settings.from_env({"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "sk-secret"})
    assert "sk-secret" not in repr(keyed)
