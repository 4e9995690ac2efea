"""docs/testing.md, read by the tests that run its examples. The page is cut
into parts by ``<!-- part: NAME -->`` comments, one part for each tool; each
part's ``python`` blocks are run by that tool's doc test."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_MARK = re.compile(r"^<!-- part: ([a-z]+) -->$", re.M)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def parts() -> dict[str, str]:
    """Each part's name and text, in page order (the text before the first mark
    is left out)."""
    pieces = _MARK.split(PAGE.read_text(encoding="utf-8"))
    return dict(zip(pieces[1::2], pieces[2::2], strict=True))


def part_blocks(name: str) -> list[str]:
    return python_blocks(parts()[name])
