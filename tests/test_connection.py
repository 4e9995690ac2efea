"""ServerConnection as a whole: properties, errors, bookkeeping, rejected_count."""

from __future__ import annotations

import time

import pytest

from smtpstate import (
    NEED_DATA,
    Event,
    Extensions,
    LocalProtocolError,
    Recipient,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    State,
    UnknownCommand,
)
from smtpstate._state import Greeting

from .helpers import EHLO_MAIL, default_answer, drive, new_conn, session


def test_initial_state() -> None:
    conn = new_conn(greet=False)
    assert conn.state is State.CONNECTED
    assert isinstance(conn.awaiting_reply, Greeting)
    assert conn.trailing_data == (b"", False)
    assert conn.rejected_count == 0
    assert conn.recipients == 0


def test_need_data_then_eof() -> None:
    conn = new_conn()
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.trailing_data == (b"", True)
    conn.receive_data(b"")  # a second EOF is harmless
    with pytest.raises(RuntimeError):
        conn.receive_data(b"x")


def test_rejected_count_counts_engine_rejections() -> None:
    """Rule 12: every RejectedCommand and UnknownCommand counts, so the
    application can apply an error budget (421 after N)."""
    budget = 3
    conn = new_conn()
    out = b""
    for line in [b"XYZZY\r\n", b"MAIL FROM:<a@b>\r\n", b"NOOP\r\n", b"HELO\r\n", b"FOO\r\n"]:

        def answer(event: Event) -> Reply:
            rejected = isinstance(event, (RejectedCommand, UnknownCommand))
            if rejected and conn.rejected_count >= budget:
                return Reply(421, "Too many errors")
            return default_answer(event)

        _, sent = drive(conn, line, answer)
        out += sent
    assert conn.rejected_count == 3
    assert out.endswith(b"421 Too many errors\r\n")
    assert conn.state is State.CLOSED


def test_app_rejections_do_not_count() -> None:
    def answer(event: Event) -> Reply:
        return Reply(550, "no") if isinstance(event, Recipient) else default_answer(event)

    conn, _, _ = session(EHLO_MAIL, answer=answer)
    assert conn.rejected_count == 0


def test_send_refuses_non_replies_without_changing_state() -> None:
    conn = new_conn(greet=False)
    with pytest.raises(LocalProtocolError):
        conn.send(None)  # type: ignore[arg-type]
    assert conn.state is State.CONNECTED


def test_remote_error_allows_one_final_4xx_or_5xx() -> None:
    conn = new_conn(bad_line_endings="close")
    drive(conn, EHLO_MAIL + b"DATA\r\n")
    conn.receive_data(b"\0\r\n.\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "ok"))
    assert conn.send(Reply(554, "bye")) == b"554 5.0.0 bye\r\n"


def test_local_error_ends_the_connection() -> None:
    conn = new_conn()
    conn.receive_data(b"NOOP\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(550, "no"))
    assert conn.state is State.ERROR
    with pytest.raises(LocalProtocolError, match="ERROR"):
        conn.next_event()


def test_extensions_default_and_ehlo_reply() -> None:
    conn = new_conn()
    assert conn.extensions == Extensions()
    _, out = drive(conn, b"EHLO c\r\n", lambda e: Reply(250, ["mx.example.org greets c", "extra"]))
    assert out == (
        b"250-mx.example.org greets c\r\n250-extra\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
        b"250 ENHANCEDSTATUSCODES\r\n"
    )


def test_rejected_ehlo_gets_no_keywords() -> None:
    _, out = drive(new_conn(), b"EHLO c\r\n", lambda e: Reply(550, "go away"))
    assert out == b"550 go away\r\n"


def test_rcpt_refused_by_the_app_then_data_gets_554_until_one_is_accepted() -> None:
    answers = iter([Reply(550, "no"), Reply(250, "ok")])

    def answer(event: Event) -> Reply:
        return next(answers) if isinstance(event, Recipient) else default_answer(event)

    conn, _, out = session(
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        answer=answer,
    )
    assert out.endswith(
        b"550 5.0.0 no\r\n554 5.5.1 No valid recipients\r\n250 2.0.0 ok\r\n"
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
    )
    assert conn.state is State.IN_DATA


def _byte_by_byte_cost(data: bytes, prefix: bytes) -> float:
    conn = new_conn()
    drive(conn, prefix)
    start = time.perf_counter()
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
        while conn.next_event() is not NEED_DATA:
            pass
    return time.perf_counter() - start


@pytest.mark.parametrize(
    ("unit", "prefix"),
    [
        (b"x" * 70 + b"\r\n", EHLO_MAIL + b"DATA\r\n"),  # a body
        (b"y" * 72, b""),  # one endless command line
    ],
)
def test_cost_grows_linearly_byte_by_byte(unit: bytes, prefix: bytes) -> None:
    """Four times the bytes, one at a time, cost about four times as much (a
    rescanning buffer would cost sixteen times)."""
    small = min(_byte_by_byte_cost(unit * 200, prefix) for _ in range(3))
    large = min(_byte_by_byte_cost(unit * 800, prefix) for _ in range(3))
    assert large < small * 9
