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


class Unresolved(str):
    """A value only Azure knows (a resource property or a module output), kept as its expression."""


def evaluate(relative: str, expression: Any, given: dict[str, Any] | None = None) -> Any:
    """The value of an expression in one file, for parameters set to `given` (the rest at their defaults).

    Covers what the conditions and app settings in infra/ use: names, literals, `${}` interpolation,
    empty(), union(), string(), ==, !, ?: and property access. A property of a resource or module,
    or another function's result, comes back as `Unresolved`: the deployment fills it in, empty()
    takes it as non-empty, and no other condition may depend on it.
    """
    doc = parse(relative)
    given = given or {}
    parameters = doc.get("parameters", {})
    variables = doc.get("variables", {})

    def name(value: str) -> Any:
        if value in given:
            return given[value]
        if value in parameters:
            assert parameters[value].get("default") is not None, f"{relative}: parameter {value} needs a value"
            return parameters[value]["default"]
        if value in variables:
            return walk(variables[value]["value"])
        return None

    def known(value: Any) -> Any:
        assert not isinstance(value, Unresolved), f"{relative}: a condition depends on {value}, known only in Azure"
        return value

    def interpolate(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda match: str(walk(match.group(1))), text)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            resolved = name(node)
            return resolved if resolved is not None else interpolate(node)
        if isinstance(node, bool | int | float) or node is None:
            return node
        if isinstance(node, list):
            return [walk(item) for item in node]
        if "function" in node:
            kind, arguments = node["function"]["type"], node["function"]["parameters"]
            if kind == "empty":
                # A name or endpoint a deployed resource reports is never empty.
                return not walk(arguments["item_to_test"])
            if kind == "union":
                merged: dict[str, Any] = {}
                for argument in arguments.values():
                    merged.update(walk(argument))
                return merged
            if kind == "string":
                return str(walk(arguments["value_to_convert"]))
            return Unresolved(f"{kind}()")
        if "operator" in node:
            kind, operands = node["operator"]["type"], node["operator"]["operands"]
            if kind == "conditional":
                condition = known(walk(operands["condition"]))
                return walk(operands["true_value"] if condition else operands["false_value"])
            if kind == "equals":
                return walk(operands["operand_1"]) == walk(operands["operand_2"])
            if kind == "not":
                return not known(walk(operands["bool_value"]))
            if kind == "property_accessor":
                return Unresolved(dotted(node))
            raise AssertionError(f"{relative}: evaluate() does not know the operator {kind}")
        return {key: walk(value) for key, value in node.items()}

    return walk(expression)


def deployed_modules(given: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modules main.bicep deploys for these parameters, with the parameters each one gets."""
    deployed = {}
    for symbol, module in parse("main.bicep")["modules"].items():
        config = module["config"]
        if "condition" in config and not evaluate("main.bicep", config["condition"], given):
            continue
        deployed[symbol] = evaluate("main.bicep", unconditional(config)["params"], given)
    return deployed


def deployed_app_settings(given: dict[str, Any]) -> dict[str, Any]:
    """The app settings a deployment with these main.bicep parameters gives the function app."""
    api_parameters = deployed_modules(given)["api"]
    config = only_resource("app/api.bicep", "Microsoft.Web/sites/config")
    settings: dict[str, Any] = evaluate("app/api.bicep", config["properties"], api_parameters)
    return settings
