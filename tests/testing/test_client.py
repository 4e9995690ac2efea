"""smtpstate.testing.client: the in-memory client drives the engine and an
application, records the wire, and keeps the messages accepted."""

from __future__ import annotations

import base64

import pytest

from smtpstate import (
    Authentication,
    ConnectionClosed,
    EndOfMessage,
    Event,
    Extensions,
    Options,
    Recipient,
    Reply,
    ServerConnection,
    State,
)
from smtpstate.testing.client import Client

SESSION = (
    b"EHLO client.example\r\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
    b"RCPT TO:<b@example.org>\r\nRCPT TO:<bad@example.org>\r\nDATA\r\n"
    b"Subject: hi\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n"
)


def refuse_bad(conn: ServerConnection, event: Event) -> Reply | None:
    if isinstance(event, Recipient) and event.forward_path.local_part == "bad":
        return Reply(550, "No such user", "5.1.1")
    return None


def test_the_greeting_is_sent_at_once_and_is_the_first_reply() -> None:
    client = Client()
    assert [r.code for r in client.replies] == [220]
    assert client.replies[0].lines == ("mx.example.org ESMTP",)
    assert Client(greeting=Reply(220, "other.example ready")).replies[0].text.startswith(
        "other.example"
    )


def test_a_refused_greeting_leaves_only_quit() -> None:
    """RFC 5321 3.1: after a 554 greeting, anything but QUIT gets 503."""
    client = Client(greeting=Reply(554, "No service"))
    assert [r.code for r in client.write(b"EHLO c.example\r\nQUIT\r\n")] == [503, 221]
    assert client.closed
    client.check()


def test_write_returns_one_reply_per_command_and_keeps_the_message() -> None:
    client = Client(refuse_bad, extensions=Extensions(pipelining=True))
    codes = [r.code for r in client.write(SESSION)]
    assert codes == [250, 250, 250, 550, 354, 250, 221]
    [message] = client.messages
    assert message.mail_from == "a@example.org"
    assert message.rcpt_tos == ["b@example.org"]  # the refused one is not a recipient
    assert message.content == b"Subject: hi\r\n\r\n.leading dot\r\n"  # dot-unstuffed
    assert message.mail_params == {"BODY": "8BITMIME"}
    assert client.closed
    client.check()


@pytest.mark.parametrize("cut", range(0, len(SESSION), 7))
def test_cuts_change_nothing(cut: int) -> None:
    """The same bytes in two or three reads make the same replies and message."""
    whole = Client(refuse_bad)
    whole.write(SESSION)
    cut_up = Client(refuse_bad)
    cut_up.write(SESSION, cuts=[cut, cut + 3])
    assert [r.raw for r in cut_up.replies] == [r.raw for r in whole.replies]
    assert cut_up.messages == whole.messages
    cut_up.check()


