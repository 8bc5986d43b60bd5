"""Every setting the app reads is documented and deployed.

The names come from the code itself: `Settings.from_env` reads through `_Reader`, and any other
module reading the environment directly is found too. Each must be in local.settings.json.example,
in the settings table of docs/settings.md and in the Bicep app settings, unless listed below with its reason.
"""

from __future__ import annotations

import ast
import json
import re

from tests.infra.bicep import ROOT, app_settings, parse

APP_SOURCES = [
    ROOT / "function_app.py",
    *sorted((ROOT / "agentstream").rglob("*.py")),
    *sorted((ROOT / "api").rglob("*.py")),
    *sorted((ROOT / "orchestrators").rglob("*.py")),
]
SETTING_NAME = re.compile(r"[A-Z][A-Za-z0-9]*(?:_{1,2}[A-Za-z0-9]+)*")

# Settings the Bicep sets to a fixed value other than the local default.
DEPLOYED_OTHERWISE = {
    "API_AUTH": "Azure callers need a function key",
    "AzureWebJobsStorage__credential": "the host and the Table store sign in with the user-assigned identity",
}

# Settings the Bicep leaves out on purpose; docs/deploy.md names each of them.
NOT_DEPLOYED = {
    "EVENT_STORE_PATH": "the SQLite store serves devhost; Azure uses Table storage or Redis",
    "AzureWebJobsStorage": "a connection string carries the account key; Azure uses the identity-based settings",
    "AzureWebJobsStorage__accountName": "the short identity-based form; the Bicep sets the service URIs",
    "OPENAI_API_KEY": "the openai provider is not deployed; its key belongs in Key Vault, added by the operator",
    "OPENAI_MODEL": "the openai provider is not deployed",
    "OPENAI_BASE_URL": "the openai provider is not deployed",
    "AZURE_OPENAI_API_KEY": "the deployed Azure OpenAI account has key auth off; the app uses its managed identity",
}


def _reads_environment(receiver: str) -> bool:
    lowered = receiver.lower()
    return lowered == "reader" or "env" in lowered


def settings_read_by_the_app() -> dict[str, set[str]]:
    """Setting name -> the files that read it."""
    found: dict[str, set[str]] = {}
    for path in APP_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            name = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                function = node.func
                if isinstance(function, ast.Attribute) and _reads_environment(ast.unparse(function.value)):
                    name = node.args[0].value
                elif ast.unparse(function) in {"os.getenv", "getenv"}:
                    name = node.args[0].value
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                if _reads_environment(ast.unparse(node.value)):
                    name = node.slice.value
            if isinstance(name, str) and SETTING_NAME.fullmatch(name):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def example_settings() -> set[str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    return set(values)


SETTINGS_DOC = ROOT / "docs" / "settings.md"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def documented_settings_table() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", SETTINGS_DOC.read_text(), flags=re.MULTILINE))


def documented_defaults() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", SETTINGS_DOC.read_text(), flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_the_scan_finds_the_settings_the_app_is_known_to_read():
    read = settings_read_by_the_app()
    assert {"EVENT_STORE", "MODEL_PROVIDER", "STREAM_MAX_SECONDS", "MAX_REQUEST_BYTES"} <= set(read)
    assert read["EVENT_STORE"] == {"agentstream/config.py"}


def test_every_setting_the_app_reads_is_in_the_example_file():
    missing = {name: files for name, files in settings_read_by_the_app().items() if name not in example_settings()}
    assert not missing, f"add to local.settings.json.example: {missing}"


def test_every_setting_the_app_reads_is_in_the_settings_table():
    missing = {
        name: files for name, files in settings_read_by_the_app().items() if name not in documented_settings_table()
    }
    assert not missing, f"add to the settings table in docs/settings.md: {missing}"


def test_every_setting_the_app_reads_is_deployed_by_the_bicep_or_says_why_not():
    deployed = set(app_settings())
    missing = {
        name: files
        for name, files in settings_read_by_the_app().items()
        if name not in deployed and name not in NOT_DEPLOYED
    }
    assert not missing, f"add to the app settings in infra/app/api.bicep, or to NOT_DEPLOYED with a reason: {missing}"


def test_settings_left_out_of_the_bicep_are_read_undeployed_and_named_in_the_deploy_doc():
    read = settings_read_by_the_app()
    deploy_doc = DEPLOY_DOC.read_text()
    for name in NOT_DEPLOYED:
        assert name in read, f"{name} is no longer read; drop it from NOT_DEPLOYED"
        assert name not in app_settings(), f"{name} is deployed; drop it from NOT_DEPLOYED"
        assert f"`{name}`" in deploy_doc, f"docs/deploy.md should say why {name} is not deployed"


def test_the_example_file_and_settings_table_agree():
    # Host-only settings (FUNCTIONS_WORKER_RUNTIME for func start) may be in the example alone.
    assert documented_settings_table() - example_settings() == set()


def test_fixed_values_in_the_bicep_are_the_documented_defaults():
    parameters = parse("app/api.bicep")["parameters"]
    defaults = documented_defaults()
    differing = {}
    for name, values in app_settings().items():
        value = values[0]
        fixed = len(values) == 1 and isinstance(value, str) and value not in parameters and "${" not in value
        if fixed and name in defaults and name not in DEPLOYED_OTHERWISE and defaults[name] != f"`{value}`":
            differing[name] = (value, defaults[name])
    assert not differing, f"Bicep value and documented default differ: {differing}"
    assert set(DEPLOYED_OTHERWISE) <= set(app_settings())
