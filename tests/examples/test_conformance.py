"""The conformance suite (smtpstate.testing.conformance) against the three example
servers, each a real process on loopback with STARTTLS, AUTH, CHUNKING and DSN
on: every case must pass, none may be skipped. And the command line once, end to
end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from smtpstate.testing.conformance import Outcome, run
from smtpstate.testing.conformance.__main__ import format_result

from .conftest import HOST, Server, StartServer

USER, PASSWORD = "joe", "secret"
SUMMARY = re.compile(r"(\d+) passed, (\d+) failed, (\d+) skipped")


def start_full(start_server: StartServer, cert: tuple[Path, Path]) -> Server:
    return start_server(
        "--tls-cert", str(cert[0]), "--tls-key", str(cert[1]), "--auth", f"{USER}:{PASSWORD}",
        "--chunking", "--dsn",
    )  # fmt: skip


def test_every_case_passes(start_server: StartServer, cert: tuple[Path, Path]) -> None:
    server = start_full(start_server, cert)
    results = run(HOST, server.port, tls_ca=str(cert[0]), auth=(USER, PASSWORD), timeout=30)
    assert len(results) >= 150
    not_passed = [format_result(r) for r in results if r.outcome is not Outcome.PASS]
    assert not_passed == []


@pytest.mark.parametrize("adapter", ["socket_server"])  # once: the command line is the same
def test_command_line(start_server: StartServer, cert: tuple[Path, Path]) -> None:
    server = start_full(start_server, cert)
    command = [sys.executable, "-m", "smtpstate.testing.conformance", "--host", HOST,
               "--port", str(server.port), "--tls-ca", str(cert[0]),
               "--auth", f"{USER}:{PASSWORD}", "--timeout", "30"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=900)
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, result.stdout.decode()[-3000:]
    assert [SUMMARY.fullmatch(line) is not None for line in lines].count(True) == 1
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary is not None, lines[-1]
    cases = lines[:-1]
    assert int(summary[1]) == len(cases) >= 150 and summary[2] == summary[3] == "0"
    for line in cases:
        assert re.match(r"PASS [a-z0-9.-]+ +RFC \d+ .* (MUST|SHOULD|MAY)$", line), line


@pytest.mark.parametrize("adapter", ["socket_server"])
def test_command_line_only(start_server: StartServer) -> None:
    """--only with a glob, and a server without STARTTLS or AUTH settings: the
    STARTTLS cases skip, saying why."""
    server = start_server()
    command = [sys.executable, "-m", "smtpstate.testing.conformance", "--host", HOST,
               "--port", str(server.port), "--only", "starttls.*"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=300)
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0
    assert lines[:-1] and all(line.startswith("SKIP starttls.") for line in lines[:-1])
    assert all(line.endswith(": STARTTLS not advertised") for line in lines[:-1])
    assert lines[-1] == f"0 passed, 0 failed, {len(lines) - 1} skipped"
