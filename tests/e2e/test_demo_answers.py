"""The demo app's calculator, typed as people type: through a real run, wherever the tool lives."""

from __future__ import annotations

import pytest

from tests.checks import assistant_texts
from tests.harness import Devhost


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("calculate 2*(3+4).", "Here is what I found: 2*(3+4) = 14."),
        ("Please calculate 1.5*2.", "Here is what I found: 1.5*2 = 3."),
        ("calculate 2***3", "Here is what I found: Error: ValueError: Not an arithmetic expression: '2***3'."),
    ],
)
def test_a_calculation_ending_a_sentence_is_answered_with_one_period(
    devhost: Devhost, message: str, answer: str
) -> None:
    started = devhost.start_run(message)
    status = devhost.wait_idle(started["thread_id"])
    assert status["runs"][0]["status"] == "succeeded"
    assert list(assistant_texts(status["messages"]).values())[-1] == answer
