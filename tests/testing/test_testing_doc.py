"""docs/testing.md: every python block belongs to a part whose test runs it,
and the conformance part's blocks run (the other parts have tests of their own:
test_sink_docs.py, test_strategies_doc.py, test_client_doc.py)."""

from __future__ import annotations

import contextlib
import io
import re

from tests.testing.docpage import PAGE, part_blocks, parts, python_blocks


def test_every_python_block_is_in_a_part() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert list(parts()) == ["sink", "strategies", "client", "conformance"]
    in_parts = sum(len(python_blocks(part)) for part in parts().values())
    assert in_parts == len(python_blocks(text)) == len(re.findall(r"^```python$", text, re.M))


def test_the_readme_links_the_page() -> None:
    readme = (PAGE.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "(docs/testing.md)" in readme


def test_conformance_blocks_run() -> None:
    blocks = part_blocks("conformance")
    assert blocks
    for block in blocks:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block, str(PAGE), "exec"), {"__name__": "docs_testing_conformance"})
        assert re.search(r"^\d+ passed, 0 failed, \d+ skipped$", printed.getvalue(), re.M)
