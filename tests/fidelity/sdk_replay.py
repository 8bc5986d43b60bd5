"""Replays the azure-functions-durable SDK's own orchestrator test scenarios through devhost's engine.

Run as a script, in an interpreter of its own: `python tests/fidelity/sdk_replay.py <sdist folder>`. The SDK's
tests are a package named `tests`, like ours, so the sdist's folder goes first on the path and this repository's
last (for `devhost`). It prints one JSON object per scenario.

A scenario is one call of the SDK tests' `get_orchestration_state_result(context_builder, orchestrator)`: a
history the SDK's authors wrote and the orchestrator state their test expects from it (what the test passes to
`assert_orchestration_state_equals`, or else what the SDK returned, which the test then checked its own way).
devhost replays it as its engine runs an instance: the history's ExecutionStarted starts it, then every message
event of the history (completions, failures, fired timers, raised events) is one episode; devhost writes its own
decision events. Compared with the test's expectations:

- the decisions: devhost's TaskScheduled/TimerCreated events (kind, sequence id, activity name) must begin with
  the ones of the test's history;
- the last episode's orchestrator state: isDone, output, error, customStatus, and the actions (functionName, input,
  actionType, the fields the SDK tests compare), flattened, since devhost speaks the extension's schema V2/V3,
  where one cumulative list holds what V1 splits per yield;
- the instance's status: Failed (with the extension's "Orchestrator function '<name>' failed: <error>") when the
  state has an error, Completed or ContinuedAsNew when done, else Running.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DECISIONS = {4: "TaskScheduled", 7: "SubOrchestrationInstanceCreated", 10: "TimerCreated", 14: "EventSent"}
MESSAGES = {
    5,
    6,
    8,
    9,
    11,
    15,
}  # TaskCompleted/Failed, SubOrchestrationInstanceCompleted/Failed, TimerFired, EventRaised
ORCHESTRATOR_STARTED = 12
LEAF_ACTION_FIELDS = ("functionName", "input", "actionType")


@dataclass
class Scenario:
    id: str
    context: dict[str, Any]
    handle: Any
    sdk_result: dict[str, Any]
    expected: dict[str, Any] | None = None


@dataclass
class Recorder:
    scenarios: list[Scenario] = field(default_factory=list)
    test_id: str = ""

    def wrap_get_result(self, original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def recorded(context_builder: Any, user_code: Any, uses_pystein: bool = False) -> dict[str, Any]:
            import azure.durable_functions as df

            result = original(context_builder, user_code, uses_pystein)
            handle = user_code._function._func if uses_pystein else df.Orchestrator.create(user_code)
            number = sum(s.id.startswith(self.test_id + "#") for s in self.scenarios) + 1
            context = json.loads(context_builder.to_json_string())
            self.scenarios.append(Scenario(f"{self.test_id}#{number}", context, handle, result))
            return result

        return recorded

    def wrap_assert_equals(self, original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def recorded(expected: Any, result: Any) -> None:
            if self.scenarios and self.scenarios[-1].id.startswith(self.test_id + "#"):
                self.scenarios[-1].expected = json.loads(json.dumps(expected, default=str))
            original(expected, result)

        return recorded


def parameter_sets(test: Callable[..., Any]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    if not marks:
        yield "", ()
        return
    [mark] = marks
    for index, values in enumerate(mark.args[1]):
        yield f"[{index}]", tuple(values) if isinstance(values, tuple | list) else (values,)


def collect(sdist: Path) -> tuple[list[Scenario], list[dict[str, str]]]:
    recorder = Recorder()
    failures: list[dict[str, str]] = []
    for path in sorted((sdist / "tests" / "orchestrator").glob("test_*.py")):
        module = importlib.import_module(f"tests.orchestrator.{path.stem}")
        if hasattr(module, "get_orchestration_state_result"):
            module.get_orchestration_state_result = recorder.wrap_get_result(module.get_orchestration_state_result)
        if hasattr(module, "assert_orchestration_state_equals"):
            module.assert_orchestration_state_equals = recorder.wrap_assert_equals(
                module.assert_orchestration_state_equals
            )
        for test_name in sorted(n for n in vars(module) if n.startswith("test_")):
            test = getattr(module, test_name)
            if not callable(test):
                continue
            for suffix, arguments in parameter_sets(test):
                recorder.test_id = f"{path.stem}::{test_name}{suffix}"
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        test(*arguments)
                except Exception:
                    failures.append({"id": recorder.test_id, "error": traceback.format_exc(limit=2)})
    return recorder.scenarios, failures


class _AnyActivity:
    """The SDK's tests call activities that exist nowhere: every name counts as a registered activity."""

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def replay(scenario: Scenario) -> dict[str, Any]:
    """Run the scenario's history through devhost's engine; returns the verdict."""
    from devhost.durable import events as ev
    from devhost.durable.episode import run_episode

    history_in = scenario.context["history"]
    started = dict(history_in[1])
    name = str(started.get("Name") or "orchestrator")
    test_input = scenario.context.get("input")
    started["Input"] = None if test_input is None else json.dumps(test_input)
    started.setdefault("Version", "")
    # Each message with the time of the test's episode that received it (the orchestrator's clock).
    episode_time = history_in[0]["Timestamp"]
    deliveries = [(started, episode_time)]
    for event in history_in[2:]:
        if event["EventType"] == ORCHESTRATOR_STARTED:
            episode_time = event["Timestamp"]
        elif event["EventType"] in MESSAGES:
            deliveries.append((dict(event), episode_time))
    history: list[dict[str, Any]] = []
    result = None
    for event, when in deliveries:
        result = run_episode(
            name=name,
            instance_id=str(scenario.context.get("instanceId") or "instance"),
            handle_fn=scenario.handle,
            history=history,
            new_event=event,
            now=ev.parse_event_time(when),
            activity_names=_AnyActivity(),
        )
        if result.status == "ContinuedAsNew":
            break
        history += result.events
        if result.status != "Running":
            break
    assert result is not None
    expected = scenario.expected if scenario.expected is not None else scenario.sdk_result
    problems = _compare_decisions(history_in, history) + _compare_state(expected, result.orchestrator_state)
    problems += _compare_status(name, expected, result)
    return {
        "id": scenario.id,
        "verdict": "same" if not problems else "different",
        "expected_from": "test" if scenario.expected is not None else "sdk",
        "problems": problems,
    }


