"""The OpenAPI document: served, checked in, complete, and true — schemathesis fuzzes devhost against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agentstream.http.fallback import allowed_methods
from agentstream.http.openapi import openapi_document, render
from devhost.functions import load_functions, trigger_of
from tests.harness import ROOT, Devhost

DOCUMENT = ROOT / "docs" / "openapi.json"
# Routes of the app that are not the API: the chat page, CORS preflights and the catch-all answering the rest.
NOT_DOCUMENTED = {"chat_page", "cors_preflight", "unmatched_route"}


@pytest.fixture(scope="module")
def fuzzed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = Devhost(tmp_path_factory.mktemp("fuzzed") / "data", {"DEMO_TOKENS_PER_SECOND": "20000"}).start()
    yield host
    host.stop()


def test_the_checked_in_document_is_what_the_app_serves(fuzzed_host: Devhost) -> None:
    served = requests.get(f"{fuzzed_host.url}/api/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is stale: run `make openapi`"
    assert served.json() == json.loads(DOCUMENT.read_text())
    assert served.json()["openapi"].startswith("3.1.")
    # Against the OpenAPI 3.1 meta-schema (schemathesis carries it).
    schemathesis.openapi.from_dict(served.json()).validate()


def test_every_http_route_of_the_app_is_documented_with_its_methods() -> None:
    checked = []
    for fn in load_functions("function_app"):
        trigger = trigger_of(fn)
        if trigger.type != "httpTrigger" or fn.get_function_name() in NOT_DOCUMENTED:
            continue
        path = "/" + str(trigger.route).replace("{", "{x").strip("/")
        methods = {str(getattr(m, "value", m)).upper() for m in trigger.methods}
        assert methods <= set(allowed_methods(path)), (fn.get_function_name(), path, allowed_methods(path))
        checked.append(fn.get_function_name())
    assert {"start_run", "stream_thread", "get_thread", "cancel_run", "run_agui", "health"} <= set(checked)


def errors_are_json(ctx: Any, response: Any, case: Any) -> None:
    """No refusal in any other shape: JSON `{"error": {"code", "message"}}`."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/json"), f"{response.status_code} answered as {content_type!r}"
    error = json.loads(response.content)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error


# The pytest plugin of schemathesis reads a pytest internal that pytest 9 dropped: the operations are driven
# with hypothesis directly. The document is the one the app serves (see the first test).
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_dict(openapi_document()).get_all_operations()]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    errors_are_json,
]


# Positive: requests the document allows. Negative: requests it does not (wrong types, missing fields, bad
# path and query values), which must be refused with a JSON 4xx, never a 500; an operation without inputs has none.
FUZZED = [(operation, GenerationMode.POSITIVE) for operation in OPERATIONS] + [
    (operation, GenerationMode.NEGATIVE)
    for operation in OPERATIONS
    if operation.definition.raw.get("parameters") or "requestBody" in operation.definition.raw
]


@pytest.mark.parametrize(
    ("operation", "mode"), FUZZED, ids=lambda value: getattr(value, "label", None) or getattr(value, "value", "")
)
def test_the_api_keeps_to_its_document_under_generated_requests(
    operation: Any, mode: GenerationMode, fuzzed_host: Devhost
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        case.call_and_validate(base_url=f"{fuzzed_host.url}/api", timeout=30, checks=CHECKS)

    call()


def test_calls_along_the_documents_links_keep_to_it(fuzzed_host: Devhost) -> None:
    """Start a run with a generated body, then follow the 202's links (status, stream, cancel, tool results)
    with generated queries and bodies: the stream and status answers of real threads are checked too."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    start = schema["/agent/run"]["POST"]
    links = start.definition.raw["responses"]["202"]["links"]
    by_id = {operation.definition.raw.get("operationId"): operation for operation in OPERATIONS}
    followed = [by_id[link["operationId"]] for link in links.values()]
    base_url = f"{fuzzed_host.url}/api"

    @given(data=st.data())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def scenario(data: st.DataObject) -> None:
        started = data.draw(start.as_strategy()).call_and_validate(base_url=base_url, timeout=30, checks=CHECKS)
        if started.status_code != 202:
            return
        ids = started.json()
        for operation in followed:
            names = {parameter["name"] for parameter in operation.definition.raw.get("parameters", [])}
            path = {name: ids[name] for name in ("thread_id", "run_id") if name in names}
            case = data.draw(operation.as_strategy(path_parameters=path))
            case.call_and_validate(base_url=base_url, timeout=30, checks=CHECKS)

    scenario()
