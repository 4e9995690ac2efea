"""Postfix XCLIENT and XFORWARD (Postfix's XCLIENT_README and XFORWARD_README),
one test per rule."""

from __future__ import annotations

import re

import pytest

from smtpstate import (
    Event,
    Extensions,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    State,
    XClient,
    XForward,
)

from .helpers import codes, default_answer, drive, new_conn

XCLIENT_LINE = (
    b"XCLIENT NAME=mail.example ADDR=192.0.2.1 PORT=4711 PROTO=ESMTP "
    b"HELO=[192.0.2.1] LOGIN=joe DESTADDR=198.51.100.1 DESTPORT=25\r\n"
)


def run(data: bytes, **kwargs: object) -> tuple[object, list[Event], bytes]:
    conn = new_conn(**kwargs)
    events, out = drive(conn, data)
    return conn, events, out


def attributes_of(line: bytes, xclient: bool = True) -> dict[str, str] | RejectedCommand:
    verb = b"XCLIENT" if xclient else b"XFORWARD"
    _, events, _ = run(b"EHLO c\r\n" + verb + b" " + line + b"\r\n", xclient=True, xforward=True)
    event = events[-1]
    if isinstance(event, (XClient, XForward)):
        return dict(event.attributes)
    assert isinstance(event, RejectedCommand)
    return event


def test_advertised_only_when_enabled() -> None:
    """XCLIENT and XFORWARD are offered, with their attribute names, only to
    clients the application trusts."""
    _, _, out = run(b"EHLO c\r\n")
    assert b"XCLIENT" not in out and b"XFORWARD" not in out
    _, _, out = run(b"EHLO c\r\n", xclient=True, xforward=True)
    assert b"250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n" in out
    assert re.search(rb"250[- ]XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n", out)


def test_trust_can_be_granted_per_connection() -> None:
    """The application may turn XCLIENT on after the connection is made."""
    conn = new_conn()
    conn.xclient = True
    _, out = drive(conn, b"EHLO c\r\n")
    assert b"XCLIENT" in out


@pytest.mark.parametrize("verb", [b"XCLIENT", b"XFORWARD"])
def test_untrusted_client_gets_550(verb: bytes) -> None:
    """A client that is not trusted gets 550 5.7.0 and nothing changes."""
    conn, events, out = run(b"EHLO c\r\n" + verb + b" NAME=x\r\n")
    assert isinstance(events[-1], RejectedCommand)
    assert out.endswith(b"550 5.7.0 Insufficient authorization\r\n")
    assert conn.state is State.READY  # type: ignore[attr-defined]


def test_xclient_attributes_are_parsed() -> None:
    """Every XCLIENT attribute name, upper-cased, with its value."""
    assert attributes_of(XCLIENT_LINE[8:-2]) == {
        "NAME": "mail.example",
        "ADDR": "192.0.2.1",
        "PORT": "4711",
        "PROTO": "ESMTP",
        "HELO": "[192.0.2.1]",
        "LOGIN": "joe",
        "DESTADDR": "198.51.100.1",
        "DESTPORT": "25",
    }


def test_xforward_attributes_are_parsed() -> None:
    """Every XFORWARD attribute name; names are case-insensitive."""
    line = b"name=a.example addr=IPV6:2001:db8::1 port=1 proto=SMTP helo=h ident=q1 source=local"
    assert attributes_of(line, xclient=False) == {
        "NAME": "a.example",
        "ADDR": "IPV6:2001:db8::1",
        "PORT": "1",
        "PROTO": "SMTP",
        "HELO": "h",
        "IDENT": "q1",
        "SOURCE": "local",
    }


def test_values_are_xtext_decoded() -> None:
    """Values are xtext: +XX stands for one octet."""
    assert attributes_of(b"LOGIN=j+2Bo+3De HELO=a+20b") == {"LOGIN": "j+o=e", "HELO": "a b"}


@pytest.mark.parametrize("value", [b"[UNAVAILABLE]", b"[TEMPUNAVAIL]", b"[unavailable]"])
@pytest.mark.parametrize("name", [b"NAME", b"ADDR", b"PORT", b"LOGIN", b"DESTADDR"])
def test_unknown_values_are_accepted(name: bytes, value: bytes) -> None:
    """[UNAVAILABLE] and [TEMPUNAVAIL] stand for a value the proxy does not know."""
    assert attributes_of(name + b"=" + value) == {name.decode(): value.decode()}


@pytest.mark.parametrize(
    "pair",
    [b"ADDR=192.0.2.1", b"ADDR=IPV6:2001:db8::1", b"ADDR=ipv6:::1", b"DESTADDR=2001:db8::2"],
)
def test_addresses_are_ip_addresses(pair: bytes) -> None:
    """ADDR and DESTADDR hold an IPv4 address or an IPv6 address, which may
    carry the IPV6: prefix."""
    assert not isinstance(attributes_of(pair), RejectedCommand)


BAD = [
    b"ADDR=mail.example",
    b"ADDR=192.0.2.256",
    b"ADDR=IPV6:192.0.2.1",
    b"ADDR=fe80::1%25eth0",
    b"DESTADDR=",
    b"PORT=65536",
    b"PORT=-1",
    b"PORT=abc",
    b"DESTPORT=",
    b"NAME=",
    b"NAME=a+0Db",
    b"HELO=a+00",
    b"LOGIN=a+7F",
    b"NAME=a+zz",
    b"NAME=a+2b",
    b"NAME",
    b"COLOR=red",
    b"SOURCE=LOCAL",
    b"",
]


