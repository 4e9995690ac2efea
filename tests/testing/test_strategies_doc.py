"""Every ```python block of the strategies part of docs/testing.md runs, and its tests pass."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import smtpstate
from smtpstate.testing.strategies import bodies, client_sessions
from tests.testing.docpage import part_blocks

BLOCKS = part_blocks("strategies")


def test_the_page_has_python_blocks() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_block_runs_and_its_tests_pass(block: str) -> None:
    namespace: dict[str, Any] = {"__name__": "strategies_page"}
    exec(compile(block, "<docs/testing.md: strategies>", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert tests, "each block defines at least one test"
    for test in tests:
        test()


def test_the_fuzz_example_finds_a_policy_bug() -> None:
    """What the page promises: with hostile bodies, a policy that answers every
    EndOfMessage with 250 fails (send() refuses it for a flagged body)."""
    namespace: dict[str, Any] = {"__name__": "strategies_page"}
    exec(compile(BLOCKS[1], "<docs/testing.md: strategies>", "exec"), namespace)

    def careless(conn: smtpstate.ServerConnection, event: smtpstate.Event) -> smtpstate.Reply:
        if isinstance(event, smtpstate.EndOfMessage):
            return smtpstate.Reply(250, "OK")
        return conn.default_reply()

    namespace["policy"] = careless
    hostile = client_sessions(mistakes=False, message_bodies=bodies(hostile=True))

    @given(hostile, st.data())
    def test_careless(writes: list[bytes], data: st.DataObject) -> None:
        namespace["test_policy_speaks_smtp"].hypothesis.inner_test(writes, data)

    with pytest.raises(smtpstate.LocalProtocolError):
        test_careless()
