"""SMTP smuggling (SEC Consult, 2023; CVE-2023-51764/51765/51766 and kin).

RFC 5321 4.1.1.4 and 2.3.8: only CRLF "." CRLF ends the message body. Each
sequence below is one that some server took as the end of data. For every one
and every body policy, the engine must give one message and one reply, after
the real terminator, and never read the smuggled commands as commands. Every
case is also replayed with the input cut at every byte boundary.
"""

from __future__ import annotations

import pytest

from smtpstate import EndOfMessage, Event, Mail, MessageData, RemoteProtocolError
from smtpstate._data import BodyPolicy

from .helpers import codes, drive, merge_data, new_conn

SMUGGLING_SEQUENCES = [
    b"\n.\r\n",
    b"\n.\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n.\r\r\n",
    b"\r\n.\n\r\n",
    b"\n\n.\n\n",
    b"\r\r\n.\r\r\n",
]

HEAD = b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
SMUGGLED = (
    b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
    b"From: admin@example.org\r\n\r\nsmuggled\r\n"
)
TAIL = b"\r\n.\r\nQUIT\r\n"


def session(sequence: bytes) -> bytes:
    return HEAD + b"Subject: hi\r\n\r\nbody" + sequence + SMUGGLED + TAIL


def run(pieces: list[bytes], policy: BodyPolicy) -> tuple[list[Event], bytes]:
    """Feed ``pieces`` to a sink; returns its events (data joined) and replies.
    A RemoteProtocolError ends the run with its reply sent."""
    conn = new_conn(bad_line_endings=policy)
    try:
        events, out = drive(conn, pieces, eof=True)
    except RemoteProtocolError as error:
        return [], conn.send(error.reply)
    return merge_data(events), out


BODY = b"Subject: hi\r\n\r\nbody"


@pytest.mark.parametrize("sequence", SMUGGLING_SEQUENCES, ids=repr)
def test_4_1_1_4_smuggling_reject_policy_gives_one_rejected_message(sequence: bytes) -> None:
    """RFC 5321 4.1.1.4: the body ends only at CRLF.CRLF. Under the default
    ``reject`` policy the message with a bare CR/LF/NUL gets one 550 5.6.0 after
    the real end, delivery stops before the fault, and the smuggled MAIL is
    never a command."""
    events, out = run([session(sequence)], "reject")
    assert not any(isinstance(e, Mail) and "admin" in str(e.reverse_path) for e in events)
    ends = [e for e in events if isinstance(e, EndOfMessage)]
    assert len(ends) == 1 and ends[0].bad_line_endings
    delivered = b"".join(e.data for e in events if isinstance(e, MessageData))
    assert (BODY + sequence).startswith(delivered) and delivered.startswith(BODY)
    assert out.count(b"\r\n550 5.6.0 ") == 1
    assert out.endswith(b"550 5.6.0 Bare CR, bare LF or NUL in message body\r\n221 2.0.0 Bye\r\n")


@pytest.mark.parametrize("sequence", SMUGGLING_SEQUENCES, ids=repr)
def test_4_1_1_4_smuggling_pass_policy_keeps_the_bytes_in_one_message(sequence: bytes) -> None:
    """Under ``pass`` the bytes are delivered unchanged, in one message: the
    smuggled commands are body text."""
    events, out = run([session(sequence)], "pass")
    data = [e for e in events if isinstance(e, MessageData)]
    # Only a dot after CRLF is a stuffed dot (RFC 5321 4.5.2).
    assert [d.data for d in data] == [
        (BODY + sequence + SMUGGLED + b"\r\n").replace(b"\r\n.", b"\r\n")
    ]
    assert sum(isinstance(e, EndOfMessage) for e in events) == 1
    assert codes(out) == [250, 250, 250, 354, 250, 221]  # one message, one reply


@pytest.mark.parametrize("sequence", SMUGGLING_SEQUENCES, ids=repr)
def test_4_1_1_4_smuggling_close_policy_ends_the_session(sequence: bytes) -> None:
    """Under ``close`` the engine raises RemoteProtocolError with a 421; no
    message ends and no later command is read."""
    events, out = run([session(sequence)], "close")
    assert events == []  # the run ended with the RemoteProtocolError
    assert out.endswith(
        b"421 4.5.2 Bare CR, bare LF or NUL in message body, closing connection\r\n"
    )


@pytest.mark.parametrize("policy", ["reject", "pass", "close"])
@pytest.mark.parametrize("sequence", SMUGGLING_SEQUENCES, ids=repr)
def test_smuggling_is_independent_of_how_the_bytes_arrive(
    sequence: bytes, policy: BodyPolicy
) -> None:
    """The same bytes cut at any one boundary give the same events and replies."""
    data = session(sequence)
    whole = run([data], policy)
    for cut in range(1, len(data)):
        assert run([data[:cut], data[cut:]], policy) == whole, cut
    assert run([data[i : i + 1] for i in range(len(data))], policy) == whole
