"""smtpstate.testing.transcript: the format, the in-process runner, and the
TCP runner against a server thread on the engine and the example socket server."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import smtpstate.testing.transcript as transcript_module
from smtpstate import Event, Extensions, Recipient, Reply, ServerConnection
from smtpstate.testing._shared import ServerReply
from smtpstate.testing.client import Application, Client, ProtocolViolation
from smtpstate.testing.transcript import (
    ClientClosed,
    CloseSide,
    Expect,
    TranscriptMismatch,
    Write,
    escape,
    parse_transcript,
    run_transcript,
    run_transcript_tcp,
    unescape,
)

from .conftest import HOST, StartSocketServer

PIPELINING = Extensions(pipelining=True)
TIMEOUT = 10.0


def refuse_bad(conn: ServerConnection, event: Event) -> Reply | None:
    if isinstance(event, Recipient) and event.forward_path.local_part == "bad":
        return Reply(550, "No such user", "5.1.1")
    return None


def reply(code: int, *lines: str) -> ServerReply:
    return ServerReply(code, lines, b"")


# -- the format --------------------------------------------------------------------


def test_the_module_example_runs_as_it_stands() -> None:
    doc = transcript_module.__doc__
    assert doc is not None
    example = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\n", 1)[0])
    result = run_transcript(example, extensions=PIPELINING)
    assert [r.code for r in result.replies] == [220, 250, 250, 250, 354, 250, 221]
    assert [m.content for m in result.messages] == [
        b"Subject: hi\r\n\r\n.a line that starts with a dot, stuffed as on the wire\r\n"
    ]


def test_parse_groups_consecutive_client_lines_into_one_write() -> None:
    steps = parse_transcript(
        "S: 220\nC: NOOP\n# between\nC- RS\nC: ET\nS: 2xx\nS: 250 2.0.0 OK\nC! EOF\n"
    )
    assert steps == [
        Expect("220", None, "", 1),
        Write(b"NOOP\r\nRSET\r\n", 5, "ET"),
        Expect("2xx", None, "", 6),
        Expect("250", "2.0.0", "OK", 7),
        CloseSide(8),
    ]


@pytest.mark.parametrize(
    "line", ["X: 250", "S: 25", "S: 650", "S:250", "C:NOOP", "C! QUIT", "S: 250x"]
)
def test_parse_names_the_line_it_cannot_read(line: str) -> None:
    with pytest.raises(ValueError, match="transcript line 2"):
        parse_transcript(f"S: 220\n{line}\n")


def test_escapes_round_trip_every_octet() -> None:
    every = bytes(range(256))
    assert unescape(escape(every)) == every
    assert unescape(r"a\r\nb\t\\\x00") == b"a\r\nb\t\\\x00"
    assert unescape("é") == "é".encode()
    with pytest.raises(ValueError, match="unknown escape"):
        unescape(r"\q")


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        (Expect("250"), True),
        (Expect("251"), False),
        (Expect("2xx"), True),
        (Expect("5xx"), False),
        (Expect("xxx"), True),
        (Expect("250", "2.1.0"), True),
        (Expect("250", "2.1.5"), False),
        (Expect("250", "2.1.0", "Sender"), True),
        (Expect("250", None, "Sender ok"), True),  # the text after the enhanced code
        (Expect("250", None, "ok"), False),  # a prefix, not a substring
    ],
)
def test_expect_matches_code_class_enhanced_code_and_text_prefix(
    pattern: Expect, matches: bool
) -> None:
    assert pattern.matches(reply(250, "2.1.0 Sender ok")) is matches


# -- in-process --------------------------------------------------------------------


def test_a_mismatch_names_the_line_and_shows_what_came() -> None:
    text = "S: 220\nC: HELO c.example\nC: MAIL FROM:<a@x.org>\nC: RCPT TO:<bad@x.org>\n"
    text += "S: 250\nS: 250\nS: 250 2.1.5\n"
    with pytest.raises(TranscriptMismatch) as caught:
        run_transcript(text, refuse_bad)
    message = str(caught.value)
    assert message.startswith("transcript line 7: expected S: 250 2.1.5, got 550 5.1.1 No such")
    assert ">    7  S: 250 2.1.5   <- got 550 5.1.1 No such user" in message
    assert "     6  S: 250   <- got 250 2.1.0 OK" in message


def test_a_missing_reply_and_an_unexpected_one_are_mismatches() -> None:
    with pytest.raises(TranscriptMismatch, match="line 4: expected S: 250, got no reply"):
        run_transcript("S: 220\nC: HELO c\nS: 250\nS: 250\n")
    with pytest.raises(TranscriptMismatch, match="a reply no S: line expects: 250"):
        run_transcript("S: 220\nC: HELO c\nC: NOOP\nS: 250\n")


def test_a_recorded_session_replays_from_its_text() -> None:
    """Transcript.text() writes the format: a session (pipelining, a body, a
    cut line, STARTTLS with plaintext injected, BDAT) replays to the same replies."""
    extensions = Extensions(pipelining=True, chunking=True, starttls=True)
    client = Client(refuse_bad, extensions=extensions)
    client.write(b"EHLO c.example\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<bad@x.org>\r\n")
    client.write(b"RCPT TO:<b@x.org>\r\nDATA\r\n")
    client.write(b"tab\there\r\n..dot\r\n\xff\r\n.\r\nNO", cuts=[5])
    client.write(b"OP\r\nSTARTTLS\r\nMAIL FROM:<evil@x.org>\r\n")
    client.write(b"EHLO c.example\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\n")
    client.write(b"BDAT 4 LAST\r\n\r\n.\r\n")
    client.close()
    text = client.transcript.text()
    assert "C: tab\\there\n" in text and "C: \\xff\n" in text and "C! EOF" in text
    replayed = run_transcript(text, refuse_bad, extensions=extensions)
    assert [r.raw for r in replayed.replies] == [r.raw for r in client.replies]
    assert replayed.messages == client.messages


# -- over TCP -------------------------------------------------------------------------


@contextlib.contextmanager
def engine_server(app: Application | None = None, **kwargs: object) -> Iterator[int]:
    """A one-connection server on 127.0.0.1: the in-memory Client's engine loop
    behind a socket. Yields the port; stops by itself within TIMEOUT."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        with contextlib.suppress(OSError), listener:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(TIMEOUT)
                client = Client(app, **kwargs)  # type: ignore[arg-type]
                sock.sendall(b"".join(r.raw for r in client.replies))
                while not client.closed:
                    data = sock.recv(65536)
                    replies = client.write(data) if data else client.close()
                    sock.sendall(b"".join(r.raw for r in replies))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(TIMEOUT)
        assert not thread.is_alive()


