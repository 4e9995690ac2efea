"""Chunking invariance: however the client's bytes are cut, the events (data
chunks joined) and the reply bytes are the same (h11's test_io idea)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpstate import (
    NEED_DATA,
    ConnectionClosed,
    EndOfMessage,
    Event,
    Extensions,
    Hello,
    MessageData,
    RcptTo,
    RemoteProtocolError,
    Reply,
)

from .helpers import default_answer, merge_data, new_conn

# Pieces of body lines: dots at the start, long runs, bare CR and LF, NUL, UTF-8.
PIECES = [b".", b"..", b"a", b"text ", b"\r", b"\n", b"\0", b"\xc3\xa9", b"x" * 700]


@st.composite
def body_line(draw: st.DrawFn) -> bytes:
    line = b"".join(draw(st.lists(st.sampled_from(PIECES), max_size=6)))
    while b"\r\n" in line:  # a CRLF inside would make two lines
        line = line.replace(b"\r\n", b"\n")
    return b"." + line if line.startswith(b".") else line  # dot-stuffing


@st.composite
def transaction(draw: st.DrawFn) -> bytes:
    rcpts = draw(st.lists(st.sampled_from([b"bob", b"xavier", b"carol"]), min_size=1, max_size=4))
    group = b"MAIL FROM:<alice@example.org>\r\n"
    group += b"".join(b"RCPT TO:<" + r + b"@example.net>\r\n" for r in rcpts)
    group += b"DATA\r\n"
    lines = draw(st.lists(body_line(), max_size=8))
    body = b"".join(line + b"\r\n" for line in lines) + b".\r\n"
    extra = draw(
        st.sampled_from([b"", b"NOOP\r\n", b"RSET\r\n", b"XYZZY\r\n", b"RCPT TO:<a@b>\r\n"])
    )
    return group + body + extra


@st.composite
def whole_session(draw: st.DrawFn) -> bytes:
    hello = draw(st.sampled_from([b"EHLO client.example\r\n", b"HELO client.example\r\n"]))
    parts = draw(st.lists(transaction(), min_size=1, max_size=3))
    tail = draw(st.sampled_from([b"QUIT\r\n", b"NOOP\r\n", b""]))
    return hello + b"".join(parts) + tail


def answer(event: Event) -> Reply:
    """Deterministic: recipients named x... are refused, one in three EHLO-less."""
    if isinstance(event, RcptTo) and event.forward_path.local_part.startswith("x"):
        return Reply(550, "no such user", "5.1.1")
    if isinstance(event, Hello):
        return Reply(250, "mx.example.org greets " + event.domain)
    return default_answer(event)


CONFIGS = [
    {},
    {"bad_line_endings": "close"},
    {"bad_line_endings": "pass", "long_lines": "pass"},
    {"extensions": Extensions(size=900)},
]


def run(data: list[bytes], config: dict[str, object]) -> tuple[list[object], bytes]:
    """The adapter loop over ``data``; a RemoteProtocolError is recorded as an
    event, followed by its reply."""
    conn = new_conn(**config)
    pending = iter([c for c in data if c])
    events: list[object] = []
    out = b""
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:
            events.append(("RemoteProtocolError", error.reply.code))
            return merge_data(events), out + conn.send(error.reply)
        if event is NEED_DATA:
            conn.receive_data(next(pending, b""))
            continue
        assert isinstance(event, Event)
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return merge_data(events), out
        if not isinstance(event, MessageData):
            out += conn.send(answer(event))


@settings(max_examples=80)
@given(whole_session(), st.sampled_from(range(len(CONFIGS))), st.data())
def test_events_and_replies_do_not_depend_on_the_cuts(
    data: bytes, config_index: int, draw: st.DataObject
) -> None:
    config = CONFIGS[config_index]
    whole = run([data], config)
    byte_by_byte = run([data[i : i + 1] for i in range(len(data))], config)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    random_cuts = run(pieces, config)
    assert whole == byte_by_byte
    assert whole == random_cuts
    ends = [e for e in whole[0] if isinstance(e, EndOfMessage)]
    assert len(ends) <= data.count(b"DATA\r\n")


@given(st.lists(body_line(), max_size=10), st.data())
def test_pass_policy_delivers_the_unstuffed_body_byte_exact(
    lines: list[bytes], draw: st.DataObject
) -> None:
    wire = b"".join(line + b"\r\n" for line in lines)
    expected = b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)
    data = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + wire + b".\r\n"
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    events, _ = run(
        [data[a:b] for a, b in itertools.pairwise(bounds)],
        {"bad_line_endings": "pass", "long_lines": "pass"},
    )
    body = b"".join(getattr(e, "data", b"") for e in events)
    assert body == expected
    end = next(e for e in events if isinstance(e, EndOfMessage))
    assert end.size == len(expected)
