"""ServerConnection.default_reply(): the conventional answer to the command owed
a reply, one test per kind of command. Every default is taken by send()."""

from __future__ import annotations

import pytest

from smtpstate import (
    Authentication,
    AuthenticationChallenge,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expand,
    Extensions,
    Hello,
    Help,
    LocalProtocolError,
    Mail,
    Noop,
    ProxyHeader,
    Quit,
    Recipient,
    RejectedCommand,
    Reply,
    Reset,
    ServerConnection,
    StartTLS,
    State,
    UnknownCommand,
    Verify,
    XClient,
    XForward,
)

from .helpers import EHLO_MAIL, drive, new_conn

HOST = "mx.example.org"


def owe(conn: ServerConnection, data: bytes) -> Event:
    """Feed ``data``, answer every command with its default, and return the
    last command, still owed its reply."""
    conn.receive_data(data)
    while True:
        event = conn.next_event()
        assert isinstance(event, Event)
        if conn.awaiting_reply is not event:
            continue  # MessageData
        if not conn.trailing_data[0]:
            return event
        conn.send(conn.default_reply())


def answered(conn: ServerConnection, data: bytes) -> tuple[Event, Reply, bytes]:
    """The last command of ``data``, its default reply, and the bytes send() made of it."""
    event = owe(conn, data)
    reply = conn.default_reply()
    return event, reply, conn.send(reply)


def test_greeting_names_the_host() -> None:
    conn = new_conn(greet=False)
    assert conn.default_reply() == Reply(220, "mx.example.org ESMTP")
    assert conn.send(conn.default_reply()) == b"220 mx.example.org ESMTP\r\n"
    assert conn.state is State.AWAIT_HELLO


def test_greeting_in_lmtp_mode_says_lmtp() -> None:
    conn = new_conn(greet=False, lmtp=True)
    assert conn.send(conn.default_reply()) == b"220 mx.example.org LMTP\r\n"


