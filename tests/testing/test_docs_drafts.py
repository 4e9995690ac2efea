"""The testing docs cannot go stale: every ```python block of the draft runs,
in order, in one namespace, and the state machines it defines pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["_draft_testing_client.md"]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert blocks, f"{page} has no python block"
    opened = re.findall(r"^```python$", text, flags=re.M)
    assert len(opened) == len(blocks)  # none left out by the pattern
    namespace: dict[str, object] = {"__name__": "docs_" + page.replace(".", "_")}
    for block in blocks:
        exec(compile(block, f"{page}", "exec"), namespace)
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
