"""RFC 3207 (STARTTLS), one test per rule the engine owns."""

from __future__ import annotations

import base64

import pytest

from smtpstate import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Event,
    Extensions,
    Hello,
    LocalProtocolError,
    Mail,
    Noop,
    Quit,
    RejectedCommand,
    Reply,
    Reset,
    ServerConnection,
    StartTLS,
    State,
)

from .helpers import codes, default_answer, drive, new_conn

TLS = Extensions(starttls=True)
EHLO = b"EHLO client.example\r\n"
PLAIN_IR = b"AUTH PLAIN " + base64.b64encode(b"\0user\0secret") + b"\r\n"


def rejections(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.verb, e.reply.code) for e in events if isinstance(e, RejectedCommand)]


def started(extensions: Extensions = TLS, **kwargs: object) -> tuple[ServerConnection, bytes]:
    """A connection that said EHLO, sent STARTTLS and got the 220: TLS_PENDING."""
    conn = new_conn(extensions=extensions, **kwargs)
    _, out = drive(conn, EHLO + b"STARTTLS\r\n")
    assert conn.state is State.TLS_PENDING
    return conn, out


# -- 2, 4.2: the STARTTLS keyword ----------------------------------------------------


def test_2_starttls_advertised_when_enabled() -> None:
    """The EHLO keyword for the extension is STARTTLS, with no parameters."""
    _, out = drive(new_conn(extensions=TLS), EHLO)
    assert b"250-STARTTLS\r\n" in out


def test_2_starttls_not_advertised_when_disabled() -> None:
    """A server that does not offer the extension does not list it."""
    _, out = drive(new_conn(), EHLO)
    assert b"STARTTLS" not in out


def test_4_2_starttls_not_advertised_under_tls() -> None:
    """A server MUST NOT return the STARTTLS extension in response to an EHLO
    command received after a TLS handshake has completed."""
    conn, _ = started()
    conn.tls_established()
    _, out = drive(conn, EHLO)
    assert codes(out) == [250]
    assert b"STARTTLS" not in out
    assert b"PIPELINING" in out


# -- 4: the command and its replies ----------------------------------------------------


def test_4_220_starts_the_handshake_and_pauses() -> None:
    """After the 220 the client starts TLS at once: the connection waits in
    TLS_PENDING and next_event() returns PAUSED until tls_established()."""
    conn = new_conn(extensions=TLS)
    events, out = drive(conn, EHLO + b"STARTTLS\r\n")
    assert [type(e) for e in events] == [Hello, StartTLS]
    assert out.endswith(b"220 2.0.0 Ready to start TLS\r\n")
    assert conn.state is State.TLS_PENDING
    assert conn.awaiting_reply is None
    assert conn.next_event() is PAUSED
    assert not conn.tls_active
    conn.tls_established()
    assert conn.tls_active
    assert conn.state is State.AWAIT_HELLO
    assert conn.next_event() is NEED_DATA


def test_4_220_is_an_ordinary_reply() -> None:
    """The 220 to STARTTLS is an ordinary reply: with ENHANCEDSTATUSCODES the
    default 2.0.0 is added, as for other replies outside HELO/EHLO."""
    conn = new_conn(extensions=TLS)
    drive(conn, EHLO)
    conn.receive_data(b"STARTTLS\r\n")
    assert conn.next_event() == StartTLS()
    assert conn.send(Reply(220, "Go ahead")) == b"220 2.0.0 Go ahead\r\n"


def test_4_injection_after_starttls_in_one_packet_never_runs() -> None:
    """The client MUST start the handshake before any other command: plaintext
    sent after STARTTLS in the same packet is never parsed (CVE-2011-0411)."""
    conn = new_conn(extensions=TLS)
    events, out = drive(conn, EHLO + b"STARTTLS\r\nMAIL FROM:<x@y>\r\n")
    assert [type(e) for e in events] == [Hello, StartTLS]
    assert conn.state is State.TLS_PENDING
    assert conn.trailing_data == (b"", False)
    conn.tls_established()
    events, out = drive(conn, b"")
    assert events == []
    assert out == b""
    assert conn.next_event() is NEED_DATA
    # After the handshake the session starts from scratch: no MAIL ran.
    events, out = drive(conn, b"MAIL FROM:<x@y>\r\n")
    assert rejections(events) == [("MAIL", 503)]


@pytest.mark.parametrize(
    "data",
    [b"RSET\r\nMAIL FROM:<x@y>\r\n", b"EHLO client.example\r\n", b"\x16\x03\x01"],
    ids=["plaintext", "decrypted-ehlo", "tls-record"],
)
def test_4_2_bytes_fed_while_pending_raise_and_change_nothing(data: bytes) -> None:
    """RFC 3207 4.2: the client sends nothing but the handshake until TLS is up,
    and the engine cannot tell plaintext sent ahead (CVE-2011-0411) from
    decrypted bytes passed before tls_established(). Rule: bytes in TLS_PENDING
    are an adapter bug, LocalProtocolError, and change nothing, so the
    misordering is loud instead of a client left waiting; after
    tls_established() the session goes on as if they had never been passed."""
    conn, _ = started()
    with pytest.raises(LocalProtocolError, match="tls_established"):
        conn.receive_data(data)
    assert conn.state is State.TLS_PENDING
    assert conn.trailing_data == (b"", False)
    assert conn.next_event() is PAUSED
    conn.tls_established()
    assert conn.next_event() is NEED_DATA
    events, out = drive(conn, b"EHLO client.example\r\n")
    assert [type(e) for e in events] == [Hello]
    assert codes(out) == [250]


