"""LMTP mode (RFC 2033), one test per rule. The RFC text is not in the shared
folder: the rules are the ones the folder's README restates."""

from __future__ import annotations

import re

import pytest

from smtpstate import (
    PAUSED,
    ConnectionClosed,
    EndOfMessage,
    Event,
    Extensions,
    Hello,
    LocalProtocolError,
    Mailbox,
    RejectedCommand,
    Reply,
    State,
    UnknownCommand,
)

from .helpers import EHLO_MAIL, codes, default_answer, drive, new_conn

HEAD = (
    b"LHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
    b"RCPT TO:<one@example.net>\r\nRCPT TO:<xno@example.net>\r\n"
    b"RCPT TO:<two@example.net>\r\nRCPT TO:<three@example.net>\r\n"
)


def refuse_x(event: Event) -> Reply:
    if isinstance(event, Hello):
        return Reply(250, "mx.example.org")
    if hasattr(event, "forward_path") and event.forward_path.local_part.startswith("x"):  # type: ignore[attr-defined]
        return Reply(550, "No such user", "5.1.1")
    return default_answer(event)


def test_4_1_lhlo_opens_the_session_with_extensions() -> None:
    """LHLO takes the place of EHLO: 250 with the extension keywords, no
    enhanced code on the greeting line (as for EHLO, RFC 2034 4)."""
    conn = new_conn(lmtp=True, extensions=Extensions(chunking=True))
    events, out = drive(conn, b"LHLO client.example\r\n")
    assert events == [Hello(domain="client.example", extended=True)]
    assert out.startswith(b"250-mx.example.org\r\n")
    assert b"CHUNKING" in out
    assert conn.state is State.READY


@pytest.mark.parametrize("verb", [b"HELO", b"EHLO"])
def test_4_1_helo_and_ehlo_are_refused(verb: bytes) -> None:
    """An LMTP server answers HELO and EHLO with an error: only LHLO opens."""
    conn = new_conn(lmtp=True)
    events, out = drive(conn, verb + b" client.example\r\nMAIL FROM:<a@b.example>\r\n")
    assert isinstance(events[0], RejectedCommand)
    assert codes(out) == [500, 503]
    assert conn.state is State.AWAIT_HELLO


def test_4_1_lhlo_outside_lmtp_is_an_unknown_command() -> None:
    """An SMTP server does not know LHLO."""
    conn = new_conn()
    events, out = drive(conn, b"LHLO client.example\r\n")
    assert isinstance(events[0], UnknownCommand)
    assert codes(out) == [500]


def test_4_1_lhlo_refusal_carries_no_enhanced_code() -> None:
    """Like the replies to HELO and EHLO, replies to LHLO carry no enhanced code."""
    conn = new_conn(lmtp=True)
    _, out = drive(conn, b"LHLO\r\n")
    assert re.fullmatch(rb"501 [^0-9].*\r\n", out)


def test_4_2_one_reply_per_accepted_recipient_after_data() -> None:
    """After the end of the body, one reply per accepted recipient, in the order
    the recipients were accepted; refused recipients get none."""
    conn = new_conn(lmtp=True)
    per_rcpt = iter([Reply(250, "one", "2.1.5"), Reply(452, "full", "4.2.2"),
                     Reply(250, "three", "2.1.5")])  # fmt: skip

    def answer(event: Event) -> Reply:
        if isinstance(event, EndOfMessage):
            return next(per_rcpt)
        return refuse_x(event)

    events, out = drive(conn, HEAD + b"DATA\r\nHi\r\n.\r\n", answer)
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    assert [m.local_part for m in end.recipients] == ["one", "two", "three"]
    assert all(isinstance(m, Mailbox) for m in end.recipients)
    assert out.endswith(b"250 2.1.5 one\r\n452 4.2.2 full\r\n250 2.1.5 three\r\n")
    assert conn.state is State.READY
    assert conn.awaiting_reply is None