@pytest.mark.parametrize("line", BAD)
def test_xclient_malformed_attribute_is_501(line: bytes) -> None:
    """Unknown names, bad xtext, addresses that are no IP address, ports over
    65535, empty values and control characters get 501 5.5.4."""
    rejected = attributes_of(line)
    assert isinstance(rejected, RejectedCommand)
    assert rejected.reply.code == 501
    assert rejected.reply.enhanced == "5.5.4"


@pytest.mark.parametrize("line", [b"SOURCE=ELSEWHERE", b"LOGIN=joe", b"DESTPORT=25"])
def test_xforward_malformed_attribute_is_501(line: bytes) -> None:
    """SOURCE is LOCAL or REMOTE; LOGIN and DESTPORT are XCLIENT's only."""
    rejected = attributes_of(line, xclient=False)
    assert isinstance(rejected, RejectedCommand)
    assert rejected.reply.code == 501


def test_xclient_restarts_the_session_with_a_new_greeting() -> None:
    """XCLIENT is answered by a 220 greeting (no enhanced code, like any
    greeting); the session starts again, so EHLO is needed before MAIL."""
    conn, events, out = run(
        b"EHLO c\r\n" + XCLIENT_LINE + b"MAIL FROM:<a@b.example>\r\nEHLO c\r\n", xclient=True
    )
    assert isinstance(events[1], XClient)
    lines = out.split(b"\r\n")
    assert b"220 mx.example.org ESMTP" in lines
    assert codes(out)[-2:] == [503, 250]
    assert conn.state is State.READY  # type: ignore[attr-defined]


def test_xclient_clears_the_transaction_state() -> None:
    """XCLIENT before EHLO keeps the session waiting for EHLO."""
    conn, _, out = run(XCLIENT_LINE + b"RSET\r\n", xclient=True)
    assert codes(out) == [220, 250]
    assert conn.state is State.AWAIT_HELLO  # type: ignore[attr-defined]


def test_xclient_login_sets_the_authenticated_identity() -> None:
    """LOGIN names the user the real client authenticated as; [UNAVAILABLE]
    and a later XCLIENT without LOGIN leave the session unauthenticated."""
    conn, _, _ = run(b"EHLO c\r\nXCLIENT LOGIN=joe\r\n", xclient=True)
    assert conn.authenticated == "joe"  # type: ignore[attr-defined]
    conn, _, _ = run(b"XCLIENT LOGIN=[UNAVAILABLE]\r\n", xclient=True)
    assert conn.authenticated is None  # type: ignore[attr-defined]


def test_xclient_inside_a_transaction_is_503() -> None:
    """XCLIENT is not allowed in the middle of a mail transaction."""
    _, _, out = run(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n" + XCLIENT_LINE, xclient=True)
    assert out.endswith(b"503 5.5.1 Not permitted during a mail transaction\r\n")


def test_xclient_refused_by_the_application_carries_an_enhanced_code() -> None:
    """Only the 220 is a greeting: a refusal of XCLIENT is an ordinary reply
    and carries its enhanced status code; the session does not restart."""

    def answer(event: Event) -> Reply:
        if isinstance(event, XClient):
            return Reply(550, "Not today", "5.7.1")
        return default_answer(event)

    conn = new_conn(xclient=True)
    _, out = drive(conn, b"EHLO c\r\n" + XCLIENT_LINE, answer)
    assert out.endswith(b"550 5.7.1 Not today\r\n")
    assert conn.state is State.READY


def test_xforward_between_transactions_is_250() -> None:
    """XFORWARD comes between transactions and gets 250 with an enhanced code."""

    def answer(event: Event) -> Reply:
        if isinstance(event, XForward):
            return Reply(250, "Ok", "2.0.0")
        return default_answer(event)

    conn = new_conn(xforward=True)
    events, out = drive(conn, b"EHLO c\r\nXFORWARD NAME=a ADDR=192.0.2.1\r\n", answer)
    assert events[-1] == XForward(attributes={"NAME": "a", "ADDR": "192.0.2.1"})
    assert out.endswith(b"250 2.0.0 Ok\r\n")
    assert conn.state is State.READY


def test_xforward_inside_a_transaction_is_503() -> None:
    """XFORWARD inside a transaction is out of sequence."""
    _, _, out = run(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nXFORWARD NAME=a\r\n", xforward=True)
    assert codes(out)[-1] == 503
    assert re.search(rb"503 5\.5\.1 ", out)


def test_xforward_before_ehlo_is_503() -> None:
    """XFORWARD needs a session opened with EHLO."""
    _, _, out = run(b"XFORWARD NAME=a\r\n", xforward=True)
    assert codes(out) == [503]


def test_xclient_keeps_other_extensions() -> None:
    """After XCLIENT, EHLO advertises the same extensions again."""
    ext = Extensions(chunking=True, dsn=True)
    _, _, out = run(b"EHLO c\r\nXCLIENT NAME=a\r\nEHLO c\r\n", xclient=True, extensions=ext)
    assert out.count(b"CHUNKING") == 2
    assert out.count(b"XCLIENT") == 2


def test_xclient_ends_a_pipelined_group() -> None:
    """The client waits for XCLIENT's new greeting before it sends EHLO: under
    strict pipelining, input sent ahead of it ends the session."""
    conn = new_conn(xclient=True, strict_pipelining=True)
    drive(conn, b"EHLO c\r\n")
    conn.receive_data(b"XCLIENT NAME=a\r\nEHLO c\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