def test_4_injection_bytes_before_the_220_are_dropped() -> None:
    """Bytes received after STARTTLS but before the application answers it are
    in the same plaintext stream: the 220 drops them too."""
    conn = new_conn(extensions=TLS)
    drive(conn, EHLO)
    conn.receive_data(b"STARTTLS\r\n")
    assert conn.next_event() == StartTLS()
    conn.receive_data(b"MAIL FROM:<x@y>\r\n")
    conn.send(Reply(220, "Go ahead"))
    conn.tls_established()
    assert conn.next_event() is NEED_DATA


def test_4_2_eof_while_pending_is_connection_closed() -> None:
    """RFC 3207 4.2: a client that closes instead of finishing the handshake
    (or an adapter whose handshake failed) passes b"" in TLS_PENDING: allowed,
    and next_event() reports the close at once instead of PAUSED forever. No
    mail transaction was open: STARTTLS is only accepted outside one."""
    conn, _ = started()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(mid_transaction=False, mid_body=False)
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()
    with pytest.raises(LocalProtocolError):
        conn.tls_established()


def test_4_454_keeps_plaintext() -> None:
    """454 TLS not available: the session goes on in plaintext, STARTTLS is
    still offered, and what the client sent next is read normally."""
    conn = new_conn(extensions=TLS)

    def answer(event: Event) -> Reply:
        if isinstance(event, StartTLS):
            return Reply(454, "TLS not available due to temporary reason", "4.7.0")
        return default_answer(event)

    events, out = drive(conn, EHLO + b"STARTTLS\r\nMAIL FROM:<a@b>\r\nEHLO again\r\n", answer)
    assert [type(e) for e in events] == [Hello, StartTLS, Mail, Hello]
    assert codes(out) == [250, 454, 250, 250]
    assert conn.state is State.READY
    assert not conn.tls_active
    assert out.count(b"STARTTLS") == 2
    with pytest.raises(LocalProtocolError):
        conn.tls_established()


def test_4_argument_gets_501() -> None:
    """STARTTLS takes no parameters: 501 Syntax error (no parameters allowed)."""
    conn = new_conn(extensions=TLS)
    events, _ = drive(conn, EHLO + b"STARTTLS now\r\n")
    assert rejections(events) == [("STARTTLS", 501)]
    assert conn.state is State.READY


def test_4_not_enabled_gets_502() -> None:
    """A server without the extension answers STARTTLS like any command it
    does not implement: 502."""
    conn = new_conn()
    events, out = drive(conn, EHLO + b"STARTTLS\r\n")
    assert rejections(events) == [("STARTTLS", 502)]
    assert b"502 5.5.1" in out


def test_4_during_a_transaction_gets_503() -> None:
    """STARTTLS resets the session, so it cannot come in the middle of a mail
    transaction: 503, and the transaction goes on."""
    conn = new_conn(extensions=TLS)
    events, _ = drive(conn, EHLO + b"MAIL FROM:<a@b>\r\nSTARTTLS\r\nRCPT TO:<c@d>\r\n")
    assert rejections(events) == [("STARTTLS", 503)]
    assert conn.state is State.HAS_RCPT


def test_4_before_ehlo_gets_503() -> None:
    """STARTTLS is an EHLO extension: before EHLO it is out of sequence."""
    conn = new_conn(extensions=TLS)
    events, _ = drive(conn, b"STARTTLS\r\n")
    assert rejections(events) == [("STARTTLS", 503)]
    assert conn.state is State.AWAIT_HELLO


def test_4_require_tls_answers_mail_and_auth_with_530() -> None:
    """A server that requires TLS SHOULD answer 530 5.7.0 "Must issue a STARTTLS
    command first" to every command other than NOOP, EHLO, STARTTLS or QUIT."""
    conn = new_conn(
        extensions=Extensions(starttls=True, auth=("CRAM-MD5",), expn=True, help=True),
        require_tls=True,
    )
    data = EHLO + b"MAIL FROM:<a@b>\r\nAUTH CRAM-MD5\r\nVRFY bob\r\nEXPN list\r\nHELP\r\n"
    data += b"NOOP\r\nRSET\r\n"
    events, out = drive(conn, data)
    assert rejections(events) == [
        ("MAIL", 530),
        ("AUTH", 530),
        ("VRFY", 530),
        ("EXPN", 530),
        ("HELP", 530),
    ]
    assert b"530 5.7.0 Must issue a STARTTLS command first" in out
    assert isinstance(events[-2], Noop) and isinstance(events[-1], Reset)
    drive(conn, b"STARTTLS\r\n")
    conn.tls_established()
    events, out = drive(conn, EHLO + b"MAIL FROM:<a@b>\r\n")
    assert codes(out) == [250, 250]
    assert conn.state is State.IN_MAIL


