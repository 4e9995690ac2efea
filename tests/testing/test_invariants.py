"""check_invariants: each rule passes a good transcript and fails a bad one
built by hand (the wire of a server that breaks it)."""

from __future__ import annotations

import pytest

from smtpstate.testing._shared import ReceivedMessage
from smtpstate.testing.client import ProtocolViolation, Transcript, check_invariants
from smtpstate.testing.transcript import ClientClosed, Received, Sent, ServerClosed, Stored

GREETING = Received(b"220 mx.example.org ESMTP\r\n")
OK = b"250 OK\r\n"
TRANSACTION = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
EHLO = Received(b"250-mx.example.org\r\n250 PIPELINING\r\n")


def record(*entries: object, stores: bool = False) -> Transcript:
    return Transcript(list(entries), stores_messages=stores)  # type: ignore[arg-type]


def stored(content: bytes) -> Stored:
    return Stored(ReceivedMessage("a@example.org", ["b@example.org"], content))


def violation(transcript: Transcript, match: str) -> None:
    with pytest.raises(ProtocolViolation, match=match):
        check_invariants(transcript)


GOOD_SESSION = [
    GREETING,
    Sent(b"EHLO c.example\r\n"),
    EHLO,
    Sent(TRANSACTION),  # RFC 2920: one reply each
    Received(OK + OK + b"354 Go ahead\r\n"),
    Sent(b"..dot\r\nline\r\n.\r\n"),
    Received(OK),
    stored(b".dot\r\nline\r\n"),
    Sent(b"QUIT\r\n"),
    Received(b"221 Bye\r\n"),
    ServerClosed(),
]


def test_a_good_session_passes() -> None:
    check_invariants(record(*GOOD_SESSION, stores=True))


def test_the_first_reply_is_a_greeting() -> None:
    check_invariants(record(Received(b"554 No service\r\n"), Sent(b"QUIT\r\n"), Received(OK)))
    violation(record(Received(OK)), "greeting is 250")


def test_a_command_without_a_reply_fails() -> None:
    violation(record(GREETING, Sent(b"NOOP\r\nNOOP\r\n"), Received(OK)), "no reply to b'NOOP'")


def test_an_incomplete_command_is_owed_nothing() -> None:
    check_invariants(record(GREETING, Sent(b"NOOP\r\nNO"), Received(OK)))


def test_a_reply_to_no_command_fails() -> None:
    violation(record(GREETING, Sent(b"NOOP\r\n"), Received(OK + OK)), "reply to no command")


def test_a_reply_before_its_command_fails() -> None:
    violation(record(GREETING, Received(OK), Sent(b"NOOP\r\n")), "reply to no command")


def test_a_pipelined_group_gets_one_reply_per_command() -> None:
    """RFC 2920: a group of three gets three replies, not one."""
    good = record(GREETING, Sent(b"EHLO c\r\n"), EHLO, Sent(TRANSACTION), Received(OK * 2))
    violation(good, "no reply to b'DATA'")
    two_for_one = record(GREETING, Sent(b"RSET\r\nNOOP\r\n"), Received(OK * 3))
    violation(two_for_one, "reply to no command")


def test_354_only_answers_data() -> None:
    violation(record(GREETING, Sent(b"NOOP\r\n"), Received(b"354 Go\r\n")), "354 is no reply")
    violation(record(GREETING, Sent(b"NOOP\r\n"), Received(b"221 Bye\r\n")), "221 is no reply")


def test_the_end_of_data_gets_one_reply() -> None:
    body = [GREETING, Sent(TRANSACTION), Received(OK + OK + b"354 Go\r\n"), Sent(b"x\r\n.\r\n")]
    check_invariants(record(*body, Received(OK)))
    violation(record(*body), "no reply to b'.'")
    violation(record(*body, Received(OK + OK)), "reply to no command")


def test_a_body_line_that_looks_like_a_command_gets_no_reply() -> None:
    """After 354 the lines are data until CRLF.CRLF (RFC 5321 4.1.1.4)."""
    body = [GREETING, Sent(TRANSACTION), Received(OK + OK + b"354 Go\r\n")]
    violation(record(*body, Sent(b"QUIT\r\n.\r\n"), Received(b"221 Bye\r\n")), "221 is no reply")


