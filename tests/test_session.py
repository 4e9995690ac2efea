"""Session and Transaction (_session.py): what clears them, and that nothing
set in one transaction or session reaches the next.

The connection replaces these objects whole instead of clearing their fields
one by one; these tests would catch a field that survives the replacement
(a leak) whichever field it is: they compare every slot with a new object's.
"""

from __future__ import annotations

import base64

import pytest

from smtpstate import (
    EndOfChunk,
    EndOfMessage,
    Event,
    Extensions,
    Mail,
    ProxyHeader,
    Recipient,
    Reply,
    ServerConnection,
    State,
)
from smtpstate._session import Session, Transaction

from .helpers import GREETING, Answer, codes, default_answer, drive, new_conn

EXTENSIONS = Extensions(
    chunking=True,
    binarymime=True,
    smtputf8=True,
    starttls=True,
    auth=("PLAIN",),
    auth_without_tls=True,
)
UTF8_USER = "jos\u00e9@b\u00fccher.example".encode()
PLAIN_OK = b"AUTH PLAIN " + base64.b64encode(b"\0user\0secret") + b"\r\n"
BODY_REFUSED = Reply(554, "Message refused", "5.6.0")

# A transaction that sets every field it can: SMTPUTF8, a refused recipient,
# an accepted UTF-8 one, and either BODY=BINARYMIME with a 3-octet BDAT chunk
# (bdat_size 3) or the 354 to DATA.
BDAT_TRANSACTION = (
    b"EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8 BODY=BINARYMIME\r\n"
    b"RCPT TO:<x@d.example>\r\nRCPT TO:<" + UTF8_USER + b">\r\nBDAT 3\r\nabc"
)
DATA_TRANSACTION = (
    b"EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\n"
    b"RCPT TO:<x@d.example>\r\nRCPT TO:<" + UTF8_USER + b">\r\nDATA\r\n"
)

# Each way out of a transaction: (the transaction, what ends it, whether the
# application refuses the body or chunk). STARTTLS and XCLIENT are out of
# sequence inside a transaction (503, the transaction untouched), so their
# cases end it with RSET and then restart the session; "tls" marks where the
# adapter's handshake comes.
RESETS = {
    "RSET": (BDAT_TRANSACTION, [b"RSET\r\n"], False),
    "HELO": (BDAT_TRANSACTION, [b"HELO c\r\n"], False),
    "EHLO": (BDAT_TRANSACTION, [b"EHLO c\r\n"], False),
    "end of data 250": (DATA_TRANSACTION, [b"body\r\n.\r\n"], False),
    "end of data 554": (DATA_TRANSACTION, [b"body\r\n.\r\n"], True),
    "BDAT LAST 250": (BDAT_TRANSACTION, [b"BDAT 2 LAST\r\nxy"], False),
    "BDAT LAST 554": (BDAT_TRANSACTION, [b"BDAT 2 LAST\r\nxy"], True),
    "BDAT chunk 554": (BDAT_TRANSACTION, [b"BDAT 2\r\nxy"], True),
    "STARTTLS": (
        BDAT_TRANSACTION,
        [b"STARTTLS\r\n", b"RSET\r\nSTARTTLS\r\n", b"tls", b"EHLO c\r\n"],
        False,
    ),
    "XCLIENT": (
        BDAT_TRANSACTION,
        [b"XCLIENT NAME=spike.example\r\n", b"RSET\r\nXCLIENT NAME=spike.example\r\nEHLO c\r\n"],
        False,
    ),
}


def answer_for(refuse_body: bool) -> Answer:
    """Refuses recipients whose local part starts with "x", and the body (the
    end of data, a BDAT chunk) when ``refuse_body``."""

    def answer(event: Event) -> Reply | None:
        if isinstance(event, Recipient) and event.forward_path.local_part.startswith("x"):
            return Reply(550, "No such user", "5.1.1")
        if refuse_body and isinstance(event, (EndOfMessage, EndOfChunk)):
            return BODY_REFUSED
        return default_answer(event)

    return answer