SESSION = """\
S: 220
C: EHLO c.example
S: 250
C: MAIL FROM:<a@example.org>
C: RCPT TO:<bad@example.org>
C: RCPT TO:<b@example.org>
S: 250 2.1.0
S: 5xx 5.1.1 No such user
S: 250
C: DATA
S: 354
C: Subject: over TCP
C:
C: ..dot
C: .
S: 250
C: QUIT
S: 221
"""


def test_tcp_runner_against_a_server_on_the_engine() -> None:
    with engine_server(refuse_bad, extensions=PIPELINING) as port:
        result = run_transcript_tcp(SESSION, HOST, port, timeout=TIMEOUT)
    assert [r.code for r in result.replies] == [220, 250, 250, 550, 250, 354, 250, 221]
    assert result.record.sent().endswith(b"QUIT\r\n")


def test_tcp_runner_reports_a_mismatch() -> None:
    with engine_server(extensions=PIPELINING) as port, pytest.raises(
        TranscriptMismatch, match=r"line 8: expected S: 5xx 5\.1\.1 No such user, got 250 2\.1\.5"
    ):
        run_transcript_tcp(SESSION, HOST, port, timeout=TIMEOUT)


def test_tcp_runner_sees_the_server_close() -> None:
    """After the 221 the server closes: a reply expected then is missing."""
    text = "S: 220\nC: QUIT\nS: 221\nS: 250\n"
    with engine_server() as port, pytest.raises(
        TranscriptMismatch, match="line 4: expected S: 250, got no reply"
    ):
        run_transcript_tcp(text, HOST, port, timeout=TIMEOUT)