def test_a_refused_end_of_data_stores_nothing() -> None:
    def refuse_body(conn: ServerConnection, event: Event) -> Reply | None:
        return Reply(554, "Rejected", "5.7.1") if isinstance(event, EndOfMessage) else None

    client = Client(refuse_body)
    client.write(b"HELO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
    assert [r.code for r in client.write(b"x\r\n.\r\n")] == [554]
    assert client.messages == []
    client.check()


def test_a_bdat_message_is_its_chunks() -> None:
    client = Client(extensions=Extensions(chunking=True))
    client.write(b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n")
    replies = client.write(b"BDAT 5\r\n.\r\nQUBDAT 3 LAST\r\nIT\n", cuts=[9, 15])
    assert [r.code for r in replies] == [250, 250]
    assert [m.content for m in client.messages] == [b".\r\nQUIT\n"]
    client.check()


def test_lmtp_keeps_one_message_per_recipient_accepted_at_the_end() -> None:
    """RFC 2033 4.2: one reply per accepted recipient after the data."""

    # The first reply answers the first recipient, the second the second.
    answers = iter([None, Reply(452, "Mailbox full", "4.2.2")])

    def per_recipient(conn: ServerConnection, event: Event) -> Reply | None:
        return next(answers) if isinstance(event, EndOfMessage) else None

    client = Client(per_recipient, options=Options(lmtp=True))
    client.write(
        b"LHLO c.example\r\nMAIL FROM:<a@example.org>\r\n"
        b"RCPT TO:<one@example.org>\r\nRCPT TO:<two@example.org>\r\nDATA\r\n"
    )
    replies = client.write(b"body\r\n.\r\n")
    assert [r.code for r in replies] == [250, 452]
    assert [(m.rcpt_tos, m.content) for m in client.messages] == [
        (["one@example.org"], b"body\r\n")
    ]
    client.check()


def test_lmtp_answers_bdat_last_once_per_recipient() -> None:
    """RFC 2033 4.2 with RFC 3030: BDAT LAST ends the message like the end of data."""
    client = Client(options=Options(lmtp=True), extensions=Extensions(chunking=True))
    client.write(b"LHLO c.example\r\nMAIL FROM:<a@example.org>\r\n")
    client.write(b"RCPT TO:<one@example.org>\r\nRCPT TO:<two@example.org>\r\n")
    replies = client.write(b"BDAT 2\r\nabBDAT 1 LAST\r\nc")
    assert [r.code for r in replies] == [250, 250, 250]  # the chunk, then one per recipient
    assert [(m.rcpt_tos, m.content) for m in client.messages] == [
        (["one@example.org"], b"abc"),
        (["two@example.org"], b"abc"),
    ]
    client.check()


def test_starttls_drops_the_rest_of_the_write_and_restarts_the_session() -> None:
    """RFC 3207 4.2: plaintext sent ahead of the handshake is never read; the
    session starts again under TLS."""
    dropped: list[bytes] = []

    class Recording(Client):
        def drop_plaintext(self, data: bytes) -> None:
            dropped.append(data)

    client = Recording(extensions=Extensions(starttls=True, pipelining=True))
    client.write(b"EHLO c.example\r\n")
    injected = b"MAIL FROM:<evil@example.org>\r\n"
    replies = client.write(b"STARTTLS\r\n" + injected, cuts=[4, 14])
    assert [r.code for r in replies] == [220]
    assert dropped == [injected[4:]]  # the read after the cut; the engine dropped the rest
    assert client.conn.tls_active and client.conn.state is State.AWAIT_HELLO
    assert [r.code for r in client.write(b"MAIL FROM:<a@example.org>\r\n")] == [503]
    client.check()


def test_close_ends_the_session_and_later_writes_do_nothing() -> None:
    client = Client()
    client.write(b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n")
    assert client.close() == []
    assert client.closed
    closed = client.events[-1]
    assert isinstance(closed, ConnectionClosed) and closed.mid_transaction
    assert client.write(b"NOOP\r\n") == [] and client.close() == []
    client.check()


def test_a_protocol_error_gets_its_reply_and_closes() -> None:
    """An HTTP request on the SMTP port: the engine's 421, then the end."""
    client = Client()
    replies = client.write(b"GET / HTTP/1.1\r\nHost: mx\r\n\r\n")
    assert [r.code for r in replies] == [421]
    assert client.closed
    client.check()


def test_exchanges_pair_each_command_with_its_reply() -> None:
    client = Client(refuse_bad)
    client.write(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bad@example.org>\r\n")
    pairs = [(type(e.command).__name__, e.reply.code) for e in client.exchanges]
    assert pairs == [("Greeting", 220), ("Hello", 250), ("Mail", 250), ("Recipient", 550)]


def test_a_connection_greeted_elsewhere_is_taken_as_is() -> None:
    conn = ServerConnection("mx.example.org")
    conn.send(Reply(220, "mx.example.org ESMTP"))
    client = Client(connection=conn)
    assert client.conn is conn and client.replies == []
    assert [r.code for r in client.write(b"HELO c.example\r\n")] == [250]
    client.check()  # the record knows the greeting came before it


def test_an_application_may_answer_auth() -> None:
    def accept_secret(conn: ServerConnection, event: Event) -> Reply | None:
        if isinstance(event, Authentication) and event.check_password("secret"):
            return Reply(235, "Authenticated", "2.7.0")
        return None

    client = Client(accept_secret, extensions=Extensions(auth=("PLAIN",), auth_without_tls=True))
    token = base64.b64encode(b"\0user\0secret")
    replies = client.write(b"EHLO c.example\r\nAUTH PLAIN\r\n" + token + b"\r\n")
    assert [r.code for r in replies] == [250, 334, 235]
    assert client.conn.authenticated == "user"
    client.check()