def test_a_refused_data_makes_the_body_lines_commands() -> None:
    refused = Received(OK + b"550 No\r\n" + b"554 No valid recipients\r\n")
    lines = Sent(b"hello\r\n.\r\n")
    two = Received(b"500 ?\r\n" * 2)
    check_invariants(record(GREETING, Sent(TRANSACTION), refused, lines, two))
    violation(record(GREETING, Sent(TRANSACTION), refused, lines, Received(OK)), "no reply")


def test_stored_messages_are_exactly_the_accepted_ones() -> None:
    body = [GREETING, Sent(TRANSACTION), Received(OK + OK + b"354 Go\r\n"), Sent(b"x\r\n.\r\n")]
    check_invariants(record(*body, Received(OK), stored(b"x\r\n"), stores=True))
    violation(
        record(*body, Received(b"554 Rejected\r\n"), stored(b"x\r\n")),
        "no 2xx reply accepted",
    )
    violation(record(*body, Received(OK), stored(b"y\r\n")), "differs from the one accepted")
    violation(record(*body, Received(OK), stores=True), "1 message.s. accepted, 0 stored")


def test_each_bdat_chunk_gets_one_reply_after_its_octets() -> None:
    """RFC 3030 2: BDAT is answered once its octets are in; the octets are never commands."""
    start = [GREETING, Sent(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"), Received(OK + OK)]
    chunks = Sent(b"BDAT 6\r\nQUIT\r\nBDAT 0 LAST\r\n")
    check_invariants(record(*start, chunks, Received(OK + OK), stored(b"QUIT\r\n"), stores=True))
    violation(record(*start, chunks, Received(OK + b"221 Bye\r\n")), "221 is no reply")
    early = [*start, Sent(b"BDAT 6\r\nQUI"), Received(OK)]
    violation(record(*early), "reply to no command")


def test_an_auth_exchange_gets_one_reply_per_line() -> None:
    """RFC 4954 4: 334 while the exchange goes on, then one final reply."""
    lines = Sent(b"AUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\n")
    replies = b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 OK\r\n"
    check_invariants(record(GREETING, lines, Received(replies)))
    violation(record(GREETING, lines, Received(replies[:-8])), "no reply")
    violation(record(GREETING, Sent(b"NOOP\r\n"), Received(b"334 \r\n")), "334 is no reply")


def test_lmtp_answers_the_end_of_data_once_per_accepted_recipient() -> None:
    """RFC 2033 4.2."""
    start = [
        GREETING,
        Sent(b"LHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nRCPT TO:<d@y>\r\n"),
        Received(OK * 4 + b"550 No\r\n"),
        Sent(b"DATA\r\n"),
        Received(b"354 Go\r\n"),
        Sent(b"x\r\n.\r\n"),
    ]
    check_invariants(record(*start, Received(OK + b"452 Full\r\n")))
    violation(record(*start, Received(OK)), "no reply")
    violation(record(*start, Received(OK * 3)), "reply to no command")


def test_nothing_sent_after_starttls_in_the_same_write_is_answered() -> None:
    """RFC 3207 4.2."""
    write = Sent(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
    ready = Received(b"220 Go ahead\r\n")
    check_invariants(record(GREETING, write, ready, Sent(b"EHLO c\r\n"), EHLO))
    violation(record(GREETING, write, ready, Received(OK)), "reply to no command")
    refused = Received(b"454 TLS not available\r\n" + OK)  # no TLS: the MAIL is a command
    check_invariants(record(GREETING, write, refused))


def test_nothing_is_sent_after_a_close() -> None:
    bye = [GREETING, Sent(b"QUIT\r\n"), Received(b"221 Bye\r\n")]
    check_invariants(record(*bye, ServerClosed()))
    violation(record(*bye, Received(OK)), "reply to no command|after closing")
    violation(record(*bye, ServerClosed(), Received(OK)), "after closing")
    closing = [GREETING, Received(b"421 Shutting down\r\n")]  # RFC 5321 3.8: at any time
    check_invariants(record(*closing, Sent(b"NOOP\r\n"), ClientClosed()))
    violation(record(*closing, Sent(b"NOOP\r\n"), Received(OK)), "after closing")


def test_an_incomplete_reply_fails() -> None:
    violation(record(GREETING, Sent(b"EHLO c\r\n"), Received(b"250-mx\r\n")), "incomplete reply")
