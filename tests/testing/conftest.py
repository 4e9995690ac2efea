"""Fixtures for the tests of smtpstate.testing: the example socket server as a
real process on 127.0.0.1 (port 0), stopped by PID, and the test certificate."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..examples.conftest import (  # noqa: F401  (fixtures, registered by import)
    EXAMPLES,
    HOST,
    Server,
    cert,
    client_context,
    stop_all,
    wait_listening,
)

StartSocketServer = Callable[..., Server]


@pytest.fixture
def socket_server(tmp_path: Path) -> Iterator[StartSocketServer]:
    """``socket_server(*args)`` runs examples/socket_server.py with a
    temporary Maildir and waits for its ``listening on`` line."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        n = len(started)
        box, out, err = tmp_path / f"maildir{n}", tmp_path / f"out{n}", tmp_path / f"err{n}"
        command = [sys.executable, str(EXAMPLES / "socket_server.py"), "--host", HOST]
        command += ["--port", "0", "--hostname", "mx.test", "--maildir", str(box), *args]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        server = Server("socket_server", proc, 0, box, out, err)
        started.append(server)
        server.port = wait_listening(server)
        return server

    yield start
    stop_all(started)