def test_4_2_auth_is_offered_only_under_tls_when_tls_is_required() -> None:
    """The EHLO list may differ before and after TLS; with TLS required, AUTH
    (which would get 530) is offered only after the handshake."""
    extensions = Extensions(starttls=True, auth=("PLAIN", "CRAM-MD5"), auth_without_tls=True)
    conn = new_conn(extensions=extensions, require_tls=True)
    _, out = drive(conn, EHLO)
    assert b"STARTTLS" in out and b"AUTH" not in out
    drive(conn, b"STARTTLS\r\n")
    conn.tls_established()
    _, out = drive(conn, EHLO)
    assert b"250-AUTH PLAIN CRAM-MD5\r\n" in out
    _, out = drive(new_conn(extensions=extensions), EHLO)  # TLS not required: offered
    assert b"250-AUTH PLAIN CRAM-MD5\r\n" in out


def test_4_quit_works_while_tls_is_required() -> None:
    """QUIT is never refused for want of TLS."""
    conn = new_conn(extensions=TLS, require_tls=True)
    events, _ = drive(conn, EHLO + b"QUIT\r\n")
    assert [type(e) for e in events] == [Hello, Quit, ConnectionClosed]


# -- 4.2: the result of the command ------------------------------------------------


def test_4_2_handshake_forgets_hello_transaction_and_auth() -> None:
    """Upon completion of the handshake the protocol is reset to the initial
    state: the server MUST discard any knowledge obtained from the client
    (the EHLO argument, an earlier AUTH)."""
    conn = new_conn(extensions=Extensions(starttls=True, auth=("PLAIN",), auth_without_tls=True))
    drive(conn, EHLO + PLAIN_IR)
    assert conn.authenticated == "user"
    drive(conn, b"STARTTLS\r\n")
    conn.tls_established()
    assert conn.authenticated is None
    assert conn.state is State.AWAIT_HELLO
    assert conn.recipients == 0
    events, out = drive(conn, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
    assert rejections(events) == [("MAIL", 503), ("RCPT", 503)]
    # A new EHLO is needed; then AUTH is allowed again (the old one was forgotten).
    events, out = drive(conn, EHLO + PLAIN_IR)
    assert codes(out) == [250, 235]
    assert conn.authenticated == "user"


def test_4_2_hello_type_forgotten() -> None:
    """An EHLO before TLS does not count after it: parameters need a new EHLO."""
    conn, _ = started()
    conn.tls_established()
    events, _ = drive(conn, b"HELO client.example\r\nMAIL FROM:<a@b> BODY=8BITMIME\r\n")
    assert rejections(events) == [("MAIL", 555)]


def test_4_2_second_starttls_gets_503() -> None:
    """A client MUST NOT start TLS when a TLS session is active: a second
    STARTTLS is answered 503."""
    conn, _ = started()
    conn.tls_established()
    events, out = drive(conn, EHLO + b"STARTTLS\r\n")
    assert rejections(events) == [("STARTTLS", 503)]
    assert b"503 5.5.1 TLS is already active" in out
    assert conn.state is State.READY


def test_4_2_tls_established_outside_tls_pending_is_an_app_error() -> None:
    """tls_established() is the adapter's report of the handshake that the 220
    started: anywhere else it is a LocalProtocolError, and changes nothing."""
    conn = new_conn(extensions=TLS)
    with pytest.raises(LocalProtocolError):
        conn.tls_established()
    drive(conn, EHLO)
    conn.receive_data(b"STARTTLS\r\n")
    assert conn.next_event() == StartTLS()
    with pytest.raises(LocalProtocolError):
        conn.tls_established()  # the 220 has not been sent yet
    assert conn.state is State.READY
    conn.send(Reply(220, "go"))
    conn.tls_established()
    with pytest.raises(LocalProtocolError):
        conn.tls_established()
    assert conn.tls_active


def test_4_2_421_while_pending_closes() -> None:
    """The server may still give up with 421 while the handshake runs."""
    conn, _ = started()
    assert conn.send(Reply(421, "handshake timeout")) == b"421 4.0.0 handshake timeout\r\n"
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()


# -- RFC 8314 3: implicit TLS ---------------------------------------------------------


def test_rfc8314_3_implicit_tls_is_tls_from_the_start() -> None:
    """On an implicit-TLS port (465) the whole session runs under TLS: STARTTLS
    is neither offered nor accepted, and plaintext-password mechanisms and
    require_tls are satisfied from the first command."""
    conn = new_conn(
        extensions=Extensions(starttls=True, auth=("PLAIN",)), implicit_tls=True, require_tls=True
    )
    assert conn.tls_active
    events, out = drive(conn, EHLO + b"STARTTLS\r\n" + PLAIN_IR + b"MAIL FROM:<a@b>\r\n")
    assert b"STARTTLS" not in out
    assert b"250-AUTH PLAIN\r\n" in out
    assert rejections(events) == [("STARTTLS", 503)]
    assert codes(out) == [250, 503, 235, 250]
    assert conn.authenticated == "user"
