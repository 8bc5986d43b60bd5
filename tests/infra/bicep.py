"""The Bicep in infra/, parsed with pycep (no Bicep CLI or Azure account needed).

pycep turns a file into JSON: identifiers and string literals both become plain strings, function
calls become {"function": {"type", "parameters"}}, and operators {"operator": {"type", "operands"}}.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(relative: str) -> dict[str, Any]:
    parsed: dict[str, Any] = BicepParser().parse(file_path=INFRA / relative)
    return parsed


def unconditional(config: dict[str, Any]) -> dict[str, Any]:
    """The body of a resource or module, whether or not it is deployed under an `if`."""
    body: dict[str, Any] = config["config"] if "condition" in config else config
    return body


def resources_of_type(relative: str, resource_type: str) -> dict[str, dict[str, Any]]:
    """Declared (not `existing`) resources of one type, by symbolic name, as their config."""
    return {
        name: unconditional(resource["config"])
        for name, resource in parse(relative)["resources"].items()
        if resource["type"] == resource_type and not resource["existing"]
    }


def only_resource(relative: str, resource_type: str) -> dict[str, Any]:
    found = resources_of_type(relative, resource_type)
    assert len(found) == 1, f"{relative}: expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def app_settings() -> dict[str, list[Any]]:
    """Every app setting the function app can get, with the value expressions it can take.

    The appsettings config is a union of variables and conditionals; each branch is followed so a
    setting that only some deployments get (Azure OpenAI, Redis) is found too.
    """
    doc = parse("app/api.bicep")
    config = only_resource("app/api.bicep", "Microsoft.Web/sites/config")
    assert config["name"] == "appsettings"
    settings: dict[str, list[Any]] = {}

    def collect(expression: Any) -> None:
        if isinstance(expression, str) and expression in doc.get("variables", {}):
            collect(doc["variables"][expression]["value"])
        elif isinstance(expression, dict) and "function" in expression:
            assert expression["function"]["type"] == "union", expression
            for argument in expression["function"]["parameters"].values():
                collect(argument)
        elif isinstance(expression, dict) and "operator" in expression:
            operands = expression["operator"]["operands"]
            assert expression["operator"]["type"] == "conditional", expression
            collect(operands["true_value"])
            collect(operands["false_value"])
        elif isinstance(expression, dict):
            for name, value in expression.items():
                settings.setdefault(name, []).append(value)
        else:
            raise AssertionError(f"unexpected app settings expression: {expression!r}")

    collect(config["properties"])
    return settings


def module_references(relative: str) -> list[tuple[str, str]]:
    """(module symbol, output name) for every `<module>.outputs.<name>` in a file's text."""
    text = (INFRA / relative).read_text()
    return re.findall(r"\b(\w+)\.outputs\.(\w+)", text)


def dotted(expression: Any) -> str:
    """`a.b.c` for a chain of property accessors; a plain string as it is."""
    if isinstance(expression, str):
        return expression
    operator = expression["operator"]
    assert operator["type"] == "property_accessor", expression
    return f"{operator['operands']['operand_1']}.{dotted(operator['operands']['operand_2'])}"


def decorator(parameter: dict[str, Any], kind: str) -> Any:
    for found in parameter["decorators"]:
        if found["type"] == kind:
            return found.get("argument", True)
    return None