def fields(thing: object) -> dict[str, object]:
    return {name: getattr(thing, name) for name in type(thing).__slots__}


def new_transaction(mail: Mail) -> dict[str, object]:
    return fields(Transaction(mail))


def end_transaction(reset: str) -> ServerConnection:
    """A connection whose first transaction set every field, then ended by ``reset``."""
    first, steps, refuse_body = RESETS[reset]
    conn = new_conn(extensions=EXTENSIONS, xclient=True)
    _, out = drive(conn, first, answer_for(False))
    transaction = conn._transaction
    assert transaction is not None and conn.recipients == 1
    assert (transaction.smtputf8, transaction.rejected_recipients) == (True, 1)
    if first is BDAT_TRANSACTION:
        assert (transaction.binarymime, transaction.bdat_size) == (True, 3)
    answer = answer_for(refuse_body)
    for step in steps:
        if step == b"tls":
            conn.tls_established()
            continue
        _, out = drive(conn, step, answer)
        if step.startswith((b"STARTTLS", b"XCLIENT")):
            # Refused inside the transaction, which stays whole.
            assert out.endswith(b"503 5.5.1 Not permitted during a mail transaction\r\n")
            assert conn._transaction is transaction and conn.recipients == 1
    assert conn.state is State.READY
    return conn


@pytest.mark.parametrize("probe", ["BDAT", "DATA"])
@pytest.mark.parametrize("reset", list(RESETS))
def test_no_transaction_field_reaches_the_next_transaction(reset: str, probe: str) -> None:
    """RFC 5321 4.1.4 (RSET, HELO/EHLO), 4.1.1.4 (the end of data), RFC 3030 2
    (BDAT LAST, a failed chunk), RFC 3207 4.2 (STARTTLS), XCLIENT: after each,
    no transaction exists, and the next one starts with every field at the
    value a new transaction has: the next DATA without recipients gets 503,
    not the 554 of a transaction whose recipients were all refused; a UTF-8
    recipient needs SMTPUTF8 again; one recipient counts as one; DATA is
    allowed (no BINARYMIME); a BDAT chunk's size counts from zero."""
    conn = end_transaction(reset)
    assert conn._transaction is None and conn.recipients == 0
    answer = answer_for(False)
    events, _ = drive(conn, b"MAIL FROM:<a@b.example>\r\n", answer)
    assert isinstance(events[-1], Mail)
    assert conn._transaction is not None
    assert fields(conn._transaction) == new_transaction(events[-1])
    _, out = drive(conn, b"DATA\r\n", answer)
    assert out == b"503 5.5.1 Need RCPT before DATA\r\n"
    _, out = drive(conn, b"RCPT TO:<" + UTF8_USER + b">\r\n", answer)
    assert out == b"553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n"
    _, out = drive(conn, b"RCPT TO:<c@d.example>\r\n", answer)
    assert codes(out) == [250] and conn.recipients == 1
    if probe == "BDAT":
        events, out = drive(conn, b"BDAT 1 LAST\r\nz", answer)
        assert isinstance(events[-1], EndOfMessage) and events[-1].size == 1
    else:
        events, out = drive(conn, b"DATA\r\nz\r\n.\r\n", answer)
        assert isinstance(events[-1], EndOfMessage)
    assert codes(out)[-1] == 250
    assert conn._transaction is None and conn.recipients == 0


