"""An outside conformance suite: the azure-functions-durable SDK's own orchestrator tests, replayed through devhost.

The histories and expected states come from the SDK's authors, not from devhost, so they can catch devhost
being wrong where our own recordings cannot. The sdist of the installed SDK version holds them: besides the
package, `tests/orchestrator/test_*.py` (orchestrator scenarios built with `tests/test_utils/ContextBuilder.py`
and compared with `orchestrator_test_utils.assert_orchestration_state_equals`), `tests/models/`, `tests/tasks/`
and entity tests. pip fetches it at test time into `.cache/` (git-ignored) and reuses it after that.

tests/fidelity/sdk_replay.py runs every scenario through devhost's engine (its module docstring says how) in an
interpreter of its own. Every scenario must come out the same, except those below, each with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT

SDK = "azure-functions-durable"
CACHE = ROOT / ".cache" / "durable-sdk"
REPLAY = Path(__file__).with_name("sdk_replay.py")

UNSUPPORTED_HTTP = "devhost does not run durable HTTP calls (call_http): it fails the instance at once, saying so"
UNSUPPORTED_ENTITIES = "devhost does not run durable entities (call_entity, signal_entity): it fails the instance"
UNSUPPORTED_SUB_ORCHESTRATIONS = "devhost does not run sub-orchestrations: it fails the instance, saying so"
# Scenario id prefixes (module::test, or module::) and why they are left out.
EXCLUDED: dict[str, str] = {
    "test_call_http::": UNSUPPORTED_HTTP,
    "test_entity::": UNSUPPORTED_ENTITIES,
    "test_sub_orchestrator::": UNSUPPORTED_SUB_ORCHESTRATIONS,
    "test_sub_orchestrator_with_retry::": UNSUPPORTED_SUB_ORCHESTRATIONS,
    "test_expected_type::test_call_sub_orchestrator_with_expected_type#": UNSUPPORTED_SUB_ORCHESTRATIONS,
    "test_expected_type::test_call_sub_orchestrator_with_retry_expected_type#": UNSUPPORTED_SUB_ORCHESTRATIONS,
    "test_sequential_orchestrator::test_call_activity_with_none_return#": (
        "the test's history names the scheduled activities 'Hello' while its orchestrator calls "
        "'hello_return_none'; the SDK matches by sequence number only, but DTFx compares the names and would fail "
        "the instance as non-deterministic, so devhost's decisions (the orchestrator's names) differ from it"
    ),
    "test_sequential_orchestrator::test_reducing_when_any_pattern#": (
        "the test delivers the three completions in one episode, devhost one per episode; a task_any's action "
        "lists only its children not yet scheduled, so the cumulative actions come out in another order (the "
        "decisions, the output and the status are the same)"
    ),
    "test_sequential_orchestrator::test_reusing_task_in_when_any_pattern#": (
        "as test_reducing_when_any_pattern: the same actions and decisions, listed in another order because devhost "
        "delivers one completion per episode"
    ),
}


def exclusion(scenario_id: str) -> str | None:
    return next((reason for prefix, reason in EXCLUDED.items() if scenario_id.startswith(prefix)), None)


@pytest.fixture(scope="module")
def sdist() -> Path:
    """The installed SDK version's source distribution, unpacked (downloaded once, then kept in .cache/)."""
    pinned = version(SDK)
    unpacked = CACHE / f"azure_functions_durable-{pinned}"
    if not (unpacked / "tests" / "orchestrator").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
            + ["--dest", str(CACHE), f"{SDK}=={pinned}"],
            check=True,
            timeout=300,
        )
        [archive] = CACHE.glob(f"azure_functions_durable-{pinned}.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(CACHE, filter="data")
    return unpacked


@pytest.fixture(scope="module")
def verdicts(sdist: Path) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(REPLAY), str(sdist)], capture_output=True, text=True, check=True, timeout=300
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {row["id"]: row for row in rows}


def test_every_sdk_scenario_replays_through_devhost_as_the_sdk_tests_expect(verdicts: dict[str, Any]) -> None:
    failed = {i: v["problems"] for i, v in verdicts.items() if v["verdict"] == "sdk test failed"}
    assert not failed, f"the SDK's own tests failed under the recorder: {failed}"
    compared = {i: v for i, v in verdicts.items() if exclusion(i) is None}
    different = {i: v["problems"] for i, v in compared.items() if v["verdict"] != "same"}
    assert not different, json.dumps(different, indent=1)
    # Most scenarios count: the orchestrator tests of the pinned SDK hold 93, 59 of them in reach of devhost.
    assert len(compared) >= 55, sorted(verdicts)
    assert sum(v["expected_from"] == "test" for v in compared.values()) >= 40


def test_each_exclusion_still_names_a_scenario_that_differs(verdicts: dict[str, Any]) -> None:
    for prefix in EXCLUDED:
        matching = [v for i, v in verdicts.items() if i.startswith(prefix)]
        assert matching, f"no SDK scenario starts with {prefix!r}: drop the exclusion"
        assert all(v["verdict"] != "same" for v in matching), f"{prefix!r} now replays the same: drop the exclusion"
