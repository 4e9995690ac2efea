"""Guarantees of docs/security.md that no other test file states on its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpstate import (
    NEED_DATA,
    Command,
    EndOfMessage,
    Hello,
    LocalProtocolError,
    Mail,
    MessageData,
    Recipient,
    Reply,
    State,
)

from .helpers import EHLO_MAIL, drive, new_conn

CHUNK = 64 * 1024
SIXTEEN_MIB = 16 * 1024 * 1024


def test_endless_command_line_of_16_mib_keeps_the_buffer_bounded() -> None:
    """Bounded memory (aiosmtpd CVE-2024-27305's unbounded line, nodemailer's
    buffer): 16 MiB with no CRLF leaves the buffer within its limit plus one
    chunk; the line then gets one 500 (RFC 5321 4.5.3.1.4)."""
    conn = new_conn()
    largest = 0
    for _ in range(SIXTEEN_MIB // CHUNK):
        conn.receive_data(b"x" * CHUNK)
        assert conn.next_event() is NEED_DATA
        largest = max(largest, len(conn.trailing_data[0]))
    assert largest <= conn.options.max_command_line + CHUNK
    _, out = drive(conn, b"\r\nNOOP\r\n")
    assert out.startswith(b"500 ") and out.endswith(b"250 2.0.0 OK\r\n")


def test_endless_body_line_of_16_mib_keeps_the_buffer_bounded() -> None:
    """The same inside a body (RFC 5321 4.5.3.1.6): the engine delivers what it
    can and holds at most a terminator prefix plus one chunk; the message is
    refused once, after the real terminator (4.1.1.4)."""
    conn = new_conn()
    drive(conn, EHLO_MAIL + b"DATA\r\n")
    assert conn.state is State.IN_DATA
    largest = 0
    for _ in range(SIXTEEN_MIB // CHUNK):
        conn.receive_data(b"y" * CHUNK)
        while (event := conn.next_event()) is not NEED_DATA:
            assert isinstance(event, MessageData)
        largest = max(largest, len(conn.trailing_data[0]))
    assert largest <= conn.options.max_text_line + CHUNK
    events, out = drive(conn, b"\r\n.\r\n")
    ends = [e for e in events if isinstance(e, EndOfMessage)]
    assert len(ends) == 1 and ends[0].long_lines
    assert out.startswith(b"500 ") and out.count(b"\r\n") == 1


def test_send_refuses_a_code_that_does_not_fit_the_command() -> None:
    """RFC 5321 4.3.2: 354 cannot answer MAIL; the app's bug is a
    LocalProtocolError and no byte of the reply is produced."""
    conn = new_conn()
    conn.receive_data(b"EHLO c\r\n")
    event = conn.next_event()
    conn.send(conn.default_reply())
    conn.receive_data(b"MAIL FROM:<a@b.example>\r\n")
    event = conn.next_event()
    assert isinstance(event, Mail)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(354, "go ahead"))


@pytest.mark.parametrize("text", ["ok\r\n250 injected", "ok\n", "ok\r", "ok\x00"])
def test_reply_text_cannot_inject_a_line(text: str) -> None:
    """A reply text with CR, LF or NUL is refused on construction (reply injection)."""
    with pytest.raises(LocalProtocolError):
        Reply(250, text)


def _control_free(value: object) -> None:
    if isinstance(value, str):
        assert not any(ord(c) < 32 or ord(c) == 127 for c in value), repr(value)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"EHLO ", b"HELO ", b"MAIL FROM:", b"RCPT TO:"]),
            st.binary(max_size=40),
        ),
        max_size=6,
    )
)
def test_identities_never_hold_control_characters(lines: list[tuple[bytes, bytes]]) -> None:
    """Clean identities: what the application is handed as an identity (the EHLO
    argument, addresses, parameter values) never contains a control character,
    whatever bytes the client put there (RFC 5321 4.1.2 allows none)."""
    conn = new_conn()
    data = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n" + b"".join(
        verb + arg.replace(b"\r\n", b"") + b"\r\n" for verb, arg in lines
    )
    events, _ = drive(conn, data)
    for event in events:
        if isinstance(event, Hello):
            _control_free(event.domain)
        elif isinstance(event, (Mail, Recipient)):
            path = event.reverse_path if isinstance(event, Mail) else event.forward_path
            if path is not None:
                for part in (path.local_part, path.domain, path.text, *path.source_route):
                    _control_free(part)
            for key, value in event.params.items():
                _control_free(key)
                _control_free(value)
        else:
            assert isinstance(event, Command)


def test_security_doc_names_real_tests() -> None:
    """docs/security.md proves each guarantee with ``file::test`` references
    (under tests/); each must name a test that exists."""
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "security.md").read_text(encoding="utf-8")
    references = re.findall(r"`([\w/]+\.py)::(\w+)", doc)
    assert len(references) > 30
    for path, name in references:
        source = (root / "tests" / path).read_text(encoding="utf-8")
        assert re.search(rf"^(def {name}\(|{name} = )", source, re.MULTILINE), f"{path}::{name}"
