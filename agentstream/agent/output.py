"""Structured output: an agent's `output_type` as the JSON schema its final answer must follow.

```python
class Forecast(BaseModel):
    city: str
    high_c: float

Agent(name="forecaster", output_type=Forecast, ...)
```

The model is asked for JSON in that schema (strict mode, which the APIs enforce as they generate),
and the answer is validated with pydantic before the step commits it: a run's result is always
a valid `Forecast`, as JSON.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from .llm.base import OutputSchema

#: The id suffix of the message that tells the model why its answer did not validate.
CORRECTION_SUFFIX = ".correction"

_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("$defs", "definitions")


@functools.cache
def output_schema(output_type: type[BaseModel]) -> OutputSchema:
    """The schema the model is asked to follow, in the form strict mode takes."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", output_type.__name__)[:64]
    return OutputSchema(name, _strict(output_type.model_json_schema()))


def validate_output(output_type: type[BaseModel], text: str) -> dict[str, Any]:
    """The answer as validated JSON (what the run's result holds). Raises ValidationError."""
    return output_type.model_validate_json(text).model_dump(mode="json")


def validation_problems(error: ValidationError) -> str:
    """What is wrong with an answer, one `field: problem` after the other."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'the answer'}: {e['msg']}" for e in error.errors(include_url=False)
    )


def correction_text(error: ValidationError) -> str:
    """What the model is told when its answer did not validate."""
    return (
        f"Your answer does not match the required JSON schema ({validation_problems(error)}). "
        "Answer again with only the JSON object, following the schema exactly."
    )


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Strict mode wants every object closed and every property required; optional fields stay
    nullable through their own type (`X | None`), and defaults do not apply."""
    if "$ref" in schema:
        # Strict mode takes no keywords beside a reference (pydantic puts a field's description there).
        return {"$ref": schema["$ref"]}
    out = {key: value for key, value in schema.items() if key != "default"}
    if "properties" in out:
        out["properties"] = {name: _strict(sub) for name, sub in out["properties"].items()}
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = _strict(out["items"])
    for key in _SCHEMA_LISTS:
        if key in out:
            out[key] = [_strict(sub) for sub in out[key]]
    for key in _SCHEMA_MAPS:
        if key in out:
            out[key] = {name: _strict(sub) for name, sub in out[key].items()}
    return out