def test_tcp_runner_closes_the_client_side() -> None:
    """``C! EOF``: the server sees the end of the stream and closes."""
    with engine_server() as port:
        result = run_transcript_tcp("S: 220\nC: NOOP\nC! EOF\nS: 250\n", HOST, port)
    assert [r.code for r in result.replies] == [220, 250]
    assert any(isinstance(e, ClientClosed) for e in result.record.entries)
    assert [r.code for r in result.record.replies()] == [220, 250]


@contextlib.contextmanager
def raw_server(converse: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection server on a thread: ``converse`` gets the accepted
    socket; yields the port, then checks the thread ended."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        with contextlib.suppress(OSError), listener:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(TIMEOUT)
                converse(sock)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_tcp_runner_gives_up_on_a_silent_server() -> None:
    """A server that never answers: the read times out, the reply is missing."""

    def silent(sock: socket.socket) -> None:
        while sock.recv(65536):  # read until the client goes
            pass

    with raw_server(silent) as port, pytest.raises(
        TranscriptMismatch, match="line 1: expected S: 220, got no reply"
    ):
        run_transcript_tcp("S: 220\n", HOST, port, timeout=0.3)


def test_tcp_runner_catches_a_server_that_answers_twice() -> None:
    """A raw server that answers each command with two replies."""

    def twice(sock: socket.socket) -> None:
        sock.sendall(b"220 broken.example\r\n")
        while sock.recv(65536):
            sock.sendall(b"250 OK\r\n250 OK\r\n")

    text = "S: 220\nC: NOOP\nS: 250\nS: 250\n"  # matches what comes, but breaks a rule
    with raw_server(twice) as port, pytest.raises(ProtocolViolation, match="reply to no command"):
        run_transcript_tcp(text, HOST, port, timeout=TIMEOUT)


def test_tcp_runner_against_the_example_socket_server(socket_server: StartSocketServer) -> None:
    server = socket_server()
    text = SESSION.replace("S: 5xx 5.1.1 No such user", "S: 250")  # the example takes all
    result = run_transcript_tcp(text, HOST, server.port, timeout=TIMEOUT)
    assert result.replies[-1].code == 221
    assert server.wait_until(lambda: len(server.new()) == 1)
    assert b"\r\n.dot\r\n" in server.new()[0].read_bytes()


def test_tcp_runner_starts_tls_with_the_example_socket_server(
    socket_server: StartSocketServer, cert: tuple[Path, Path], client_context: ssl.SSLContext
) -> None:
    server = socket_server("--tls-cert", str(cert[0]), "--tls-key", str(cert[1]))
    text = """\
S: 220
C: EHLO c.example
S: 250
C: STARTTLS
S: 220
# RFC 3207 4.2: the session starts again under TLS
C: MAIL FROM:<a@example.org>
S: 503
C: EHLO c.example
S: 250
C: QUIT
S: 221
"""
    result = run_transcript_tcp(text, HOST, server.port, ssl_context=client_context)
    assert "STARTTLS" in result.replies[1].lines
    assert "STARTTLS" not in result.replies[4].lines  # not offered again under TLS
    with pytest.raises(ValueError, match="pass ssl_context"):
        run_transcript_tcp(text, HOST, server.port)


def test_the_client_and_the_transcript_runner_need_neither_pytest_nor_hypothesis() -> None:
    """They work in an install without the ``testing`` extra."""
    code = (
        "import sys; import smtpstate.testing.transcript, smtpstate.testing.client; "
        "print(sorted({'pytest', 'hypothesis'} & set(sys.modules)))"
    )
    src = Path(transcript_module.__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )  # fmt: skip
    assert out.stdout.strip() == b"[]"