def _decisions(history: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [
        (DECISIONS[e["EventType"]], int(e["EventId"]), str(e.get("Name") or ""))
        for e in history
        if e["EventType"] in DECISIONS
    ]


def _compare_decisions(test_history: list[dict[str, Any]], devhost_history: list[dict[str, Any]]) -> list[str]:
    # DTFx matches decisions to the history by sequence id, so their order within the history does not count.
    wanted, made = sorted(_decisions(test_history), key=_by_id), sorted(_decisions(devhost_history), key=_by_id)
    if made[: len(wanted)] != wanted:
        return [f"decisions: the test's history has {wanted}, devhost wrote {made}"]
    return []


def _by_id(decision: tuple[str, int, str]) -> int:
    return decision[1]


def _leaves(actions: Any) -> list[dict[str, Any]]:
    leaves: list[dict[str, Any]] = []
    for action in actions or []:
        if isinstance(action, list):
            leaves += _leaves(action)
        elif action.get("compoundActions"):
            leaves += _leaves(action["compoundActions"])
        else:
            leaves.append({k: action.get(k) for k in LEAF_ACTION_FIELDS if k in action})
    return leaves


def _compare_state(expected: dict[str, Any], state: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("isDone", "output", "error", "customStatus"):
        if expected.get(key) != state.get(key):
            problems.append(f"{key}: expected {expected.get(key)!r}, devhost's replay gave {state.get(key)!r}")
    if _leaves(expected.get("actions")) != _leaves(state.get("actions")):
        problems.append(f"actions: expected {_leaves(expected.get('actions'))}, got {_leaves(state.get('actions'))}")
    return problems


def _compare_status(name: str, expected: dict[str, Any], result: Any) -> list[str]:
    if expected.get("error") is not None:
        wanted, output = "Failed", f"Orchestrator function '{name}' failed: {expected['error']}"
        if (result.status, result.output) != (wanted, output):
            return [f"status: expected Failed with {output!r}, devhost has {result.status} {result.output!r}"]
        return []
    if expected.get("isDone"):
        if result.status not in ("Completed", "ContinuedAsNew"):
            return [f"status: expected the instance done, devhost has {result.status} {result.output!r}"]
        return []
    if result.status != "Running":
        return [f"status: expected the instance running, devhost has {result.status} {result.output!r}"]
    return []


def main(sdist: Path, repo: Path) -> None:
    sys.path[:0] = [str(sdist)]
    sys.path.append(str(repo))
    scenarios, failures = collect(sdist)
    for failure in failures:
        print(json.dumps({"id": failure["id"], "verdict": "sdk test failed", "problems": [failure["error"]]}))
    for scenario in scenarios:
        try:
            verdict = replay(scenario)
        except Exception:
            verdict = {"id": scenario.id, "verdict": "error", "problems": [traceback.format_exc(limit=3)]}
        print(json.dumps(verdict))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(__file__).resolve().parents[2])
