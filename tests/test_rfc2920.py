"""RFC 2920 (PIPELINING), one test per rule."""

from __future__ import annotations

from smtpstate import (
    PAUSED,
    DataStart,
    Event,
    Extensions,
    Mail,
    Recipient,
    RejectedCommand,
    Reply,
    State,
)

from .helpers import codes, default_answer, new_conn, session


def test_3_ehlo_advertises_pipelining() -> None:
    """The EHLO keyword is PIPELINING; it can be turned off."""
    assert b"250-PIPELINING\r\n" in session(b"EHLO c\r\n")[2]
    assert b"PIPELINING" not in session(b"EHLO c\r\n", Extensions(pipelining=False))[2]


def test_3_2_commands_in_one_read_are_handled_in_order() -> None:
    """The server handles a group of pipelined commands one after another and
    replies in order."""
    _, events, out = session(
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n"
    )
    assert [type(e) for e in events][1:] == [Mail, Recipient, Recipient, DataStart]
    assert codes(out) == [250, 250, 250, 250, 354]


def test_3_2_each_command_is_judged_on_the_previous_reply() -> None:
    """A refused MAIL makes the pipelined RCPT and DATA out of sequence, judged
    after the MAIL's reply, not before."""

    def answer(event: Event) -> Reply:
        return Reply(550, "no") if isinstance(event, Mail) else default_answer(event)

    conn, events, out = session(
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", answer=answer
    )
    assert codes(out) == [250, 550, 503, 503]
    assert [e.verb for e in events if isinstance(e, RejectedCommand)] == ["RCPT", "DATA"]
    assert conn.state is State.READY


def test_3_2_later_commands_wait_while_a_reply_is_owed() -> None:
    """While a reply is owed, the next command stays unread (PAUSED)."""
    conn = new_conn()
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b>\r\n")
    event = conn.next_event()
    assert conn.awaiting_reply is event
    assert conn.next_event() is PAUSED
    assert conn.trailing_data == (b"MAIL FROM:<a@b>\r\n", False)
    conn.send(conn.default_reply())
    assert conn.awaiting_reply is None
    assert isinstance(conn.next_event(), Mail)


def test_3_2_pipelined_body_and_commands_after_it() -> None:
    """DATA is the last command of a group, but a client that sends the body
    and the next commands at once still gets every reply in order."""
    _, _, out = session(
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhello\r\n.\r\nRSET\r\nQUIT\r\n"
    )
    assert codes(out) == [250, 250, 250, 354, 250, 250, 221]
