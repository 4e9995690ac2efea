"""The client part of docs/testing.md cannot go stale: every ```python block runs,
in order, in one namespace, and the state machines it defines pass."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from tests.testing.docpage import parts, python_blocks


def test_every_python_block_runs() -> None:
    text = parts()["client"]
    blocks = python_blocks(text)
    assert blocks, "the client part has no python block"
    namespace: dict[str, object] = {"__name__": "docs_testing_client"}
    for block in blocks:
        exec(compile(block, "<docs/testing.md: client>", "exec"), namespace)
    machines = [
        value
        for value in namespace.values()
        if isinstance(value, type)
        and issubclass(value, RuleBasedStateMachine)
        and value.__module__ == namespace["__name__"]
    ]
    assert machines or "RuleBasedStateMachine" not in text
    for machine in machines:
        run_state_machine_as_test(
            machine, settings=settings(max_examples=20, deadline=None, database=None)
        )
