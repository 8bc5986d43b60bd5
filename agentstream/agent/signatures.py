"""A tool's arguments model and description, read off a plain Python function.

The JSON schema a model sees and the validation of what it sends both come from one pydantic
model, built from the function's signature:

- type hints give the types (`Optional`, `Literal`, enums, lists, nested pydantic models...);
- `Annotated[str, "text"]`, `Annotated[str, Field(description=...)]` or a docstring `Args:`
  section give each argument's description; defaults make an argument optional;
- the docstring's text before its sections is the tool's description.

A parameter annotated with the context type (see `agentstream.agent.tools.ToolContext`) is left out of
the schema: it is filled in by the host, never by the model.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Yields|Raises|Examples?|Notes?):\s*$")
_ARGUMENT = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True, slots=True)
class Signature:
    description: str
    arguments: type[BaseModel]
    context_parameter: str | None


def read_signature(function: Callable[..., Any], *, name: str, context_type: type) -> Signature:
    """The arguments model (named after the tool) and description of `function`."""
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"Tool '{name}': cannot resolve the type hints of {function.__qualname__} ({exc}). "
            "Define the types it uses at module level."
        ) from None
    description, documented = _parse_docstring(inspect.getdoc(function) or "")
    fields: dict[str, Any] = {}
    context_parameter: str | None = None
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"Tool '{name}': *{parameter.name} and **{parameter.name} cannot be described to a model.")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(f"Tool '{name}': positional-only parameter '{parameter.name}' cannot be passed by name.")
        if parameter.name not in hints:
            raise TypeError(f"Tool '{name}': parameter '{parameter.name}' needs a type hint.")
        hint = hints[parameter.name]
        if _unwrap(hint) is context_type:
            context_parameter = parameter.name
            continue
        fields[parameter.name] = _field(hint, parameter, documented.get(parameter.name))
    model_name = "".join(part.capitalize() for part in re.split(r"[_\W]+", name) if part) + "Arguments"
    arguments = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
    return Signature(description, arguments, context_parameter)


def tool_schema(arguments: type[BaseModel]) -> dict[str, Any]:
    """The arguments' JSON schema as a model should see it: no generated titles."""
    schema: dict[str, Any] = _without_titles(arguments.model_json_schema())
    return schema


def _unwrap(hint: Any) -> Any:
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def _field(hint: Any, parameter: inspect.Parameter, documented: str | None) -> tuple[Any, FieldInfo]:
    default = ... if parameter.default is inspect.Parameter.empty else parameter.default
    annotation, description = hint, documented
    if get_origin(hint) is Annotated:
        base, *metadata = get_args(hint)
        # Plain strings in Annotated are descriptions; pydantic's own metadata (Field, constraints) stays.
        texts = [item for item in metadata if isinstance(item, str)]
        kept = [item for item in metadata if not isinstance(item, str)]
        if texts:
            description = " ".join(texts)
        annotation = Annotated[(base, *kept)] if kept else base
    # A description passed as None would hide one given by a Field inside Annotated.
    return annotation, Field(default, description=description) if description is not None else Field(default)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(the text before the first section, {argument: description} from an Args: section)."""
    summary: list[str] = []
    documented: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in doc.splitlines():
        header = _SECTION.match(line.strip())
        if header and not line.startswith((" ", "\t")):
            section, current = header.group(1), None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line.strip():
            argument = _ARGUMENT.match(line.strip())
            indent = len(line) - len(line.lstrip())
            if argument and (current is None or indent <= _indent_of_arguments(doc, section)):
                current = argument.group(1).lstrip("*")
                documented[current] = argument.group(2).strip()
            elif current is not None:
                documented[current] = f"{documented[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), documented


def _indent_of_arguments(doc: str, section: str) -> int:
    """How far the entries of a section are indented: the indent of its first non-blank line."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{section}:")
    for line in lines[start + 1 :]:
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


def _without_titles(node: Any, *, names: bool = False) -> Any:
    """Drop pydantic's generated `title`s; under `properties`/`$defs` the keys are names, kept as they are."""
    if isinstance(node, dict):
        return {
            key: _without_titles(value, names=not names and key in ("properties", "$defs"))
            for key, value in node.items()
            if names or not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    return node
