"""RFC 1870 (SIZE), one test per rule."""

from __future__ import annotations

from smtpstate import EndOfMessage, Extensions, Mail, RejectedCommand, State

from .helpers import EHLO_MAIL, body_of, codes, drive, new_conn, session

HELLO = b"EHLO c\r\n"


def test_4_ehlo_advertises_size_with_the_limit() -> None:
    """The EHLO keyword is SIZE, with the fixed maximum as its parameter."""
    _, _, out = session(HELLO, Extensions(size=1000))
    assert b"250-SIZE 1000\r\n" in out
    _, _, out = session(HELLO, Extensions(size=0))
    assert b"250-SIZE\r\n" in out
    _, _, out = session(HELLO)
    assert b"SIZE" not in out


def test_6_1_declared_size_over_the_limit_gets_552() -> None:
    """A SIZE= value over the fixed maximum is answered 552 at MAIL."""
    conn, events, out = session(HELLO + b"MAIL FROM:<a@b> SIZE=1001\r\n", Extensions(size=1000))
    assert isinstance(events[-1], RejectedCommand)
    assert out.endswith(b"552 5.3.4 Message size exceeds fixed maximum message size\r\n")
    assert conn.state is State.READY


def test_6_1_declared_size_within_the_limit_is_accepted() -> None:
    """SIZE=n within the limit is an ordinary MAIL; the event carries the size."""
    _, events, _ = session(HELLO + b"MAIL FROM:<a@b> SIZE=1000\r\n", Extensions(size=1000))
    assert isinstance(events[-1], Mail) and events[-1].size == 1000


def test_4_size_value_is_1_to_20_ascii_digits() -> None:
    """size-value ::= 1*20DIGIT; anything else is a syntax error (501)."""
    for value in (b"", b"12a", b"1" * 21, b"\xc2\xb2", b"-1"):
        _, _, out = session(HELLO + b"MAIL FROM:<a@b> SIZE=" + value + b"\r\n", Extensions(size=10))
        assert codes(out)[-1] == 501, value


def test_6_3_oversized_body_is_read_to_its_end_then_552() -> None:
    """A body that grows past the limit is read to its end, never delivered as
    a whole message, and its end is answered 552."""
    body = b"x" * 60 + b"\r\n" + b"y" * 60 + b"\r\n"
    conn, events, out = session(
        EHLO_MAIL + b"DATA\r\n" + body + b".\r\nNOOP\r\n", Extensions(size=100)
    )
    end = next(e for e in events if isinstance(e, EndOfMessage))
    assert end.oversized and end.size == 124 and not end.acceptable
    assert body_of(events) == body[:100]  # delivery stops at the limit
    assert codes(out)[-2:] == [552, 250]
    assert conn.state is State.READY


def test_3_mail_line_may_grow_by_26_octets() -> None:
    """With SIZE, a MAIL FROM line may be 26 octets longer than 512 (padded here:
    a well-formed one never gets that long)."""
    line = b"MAIL FROM:<a@b> SIZE=1" + b" " * (538 - 24) + b"\r\n"
    assert len(line) == 538
    _, events, _ = session(HELLO + line, Extensions(size=0))
    assert isinstance(events[-1], Mail)
    _, _, out = session(HELLO + line[:-2] + b" \r\n", Extensions(size=0))
    assert codes(out)[-1] == 500
    _, _, out = session(HELLO + line)
    assert codes(out)[-1] == 500  # no SIZE, no allowance
    _, _, out = session(HELLO + b"NOOP " + b"x" * 520 + b"\r\n", Extensions(size=0))
    assert codes(out)[-1] == 500  # the allowance is for MAIL only


def test_6_3_bdat_octets_past_the_limit_are_not_delivered() -> None:
    """RFC 1870 6.3 with RFC 3030: octets of BDAT chunks past the SIZE limit are
    read (they are not commands) but not delivered, and the chunk gets 552."""
    conn = new_conn(extensions=Extensions(size=5, chunking=True))
    events, out = drive(conn, [EHLO_MAIL + b"BDAT 10\r\nabcdef", b"ghij", b"RSET\r\n"])
    assert body_of(events) == b"abcde"
    assert b"552 5.3.4 " in out and out.endswith(b"250 2.0.0 OK\r\n")
