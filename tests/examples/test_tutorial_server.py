"""examples/tutorial_server.py, the tutorial's complete server (quoted whole in
docs/tutorial.md, checked by tests/test_docs.py), run as a process on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EXAMPLES, RawClient, Server, stop_all, wait_listening


@pytest.fixture
def tutorial_server(tmp_path: Path) -> Iterator[Server]:
    """``tutorial_server.py SPOOL_DIR 0``; ``server.maildir`` is the spool folder."""
    spool = tmp_path / "spool"
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    command = [sys.executable, str(EXAMPLES / "tutorial_server.py"), str(spool), "0"]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err)
    server = Server("tutorial_server", proc, 0, spool, stdout, stderr)
    try:
        server.port = wait_listening(server)
        yield server
    finally:
        stop_all([server])


def test_stores_mail_from_smtplib(tutorial_server: Server) -> None:
    """Mail for example.org lands byte-exact (dot-unstuffed) in SPOOL_DIR/*.eml
    after its Received line, relaying is refused, the next connection is served
    after the first, and a body cut off by the client leaves no file behind."""
    server, spool = tutorial_server, tutorial_server.maildir
    body = b"Subject: hi\r\n\r\n.leading dot\r\n..two dots\r\nlast line\r\n"
    with server.smtp() as client:
        code, _ = client.ehlo("client.test")
        assert code == 250 and client.has_extn("pipelining") and client.has_extn("size")
        refused = client.sendmail("a@example.net", ["u@example.org", "x@elsewhere.net"], body)
        assert refused == {"x@elsewhere.net": (550, b"5.7.1 Relaying denied")}
        assert client.verify("u")[0] == 252
    with server.smtp() as client:
        client.sendmail("<>", ["postmaster@example.org"], b"second\r\n")

    cut = RawClient(server.port, timeout=10, greeting=True)
    for line in (b"EHLO c", b"MAIL FROM:<a@example.net>", b"RCPT TO:<u@example.org>"):
        assert cut.code(line) == 250
    assert cut.code(b"DATA") == 354
    cut.sock.sendall(b"Subject: never delivered\r\n\r\nhalf a bo")
    cut.close()
    assert server.wait_until(lambda: not list(spool.glob("*.tmp")))

    received = b"Received: from client.test by mx.example.org\r\n"
    assert sorted(path.suffix for path in spool.iterdir()) == [".eml", ".eml"]
    stored = sorted(path.read_bytes() for path in spool.iterdir())
    assert stored == sorted([received + body, received + b"second\r\n"])


def test_error_budget_closes_with_421(tutorial_server: Server) -> None:
    """ServerConnection(max_errors=10): ten 500s, then 421 4.7.0 and the close."""
    with tutorial_server.connect() as raw:
        raw.sendall(b"EHLO c\r\n" + b"JUNK\r\n" * 20)
        received = b""
        try:
            while chunk := raw.recv(65536):
                received += chunk
        except ConnectionResetError:  # the server closed with junk still unread
            pass
    assert b"421 4.7.0" in received
    assert received.count(b"500 5.5.1") == 10
    assert list(tutorial_server.maildir.iterdir()) == []