@pytest.mark.parametrize(
    "reset", [b"RSET\r\n", b"LHLO c\r\n", b"DATA\r\nbody\r\n.\r\n", b"BDAT 2 LAST\r\nxy"]
)
def test_lmtp_recipients_and_replies_do_not_reach_the_next_transaction(reset: bytes) -> None:
    """RFC 2033 4.2: the end of data gets one reply per recipient of its own
    transaction, however the previous one ended."""
    conn = new_conn(lmtp=True, extensions=EXTENSIONS)
    head = (
        b"LHLO c\r\nMAIL FROM:<a@b.example>\r\n"
        b"RCPT TO:<one@d.example>\r\nRCPT TO:<two@d.example>\r\n"
    )
    _, out = drive(conn, head + reset)
    assert conn._transaction is None and conn.state is State.READY
    wire = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<three@d.example>\r\nDATA\r\nz\r\n.\r\n"
    events, out = drive(conn, wire)
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    assert [mailbox.local_part for mailbox in end.recipients] == ["three"]
    assert out.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK\r\n")  # one reply
    assert conn.awaiting_reply is None and conn._transaction is None


def proxied() -> ServerConnection:
    """A connection behind a PROXY header that said EHLO and authenticated."""
    conn = new_conn(greet=False, proxy_protocol=True, extensions=EXTENSIONS, xclient=True)
    conn.receive_data(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n")
    assert isinstance(conn.next_event(), ProxyHeader)
    conn.send(GREETING)
    _, out = drive(conn, b"EHLO c\r\n" + PLAIN_OK)
    assert codes(out)[-1] == 235 and conn.authenticated == "user"
    assert conn._session.extended is True
    return conn


@pytest.mark.parametrize("restart", ["STARTTLS", "XCLIENT"])
def test_no_session_field_survives_a_restart(restart: str) -> None:
    """RFC 3207 4.2: after the TLS handshake the server discards what it learnt
    from the client (HELO/EHLO, authentication); XCLIENT starts the session
    again as the client it names. The new session has every field at a new
    session's value, except TLS (on after the handshake, kept by XCLIENT) and
    XCLIENT's LOGIN; the PROXY header is the connection's and stays."""
    conn = proxied()
    before, proxy = conn._session, conn.proxy
    if restart == "STARTTLS":
        drive(conn, b"STARTTLS\r\n")
        conn.tls_established()
        expected = Session(tls_active=True)
    else:
        _, out = drive(conn, b"XCLIENT NAME=spike.example\r\n")
        assert codes(out) == [220]
        expected = Session(tls_active=False)
    assert conn._session is not before
    assert fields(conn._session) == fields(expected)
    assert conn.state is State.AWAIT_HELLO and conn.authenticated is None
    assert conn.proxy is proxy is not None
    _, out = drive(conn, b"MAIL FROM:<a@b.example>\r\nEHLO c\r\n" + PLAIN_OK)
    assert codes(out)[0] == 503 and codes(out)[-1] == 235  # a new session may AUTH again


def test_xclient_login_is_all_the_new_session_knows() -> None:
    """XCLIENT LOGIN= names the identity of the new session; it is not extended."""
    conn = proxied()
    drive(conn, b"XCLIENT LOGIN=joe\r\n")
    assert fields(conn._session) == fields(Session(tls_active=False, authenticated="joe"))


def test_the_session_outlives_its_transactions() -> None:
    """HELO/EHLO, RSET and the end of a transaction add to the session or leave
    it alone (RFC 5321 4.1.4 clears the transaction only): authentication stays."""
    conn = proxied()
    session = conn._session
    drive(conn, b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nz\r\n.\r\n")
    drive(conn, b"RSET\r\nHELO c\r\n")
    assert conn._session is session and conn.authenticated == "user"
    assert session.extended is False
    _, out = drive(conn, b"EHLO c\r\n")
    assert session.extended is True and codes(out) == [250]


def test_implicit_tls_starts_the_first_session_under_tls() -> None:
    """RFC 8314 3: on a port with implicit TLS the first session is under TLS."""
    conn = new_conn(implicit_tls=True)
    assert fields(conn._session) == fields(Session(tls_active=True))
    assert conn.tls_active


def test_quit_inside_a_transaction_keeps_its_recipients_readable() -> None:
    """The connection closes; ``recipients`` still says how many the abandoned
    transaction had (as before the transaction became an object)."""
    conn = new_conn()
    drive(conn, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nQUIT\r\n")
    assert conn.state is State.CLOSED and conn.recipients == 1
