"""Every reachable state against every command verb: each gets a legal answer
(an event the table accepts there) or the engine's 503 (502 for disabled
HELP/EXPN, 500 for an unknown verb), and nothing else."""

from __future__ import annotations

import pytest

from smtpstate import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Event,
    Extensions,
    LocalProtocolError,
    MessageData,
    RejectedCommand,
    Reply,
    ServerConnection,
    State,
    UnknownCommand,
)
from smtpstate._rules import VERB_EVENTS as _VERB_EVENTS
from smtpstate._state import ACCEPT_CODES, TRANSITIONS, Outcome

from .helpers import drive, new_conn, reply_to

# How to reach each state from a fresh connection: (greeting, bytes).
ROUTES: dict[State, tuple[int, bytes]] = {
    State.REFUSED: (554, b""),
    State.AWAIT_HELLO: (220, b""),
    State.READY: (220, b"EHLO c\r\n"),
    State.IN_MAIL: (220, b"EHLO c\r\nMAIL FROM:<a@b>\r\n"),
    State.HAS_RCPT: (220, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
    State.IN_DATA: (220, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
    State.CLOSED: (220, b"QUIT\r\n"),
}

COMMANDS = [
    b"HELO c",
    b"EHLO c",
    b"MAIL FROM:<x@y>",
    b"RCPT TO:<x@y>",
    b"DATA",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"VRFY x",
    b"EXPN x",
    b"HELP",
    b"XYZZY",
]


def reach(state: State, ext: Extensions) -> ServerConnection:
    greeting, data = ROUTES[state]
    conn = new_conn(greet=False, extensions=ext)
    conn.send(Reply(greeting, "mx.example.org hi"))
    drive(conn, data)
    assert conn.state is state
    return conn


@pytest.mark.parametrize("enabled", [False, True])
@pytest.mark.parametrize("line", COMMANDS)
@pytest.mark.parametrize("state", list(ROUTES))
def test_every_state_every_command(state: State, line: bytes, enabled: bool) -> None:
    conn = reach(state, Extensions(help=enabled, expn=enabled))
    conn.receive_data(line + b"\r\n")
    event = conn.next_event()
    if state is State.IN_DATA:  # a command inside the body is body text
        assert isinstance(event, MessageData) and event.data == line + b"\r\n"  # whole lines
        assert conn.next_event() is NEED_DATA
        return
    if state is State.CLOSED:
        assert event == ConnectionClosed()
        return
    assert isinstance(event, Event)
    if isinstance(event, UnknownCommand):
        assert line == b"XYZZY" and event.reply.code == 500
    elif isinstance(event, RejectedCommand):
        verb = line.split()[0].decode()
        assert event.verb == verb
        if state is State.REFUSED:  # RFC 5321 3.1: everything but QUIT gets 503
            assert event.reply.code == 503 and verb != "QUIT"
        elif verb in ("HELP", "EXPN") and not enabled:
            assert event.reply.code == 502
        else:
            assert event.reply.code == 503, (state, line)
            assert (state, _VERB_EVENTS[verb], Outcome.ACCEPT) not in TRANSITIONS
    else:
        # A legal command: the table accepts it here, and an accept moves as it says.
        key = (state, type(event), Outcome.ACCEPT)
        assert key in TRANSITIONS, (state, line)
        reply = conn.default_reply()  # the conventional answer accepts
        assert reply.code in ACCEPT_CODES[type(event)]
        conn.send(reply)
        assert conn.state is TRANSITIONS[key]
        return
    conn.send(event.reply)
    assert conn.state is state  # a rejection keeps the state


@pytest.mark.parametrize("state", list(ROUTES))
def test_error_state_refuses_everything(state: State) -> None:
    conn = reach(state, Extensions())
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "unasked"))
    assert conn.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(221, "Bye"))


@pytest.mark.parametrize("line", COMMANDS)
def test_before_the_greeting_every_command_waits(line: bytes) -> None:
    """In CONNECTED the greeting is owed first: no command is read."""
    conn = new_conn(greet=False)
    conn.receive_data(line + b"\r\n")
    assert conn.next_event() is PAUSED
    assert conn.trailing_data == (line + b"\r\n", False)


# -- STARTTLS and AUTH ------------------------------------------------------------------

TLS_AUTH = Extensions(starttls=True, auth=("PLAIN", "CRAM-MD5"), auth_without_tls=True)


