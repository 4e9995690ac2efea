"""Every ```python block of the smtp_sink part of docs/testing.md runs: a block
that defines tests is a test file run by pytest (with the plugin, as a user
would), any other block is executed as a script."""

from __future__ import annotations

import re

import pytest

from tests.testing.docpage import PAGE, part_blocks
from tests.testing.test_sink import plugin_args

pytest_plugins = ["pytester"]

BLOCKS = part_blocks("sink")


def test_the_guide_has_its_examples() -> None:
    assert len(BLOCKS) >= 6
    five_lines = BLOCKS[0].split("def test_sends_a_message(smtp_sink):\n")[1]
    assert len(five_lines.strip().splitlines()) <= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_block_runs(block: str, pytester: pytest.Pytester) -> None:
    tests = len(re.findall(r"^def test_", block, re.M))
    if tests:
        pytester.makepyfile(block)
        result = pytester.runpytest("--strict-markers", *plugin_args())
        result.assert_outcomes(passed=tests)
    else:
        exec(compile(block, str(PAGE), "exec"), {"__name__": "__guide__"})
