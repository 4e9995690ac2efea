"""Defences beyond the RFCs' letter: the error budget, HTTP at the SMTP port,
strict pipelining (RFC 2920 3.1 enforced), and the unsolicited 421 (RFC 5321 3.8)."""

from __future__ import annotations

import pytest

from smtpstate import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Extensions,
    LocalProtocolError,
    MessageData,
    Options,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    ServerConnection,
    State,
    UnknownCommand,
)

from .helpers import codes, drive, new_conn

EHLO = b"EHLO client.example\r\n"
TRANSACTION = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"


def raises_remote(conn: ServerConnection, data: bytes) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        drive(conn, data)
    assert conn.state is State.ERROR
    return info.value


# -- error budget ----------------------------------------------------------------------


def test_error_budget_defaults_to_20() -> None:
    """After 20 refused commands the next read ends the session with 421 4.7.0;
    the 20th refusal itself is still answered."""
    conn = new_conn()
    assert conn.options.max_errors == 20
    _, out = drive(conn, b"XYZZY\r\n" * 19)
    assert codes(out) == [500] * 19
    conn.receive_data(b"XYZZY\r\nNOOP\r\n")
    event = conn.next_event()
    assert isinstance(event, UnknownCommand)
    assert conn.send(event.reply).startswith(b"500 ")
    assert conn.rejected_count == 20
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.reply == Reply(421, "Too many errors, closing connection", "4.7.0")
    assert conn.state is State.ERROR


def test_error_budget_one_final_send_then_nothing() -> None:
    """After the RemoteProtocolError one last 4xx/5xx may be sent; the
    connection stays dead: next_event raises again, a second send raises."""
    conn = new_conn(max_errors=2)
    error = raises_remote(conn, b"FOO\r\nBAR\r\nNOOP\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "OK"))  # only a 4xx or 5xx may go out now
    assert conn.send(error.reply) == b"421 4.7.0 Too many errors, closing connection\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send(error.reply)
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_error_budget_counts_engine_refusals_of_every_kind() -> None:
    """Syntax errors, sequence errors, unknown verbs and failed AUTH all count;
    commands the application itself refuses (550 to RCPT) do not."""
    conn = new_conn(max_errors=4)
    drive(conn, b"MAIL FROM:<a@b>\r\n")  # 503: no EHLO
    drive(conn, EHLO + b"MAIL FROM:<bad\r\n")  # 501
    drive(conn, b"WHAT\r\n")  # 500
    assert conn.rejected_count == 3
    drive(conn, b"NOOP\r\n")
    raises_remote(conn, b"RSET x\r\n")


def test_error_budget_can_be_turned_off() -> None:
    """max_errors=None leaves the policy to the application."""
    conn = new_conn(max_errors=None)
    _, out = drive(conn, b"XYZZY\r\n" * 50 + b"NOOP\r\n")
    assert codes(out) == [500] * 50 + [250]


def test_error_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_errors"):
        Options(max_errors=0)


# -- HTTP at the SMTP port -----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [b"GET / HTTP/1.1", b"POST /form HTTP/1.0", b"CONNECT mx.example.org:25 HTTP/1.1",
     b"HEAD / HTTP/1.1", b"PUT /x HTTP/1.1", b"OPTIONS * HTTP/1.1", b"DELETE /x HTTP/1.1",
     b"TRACE / HTTP/1.1", b"PATCH /x HTTP/1.1", b"Host: mx.example.org", b"get /"],
)  # fmt: skip
def test_http_request_ends_the_session_at_once(line: bytes) -> None:
    """A browser or an open-proxy probe at the SMTP port gets 421 and the
    session ends at the first HTTP line (no rejection counting, no 500s)."""
    conn = new_conn()
    error = raises_remote(conn, line + b"\r\nHost: x\r\n\r\n")
    assert error.reply.code == 421
    assert conn.send(error.reply).startswith(b"421 4.7.0 This is an SMTP server, not HTTP")


def test_http_check_works_in_any_session_state() -> None:
    conn = new_conn()
    drive(conn, EHLO + b"MAIL FROM:<a@b>\r\n")
    raises_remote(conn, b"Host: example.org\r\n")


def test_words_like_http_verbs_are_not_http() -> None:
    """Only the verb position counts: a HELO from a host called GET is fine,
    and so is HELP."""
    _, out = drive(new_conn(), b"HELO GET\r\nNOOP GET /\r\n")
    assert codes(out) == [250, 250]


# -- strict pipelining ---------------------------------------------------------------


def test_strict_pipelining_is_off_by_default() -> None:
    """By default input sent ahead is simply read in turn (RFC 5321 is lenient)."""
    _, out = drive(new_conn(), b"HELO c\r\nMAIL FROM:<a@b>\r\nNOOP\r\nRSET\r\n")
    assert codes(out) == [250, 250, 250, 250]