def test_greeting_after_a_proxy_header() -> None:
    conn = new_conn(greet=False, proxy_protocol=True)
    with pytest.raises(LocalProtocolError, match="no reply is owed"):
        conn.default_reply()  # the header comes first: nothing is owed yet
    conn.receive_data(b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 25\r\n")
    assert isinstance(conn.next_event(), ProxyHeader)
    assert conn.default_reply() == Reply(220, "mx.example.org ESMTP")


def test_ehlo_gets_the_host_and_the_keywords() -> None:
    event, reply, wire = answered(new_conn(), b"EHLO client.example\r\n")
    assert isinstance(event, Hello) and reply == Reply(250, HOST)
    assert wire == (
        b"250-mx.example.org\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
    )


def test_helo_gets_the_host_alone() -> None:
    _, _, wire = answered(new_conn(), b"HELO client.example\r\n")
    assert wire == b"250 mx.example.org\r\n"


def test_lhlo_gets_the_host_and_the_keywords() -> None:
    _, _, wire = answered(new_conn(lmtp=True), b"LHLO client.example\r\n")
    assert wire.startswith(b"250-mx.example.org\r\n250-PIPELINING\r\n")


def test_the_hostname_is_used_as_given() -> None:
    conn = ServerConnection("localhost")
    assert conn.send(conn.default_reply()) == b"220 localhost ESMTP\r\n"
    _, _, wire = answered(conn, b"HELO c\r\n")
    assert wire == b"250 localhost\r\n"  # a one-label name: it is the hostname


def test_mail_gets_250_2_1_0() -> None:
    event, _, wire = answered(new_conn(), b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n")
    assert isinstance(event, Mail) and wire == b"250 2.1.0 OK\r\n"


def test_rcpt_gets_250_2_1_5() -> None:
    event, _, wire = answered(new_conn(), EHLO_MAIL)
    assert isinstance(event, Recipient) and wire == b"250 2.1.5 OK\r\n"


def test_rcpt_in_lmtp_mode_gets_250_too() -> None:
    conn = new_conn(lmtp=True)
    event, _, wire = answered(conn, b"LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
    assert isinstance(event, Recipient) and wire == b"250 2.1.5 OK\r\n"
    assert conn.recipients == 1


@pytest.mark.parametrize(
    ("data", "kind"), [(b"RSET\r\n", Reset), (b"NOOP x\r\n", Noop)], ids=["RSET", "NOOP"]
)
def test_rset_and_noop_get_250(data: bytes, kind: type[Event]) -> None:
    event, _, wire = answered(new_conn(), b"EHLO c\r\n" + data)
    assert isinstance(event, kind) and wire == b"250 2.0.0 OK\r\n"


def test_data_gets_354() -> None:
    conn = new_conn()
    event, _, wire = answered(conn, EHLO_MAIL + b"DATA\r\n")
    assert isinstance(event, DataStart)
    assert wire == b"354 Start mail input; end with <CRLF>.<CRLF>\r\n"
    assert conn.state is State.IN_DATA


def test_end_of_data_gets_250() -> None:
    event, _, wire = answered(new_conn(), EHLO_MAIL + b"DATA\r\nhi\r\n.\r\n")
    assert isinstance(event, EndOfMessage) and event.acceptable
    assert wire == b"250 2.0.0 OK\r\n"


def test_end_of_a_flagged_body_gets_the_suggested_rejection() -> None:
    conn = new_conn()
    event, reply, wire = answered(conn, EHLO_MAIL + b"DATA\r\nbare\nLF\r\n.\r\n")
    assert isinstance(event, EndOfMessage) and event.bad_line_endings
    assert reply == event.reply and wire.startswith(b"550 5.6.0 ")
    assert conn.state is State.READY


def test_end_of_data_in_lmtp_mode_answers_each_recipient() -> None:
    """RFC 2033 4.2: one reply per accepted recipient, in order; each names its
    recipient, and the last one ends the transaction."""
    conn = new_conn(lmtp=True)
    data = b"LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<one@d>\r\nRCPT TO:<two@d>\r\nDATA\r\nhi\r\n.\r\n"
    event = owe(conn, data)
    assert isinstance(event, EndOfMessage) and len(event.recipients) == 2
    first = conn.send(conn.default_reply())
    assert conn.awaiting_reply is event
    second = conn.send(conn.default_reply())
    assert (first, second) == (b"250 2.0.0 <one@d> OK\r\n", b"250 2.0.0 <two@d> OK\r\n")
    assert conn.awaiting_reply is None and conn.state is State.READY


def test_end_of_a_flagged_body_in_lmtp_mode_refuses_each_recipient() -> None:
    conn = new_conn(lmtp=True)
    data = b"LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<one@d>\r\nRCPT TO:<two@d>\r\n"
    data += b"DATA\r\nx\ry\r\n.\r\n"
    event = owe(conn, data)
    assert isinstance(event, EndOfMessage) and event.reply is not None
    assert conn.default_reply() == event.reply
    conn.send(conn.default_reply())
    assert conn.default_reply() == event.reply
    conn.send(conn.default_reply())
    assert conn.awaiting_reply is None


CHUNKING = Extensions(chunking=True, size=10)


def test_bdat_chunk_gets_250() -> None:
    event, _, wire = answered(new_conn(extensions=CHUNKING), EHLO_MAIL + b"BDAT 3\r\nabc")
    assert isinstance(event, EndOfChunk) and wire == b"250 2.0.0 OK\r\n"


def test_bdat_chunk_over_the_size_limit_gets_the_suggested_552() -> None:
    conn = new_conn(extensions=CHUNKING)
    event, reply, wire = answered(conn, EHLO_MAIL + b"BDAT 11\r\n" + b"x" * 11)
    assert isinstance(event, EndOfChunk) and reply == event.reply
    assert wire.startswith(b"552 5.3.4 ")


def test_bdat_last_gets_250() -> None:
    _, _, wire = answered(new_conn(extensions=CHUNKING), EHLO_MAIL + b"BDAT 2 LAST\r\nab")
    assert wire == b"250 2.0.0 OK\r\n"


def test_rejected_command_gets_the_engines_reply() -> None:
    event, reply, _ = answered(new_conn(), b"MAIL FROM:<a@b>\r\n")
    assert isinstance(event, RejectedCommand) and reply is event.reply
    assert reply.code == 503


def test_unknown_command_gets_the_engines_reply() -> None:
    event, reply, wire = answered(new_conn(), b"XYZZY\r\n")
    assert isinstance(event, UnknownCommand) and reply is event.reply
    assert wire == b"500 5.5.1 Command not recognized\r\n"


def test_quit_gets_221_with_the_host() -> None:
    conn = new_conn()
    event, _, wire = answered(conn, b"QUIT\r\n")
    assert isinstance(event, Quit)
    assert wire == b"221 2.0.0 mx.example.org closing connection\r\n"
    assert conn.state is State.CLOSED


def test_vrfy_gets_252() -> None:
    """RFC 5321 3.5.3, 7.3: 252 neither confirms nor denies the address."""
    event, _, wire = answered(new_conn(), b"VRFY postmaster\r\n")
    assert isinstance(event, Verify)
    assert wire == b"252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"


def test_expn_gets_252() -> None:
    """EXPN, once enabled, is answered without disclosing the list (RFC 5321 7.3)."""
    conn = new_conn(extensions=Extensions(expn=True))
    event, reply, _ = answered(conn, b"EXPN staff\r\n")
    assert isinstance(event, Expand) and reply.code == 252


def test_help_gets_214() -> None:
    conn = new_conn(extensions=Extensions(help=True))
    event, reply, _ = answered(conn, b"HELP\r\n")
    assert isinstance(event, Help) and reply.code == 214


def test_starttls_gets_220_ready() -> None:
    conn = new_conn(extensions=Extensions(starttls=True))
    event, _, wire = answered(conn, b"EHLO c\r\nSTARTTLS\r\n")
    assert isinstance(event, StartTLS) and wire == b"220 2.0.0 Ready to start TLS\r\n"
    assert conn.state is State.TLS_PENDING


def test_auth_challenge_gets_the_mechanisms_334() -> None:
    conn = new_conn(extensions=Extensions(auth=("LOGIN",), auth_without_tls=True))
    event, reply, wire = answered(conn, b"EHLO c\r\nAUTH LOGIN\r\n")
    assert isinstance(event, AuthenticationChallenge) and reply is event.reply
    assert wire == b"334 VXNlcm5hbWU6\r\n"  # "Username:"
    assert conn.state is State.AUTH_EXCHANGE


def test_authenticate_is_refused_by_default() -> None:
    """The engine cannot check credentials: the default is 535 5.7.8 (RFC 4954 6),
    never 235, and it counts against the error budget like any failed AUTH."""
    conn = new_conn(extensions=Extensions(auth=("PLAIN",), auth_without_tls=True))
    event, _, wire = answered(conn, b"EHLO c\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n")
    assert isinstance(event, Authentication) and event.username == "user"
    assert wire == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert conn.authenticated is None and conn.rejected_count == 1


def test_xclient_gets_a_new_greeting() -> None:
    conn = new_conn(xclient=True)
    event, _, wire = answered(conn, b"EHLO c\r\nXCLIENT NAME=client.example\r\n")
    assert isinstance(event, XClient) and wire == b"220 mx.example.org ESMTP\r\n"
    assert conn.state is State.AWAIT_HELLO


def test_xforward_gets_250() -> None:
    event, _, wire = answered(new_conn(xforward=True), b"EHLO c\r\nXFORWARD NAME=a\r\n")
    assert isinstance(event, XForward) and wire == b"250 2.0.0 OK\r\n"


def test_it_changes_nothing() -> None:
    """default_reply() only reads: the same answer again, the same state."""
    conn = new_conn()
    event = owe(conn, EHLO_MAIL)
    assert conn.default_reply() == conn.default_reply()
    assert conn.awaiting_reply is event and conn.state is State.IN_MAIL


def test_no_reply_owed_raises() -> None:
    conn = new_conn()
    with pytest.raises(LocalProtocolError, match="no reply is owed"):
        conn.default_reply()
    assert conn.state is State.AWAIT_HELLO  # and changes nothing
    drive(conn, b"QUIT\r\n")
    with pytest.raises(LocalProtocolError, match="no reply is owed"):
        conn.default_reply()


def test_error_state_raises() -> None:
    conn = new_conn()
    conn.receive_data(b"NOOP\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(550, "no"))  # NOOP cannot be refused: ERROR
    with pytest.raises(LocalProtocolError, match="ERROR"):
        conn.default_reply()