@pytest.mark.parametrize("line", [b"STARTTLS", b"AUTH PLAIN", b"AUTH CRAM-MD5"])
@pytest.mark.parametrize("state", [s for s in ROUTES if s not in (State.IN_DATA, State.CLOSED)])
def test_every_state_starttls_and_auth(state: State, line: bytes) -> None:
    """STARTTLS and AUTH are legal only where the table has them (READY after
    EHLO); anywhere else they get 503 and the state stays."""
    conn = reach(state, TLS_AUTH)
    conn.receive_data(line + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, Event)
    if isinstance(event, RejectedCommand):
        assert event.reply.code == 503, (state, line)
        assert (state, _VERB_EVENTS[event.verb], Outcome.ACCEPT) not in TRANSITIONS
        conn.send(event.reply)
        assert conn.state is state
        return
    assert state is State.READY
    conn.send(reply_to(conn, event))
    assert conn.state is (State.TLS_PENDING if line == b"STARTTLS" else State.AUTH_EXCHANGE)


def _pending_or_exchange(state: State) -> ServerConnection:
    conn = reach(State.READY, TLS_AUTH)
    drive(conn, b"STARTTLS\r\n" if state is State.TLS_PENDING else b"AUTH CRAM-MD5\r\n")
    assert conn.state is state
    return conn


@pytest.mark.parametrize("line", [*COMMANDS, b"STARTTLS", b"AUTH PLAIN"])
def test_tls_pending_reads_no_command(line: bytes) -> None:
    """While the handshake runs no byte is taken (RFC 3207 4.2): receive_data()
    raises LocalProtocolError and changes nothing; no event, only PAUSED."""
    conn = _pending_or_exchange(State.TLS_PENDING)
    with pytest.raises(LocalProtocolError):
        conn.receive_data(line + b"\r\n")
    assert conn.state is State.TLS_PENDING
    assert conn.next_event() is PAUSED
    assert conn.trailing_data == (b"", False)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "unasked"))


@pytest.mark.parametrize("line", [*COMMANDS, b"STARTTLS", b"AUTH PLAIN"])
def test_auth_exchange_reads_no_command(line: bytes) -> None:
    """After a 334 every line is a SASL response, never a command: these are
    not base64 (or not a CRAM-MD5 answer), so the exchange fails with 501."""
    conn = _pending_or_exchange(State.AUTH_EXCHANGE)
    conn.receive_data(line + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, RejectedCommand)
    assert event.verb == "AUTH" and event.reply.code == 501
    conn.send(event.reply)
    assert conn.state is State.READY


# -- CHUNKING, XCLIENT and XFORWARD -------------------------------------------------------

CHUNKING = Extensions(chunking=True)
BDAT_ROUTES = {
    **{s: r for s, r in ROUTES.items() if s not in (State.IN_DATA, State.CLOSED)},
    State.IN_BDAT: (220, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 1\r\nx"),
}
BDAT_XCLIENT_COMMANDS = [*(c + b"\r\n" for c in COMMANDS), b"BDAT 1\r\nx", b"BDAT 1 LAST\r\nx",
                   b"XCLIENT NAME=a\r\n", b"XFORWARD NAME=a\r\n"]  # fmt: skip


@pytest.mark.parametrize("line", BDAT_XCLIENT_COMMANDS)
@pytest.mark.parametrize("state", list(BDAT_ROUTES))
def test_every_state_chunking_and_xclient(state: State, line: bytes) -> None:
    """BDAT (its octets read whatever the answer), XCLIENT and XFORWARD, and
    every command between BDAT chunks: legal where the table has them, else 503
    (502 for disabled HELP/EXPN, 500 for an unknown verb), and a refusal keeps
    the state."""
    greeting, data = BDAT_ROUTES[state]
    conn = new_conn(greet=False, extensions=CHUNKING, xclient=True, xforward=True)
    conn.send(Reply(greeting, "mx.example.org hi"))
    drive(conn, data)
    assert conn.state is state
    conn.receive_data(line)
    event = conn.next_event()
    while isinstance(event, MessageData):
        event = conn.next_event()
    assert isinstance(event, Event)
    if isinstance(event, UnknownCommand):
        assert line == b"XYZZY\r\n"
    elif isinstance(event, RejectedCommand):
        verb = line.split()[0].decode()
        if state is State.REFUSED:  # RFC 5321 3.1: everything but QUIT gets 503
            assert event.reply.code == 503 and verb != "QUIT"
        elif verb in ("HELP", "EXPN"):
            assert event.reply.code == 502
        else:
            assert event.reply.code == 503, (state, line)
            assert (state, _VERB_EVENTS[verb], Outcome.ACCEPT) not in TRANSITIONS
    else:
        key = (state, type(event), Outcome.ACCEPT)
        assert key in TRANSITIONS, (state, line)
        reply = conn.default_reply()  # the conventional answer accepts
        assert reply.code in ACCEPT_CODES[type(event)]
        conn.send(reply)
        assert conn.state is TRANSITIONS[key]
        return
    conn.send(event.reply)
    assert conn.state is state
    assert conn.next_event() is NEED_DATA  # chunk octets were never read as commands