@pytest.mark.parametrize(
    "data",
    [b"EHLO c\r\nMAIL FROM:<a@b>\r\n", b"HELO c\r\nNOOP\r\n", b"NOOP\r\nNOOP\r\n",
     b"EHLO c\r\nVRFY x\r\nNOOP\r\n", b"EHLO c\r\n" + TRANSACTION + b"body\r\n",
     b"EHLO c\r\nQUIT\r\nx", b"EHLO c\r\nHELP\r\nNOOP\r\n", b"EHLO c\r\nEXPN x\r\nNOOP\r\n"],
)  # fmt: skip
def test_strict_pipelining_refuses_input_after_a_group_ender(data: bytes) -> None:
    """RFC 2920 3.1: EHLO, DATA, VRFY, EXPN, QUIT and NOOP (and HELO, HELP,
    STARTTLS) can only be the last command of a group; with strict_pipelining
    input sent ahead of their reply ends the session with 554 5.5.0."""
    conn = new_conn(strict_pipelining=True)
    error = raises_remote(conn, data)
    assert conn.send(error.reply) == b"554 5.5.0 Improper use of SMTP command pipelining\r\n"


def test_strict_pipelining_refuses_any_group_before_pipelining_is_negotiated() -> None:
    """Without PIPELINING in the EHLO reply (HELO, or the extension off) the
    client must wait for every reply."""
    conn = new_conn(strict_pipelining=True)
    raises_remote(conn, b"HELO c\r\n" + b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
    conn = new_conn(strict_pipelining=True, extensions=Extensions(pipelining=False))
    raises_remote(conn, b"EHLO c\r\n" + b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
    conn = new_conn(strict_pipelining=True)
    raises_remote(conn, b"RSET\r\nNOOP\r\n")


def test_strict_pipelining_allows_proper_groups() -> None:
    """After EHLO with PIPELINING, RSET/MAIL/RCPT may be grouped up to DATA, and
    the next transaction may follow the end of the body in one group."""
    conn = new_conn(strict_pipelining=True)
    _, out = drive(
        conn,
        [
            b"EHLO c\r\n",
            b"RSET\r\n" + TRANSACTION,
            b"body\r\n.\r\n" + TRANSACTION,
            b"again\r\n.\r\n",
            b"QUIT\r\n",
        ],
    )
    assert codes(out) == [250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221]


def test_strict_pipelining_starttls_must_end_its_group() -> None:
    """RFC 3207 4: STARTTLS must be the last command in a group; with the
    strict check, the injection case ends the session before the 220."""
    conn = new_conn(strict_pipelining=True, extensions=Extensions(starttls=True))
    drive(conn, b"EHLO c\r\n")
    error = raises_remote(conn, b"STARTTLS\r\nMAIL FROM:<x@y>\r\n")
    assert error.reply.code == 554


# -- the unsolicited 421 (RFC 5321 3.8) -----------------------------------------------


def test_421_when_no_command_is_owed_closes() -> None:
    """A server may close with 421 at any time (a timeout, a shutdown), also
    while it waits for the client's next command."""
    conn = new_conn()
    drive(conn, EHLO)
    assert conn.next_event() is NEED_DATA
    assert conn.send(Reply(421, "Idle timeout", "4.4.2")) == b"421 4.4.2 Idle timeout\r\n"
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()


def test_421_mid_transaction_and_mid_body() -> None:
    """Inside a transaction the close says so; inside a body, the body is cut
    off (mid_body) and must be dropped."""
    conn = new_conn()
    drive(conn, EHLO + b"MAIL FROM:<a@b>\r\n")
    conn.send(Reply(421, "shutting down"))
    assert conn.next_event() == ConnectionClosed(mid_transaction=True, mid_body=False)
    conn = new_conn()
    events, _ = drive(conn, EHLO + TRANSACTION + b"partial body\r\n")
    assert isinstance(events[-1], MessageData)
    assert conn.send(Reply(421, "data timeout", "4.4.2")) == b"421 4.4.2 data timeout\r\n"
    assert conn.next_event() == ConnectionClosed(mid_transaction=True, mid_body=True)
    assert conn.state is State.CLOSED


def test_421_to_a_pending_command_is_an_ordinary_answer() -> None:
    """421 also answers any command that is owed a reply; the body's reply is
    not 'mid_body' because the whole body was read."""
    conn = new_conn()
    drive(conn, EHLO + TRANSACTION)
    conn.receive_data(b"body\r\n.\r\n")
    assert isinstance(conn.next_event(), MessageData)
    conn.next_event()  # EndOfMessage
    conn.send(Reply(421, "no"))
    assert conn.next_event() == ConnectionClosed(mid_transaction=True, mid_body=False)


def test_only_421_may_be_sent_unasked() -> None:
    """Any other reply when none is owed is the application's bug."""
    conn = new_conn()
    with pytest.raises(LocalProtocolError, match="no reply is owed"):
        conn.send(Reply(554, "go away"))
    assert conn.state is State.ERROR


def test_no_421_after_the_session_ended() -> None:
    """After the client closed (or QUIT), there is nobody to send a 421 to."""
    conn = new_conn()
    drive(conn, b"", eof=True)
    assert conn.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(421, "late"))


def test_421_while_a_reply_is_owed_and_paused() -> None:
    conn = new_conn()
    conn.receive_data(b"NOOP\r\nNOOP\r\n")
    assert isinstance(conn.next_event(), type(conn.awaiting_reply))
    assert conn.next_event() is PAUSED
    conn.send(Reply(421, "bye"))
    assert conn.next_event() == ConnectionClosed()


def test_421_answers_a_refused_command_too() -> None:
    """A command the engine refused may be answered with 421: the session closes."""
    conn = new_conn()
    conn.receive_data(b"MAIL FROM:<a@b>\r\n")
    event = conn.next_event()
    assert isinstance(event, RejectedCommand)
    conn.send(Reply(421, "bye"))
    assert conn.state is State.CLOSED