def test_4_2_one_reply_per_recipient_after_bdat_last() -> None:
    """The same after BDAT LAST (CHUNKING in LMTP)."""
    conn = new_conn(lmtp=True, extensions=Extensions(chunking=True))
    events, out = drive(conn, HEAD + b"BDAT 3\r\nabcBDAT 2 LAST\r\nde", refuse_x)
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    assert len(end.recipients) == 3
    assert codes(out)[-5:] == [250, 250, 250, 250, 250]  # a chunk, then three replies
    assert conn.state is State.READY


def test_4_2_engine_waits_for_every_recipient_reply() -> None:
    """Between the per-recipient replies the body's event is still owed a reply
    and no further command is read."""
    conn = new_conn(lmtp=True)
    drive(conn, HEAD + b"DATA\r\n", refuse_x)
    conn.receive_data(b"x\r\n.\r\nNOOP\r\n")
    while not isinstance(event := conn.next_event(), EndOfMessage):
        pass
    for _ in range(2):
        conn.send(Reply(250, "OK"))
        assert conn.awaiting_reply is event
        assert conn.next_event() is PAUSED
    conn.send(Reply(250, "OK"))
    assert conn.awaiting_reply is None
    assert conn.next_event().__class__.__name__ == "Noop"


def test_4_2_flagged_message_refuses_2xx_for_each_recipient() -> None:
    """A body that broke a rule cannot be accepted for any recipient."""
    conn = new_conn(lmtp=True, extensions=Extensions(size=10))
    events, out = drive(conn, HEAD + b"DATA\r\n" + b"x" * 20 + b"\r\n.\r\n", refuse_x)
    end = events[-1]
    assert isinstance(end, EndOfMessage) and end.oversized
    assert codes(out)[-3:] == [552, 552, 552]
    conn = new_conn(lmtp=True, extensions=Extensions(size=10))
    drive(conn, HEAD + b"DATA\r\n", refuse_x)
    conn.receive_data(b"x" * 20 + b"\r\n.\r\n")
    while not isinstance(conn.next_event(), EndOfMessage):
        pass
    conn.send(Reply(552, "Too big", "5.3.4"))
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "OK"))


def test_4_2_421_among_the_replies_closes() -> None:
    """421 ends the session even when recipients are still owed replies."""
    conn = new_conn(lmtp=True)
    drive(conn, HEAD + b"DATA\r\n", refuse_x)
    conn.receive_data(b"x\r\n.\r\n")
    while not isinstance(conn.next_event(), EndOfMessage):
        pass
    conn.send(Reply(250, "OK"))
    data = conn.send(Reply(421, "Shutting down", "4.3.2"))
    assert data == b"421 4.3.2 Shutting down\r\n"
    assert conn.state is State.CLOSED
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_4_2_a_reply_too_many_is_a_local_error() -> None:
    """Once every recipient has its reply, another one is an application bug."""
    conn = new_conn(lmtp=True)
    drive(conn, HEAD + b"DATA\r\nx\r\n.\r\n", refuse_x)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "OK"))


def test_4_2_single_recipient_gets_a_single_reply() -> None:
    """With one recipient, one reply ends the transaction."""
    conn = new_conn(lmtp=True)
    wire = b"LHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n"
    _, out = drive(conn, wire)
    assert codes(out) == [250, 250, 250, 354, 250]


def test_smtp_mode_ends_a_body_with_one_reply() -> None:
    """Outside LMTP, EndOfMessage.recipients is empty and one reply is owed."""
    conn = new_conn()
    wire = EHLO_MAIL + b"RCPT TO:<e@f.example>\r\nDATA\r\nx\r\n.\r\n"
    events, out = drive(conn, wire)
    assert isinstance(events[-1], EndOfMessage)
    assert events[-1].recipients == ()
    assert codes(out)[-1] == 250
    assert conn.awaiting_reply is None
