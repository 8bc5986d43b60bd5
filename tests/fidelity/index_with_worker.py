"""Index function_app.py with the Python worker's own code (azure-functions-runtime), as Azure does at startup.

Run as a script in a fresh process, from the project root. Prints one JSON line: the indexed
functions, or the error the worker would report.
"""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace
from typing import Any


class _Message:
    """Stands in for the generated protobuf message classes the host's gRPC channel would provide."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


# Protobuf enum values of BindingInfo.Direction and DataType, as in the worker's FunctionRpc.proto.
protos = SimpleNamespace(
    BindingInfo=type("BindingInfo", (_Message,), {"in_": 0, "out": 1, "inout": 2, "undefined": 0}),
    RpcFunctionMetadata=_Message,
    RpcRetryOptions=type(
        "RpcRetryOptions", (_Message,), {"RetryStrategy": SimpleNamespace(exponential_backoff=0, fixed_delay=1)}
    ),
)


def main(script: str) -> None:
    os.environ.setdefault("PYTHON_ENABLE_INIT_INDEXING", "1")
    sys.path.insert(0, os.getcwd())
    from azure_functions_runtime import loader
    from azure_functions_runtime.bindings.meta import load_binding_registry
    from azure_functions_runtime.functions import Registry
    from azure_functions_runtime.http_v2 import HttpV2Registry

    load_binding_registry()
    try:
        indexed = loader.index_function_app(os.path.join(os.getcwd(), script))
        metadata, _ = loader.process_indexed_function(protos, Registry(), indexed, os.getcwd())
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    bindings = {m.name: [json.loads(raw) for raw in m.raw_bindings] for m in metadata}
    print(
        json.dumps(
            {
                "http_streams": bool(HttpV2Registry.http_v2_enabled()),
                "functions": {name: [b["type"] for b in found] for name, found in bindings.items()},
                "auth_levels": {
                    name: b["authLevel"]
                    for name, found in bindings.items()
                    for b in found
                    if b["type"] == "httpTrigger"
                },
                "schedules": {
                    name: b["schedule"]
                    for name, found in bindings.items()
                    for b in found
                    if b["type"] == "timerTrigger"
                },
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "function_app.py")
