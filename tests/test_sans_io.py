"""The engine stays sans-I/O: no module of ``smtpstate`` outside
``smtpstate.testing`` imports a module that does I/O, reads a clock, starts a
thread or runs an event loop, and none imports the testing tools.

``smtpstate.testing`` is the exception by design: its sink serves TCP and its
conformance suite connects to servers. It sits beside the engine, which never
imports it (docs/testing.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = sorted((Path(__file__).resolve().parents[1] / "src" / "smtpstate").glob("*.py"))
FORBIDDEN = {
    "asyncio", "concurrent", "datetime", "io", "logging", "multiprocessing", "os",
    "select", "selectors", "signal", "socket", "socketserver", "ssl", "subprocess",
    "threading", "time", "trio",
}  # fmt: skip


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (top-level names; a relative
    import is named with its leading dots)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("path", ENGINE, ids=[p.name for p in ENGINE])
def test_engine_module_imports_no_io(path: Path) -> None:
    names = imported(path)
    assert not {name.split(".")[0] for name in names} & FORBIDDEN, names
    assert not any("testing" in name for name in names), names


def test_importing_the_engine_loads_no_testing_tool() -> None:
    code = "import sys, smtpstate; print(sorted(m for m in sys.modules if 'testing' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import socket\n    from time import monotonic\n")
    assert {"socket", "time"} <= imported(module)
