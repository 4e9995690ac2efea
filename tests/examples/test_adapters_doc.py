"""docs/adapters.md refers to the examples instead of copying them: the files and
names it points at must exist."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import ADAPTERS, EXAMPLES

GUIDE = EXAMPLES.parent / "docs" / "adapters.md"


def test_guide_links_resolve() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    links = re.findall(r"\]\((\.\./examples/[^)]+|[a-z]+\.md)\)", text)
    for name in ADAPTERS:
        assert f"../examples/{name}.py" in links
    for link in links:
        assert (GUIDE.parent / link).resolve().is_file(), link


def test_names_the_guide_cites_exist() -> None:
    """Each "`NAME` in `_module.py`" of the guide is defined in that module."""
    text = GUIDE.read_text(encoding="utf-8")
    cited = re.findall(r"`(?:\w+\.)?(\w+)(?:\(\))?` in `(_\w+\.py)`", text)
    assert {module for _, module in cited} >= {"_config.py", "_policy.py"}
    for name, module in cited:
        source = (EXAMPLES / module).read_text(encoding="utf-8")
        assert re.search(rf"^\s*(def|class) {name}\b|^{name} =", source, re.M), (name, module)
    for adapter in ADAPTERS:
        source = Path(EXAMPLES / f"{adapter}.py").read_text(encoding="utf-8")
        # The protocol loop: serve_client(), or a BufferedProtocol's buffer_updated()
        assert "def serve_client(" in source or "def buffer_updated(" in source
        # asyncio's is the longest: it holds what TLS decrypts before start_tls() returns
        assert len(source.splitlines()) < 190, f"{adapter} should stay short"
