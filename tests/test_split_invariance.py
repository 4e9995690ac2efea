"""Split invariance: however the client's bytes are cut, the events (data
chunks joined) and the reply bytes are the same (h11's test_io idea)."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpstate import (
    NEED_DATA,
    PAUSED,
    AuthenticationChallenge,
    ConnectionClosed,
    EndOfChunk,
    EndOfMessage,
    Event,
    Extensions,
    Hello,
    MessageData,
    ProxyHeader,
    Recipient,
    RemoteProtocolError,
    Reply,
    State,
)
from smtpstate.testing.strategies import bodies, client_sessions, splits

from .helpers import GREETING, default_answer, merge_data, new_conn

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


def answer(event: Event, nth: int = 0) -> Reply:
    """Deterministic: recipients named x... are refused, chunks of 7 octets get
    451, and in LMTP the second recipient's reply is 452."""
    if isinstance(event, Recipient) and event.forward_path.local_part.startswith("x"):
        return Reply(550, "no such user", "5.1.1")
    if isinstance(event, Hello):
        return Reply(250, "mx.example.org greets " + event.domain)
    if isinstance(event, EndOfChunk) and event.size == 7 and event.reply is None:
        return Reply(451, "try again", "4.3.0")
    if isinstance(event, EndOfMessage) and nth == 1 and event.reply is None:
        return Reply(452, "mailbox full", "4.2.2")
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
    proxy = bool(config.get("proxy_protocol"))
    conn = new_conn(greet=not proxy, **config)
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
        if isinstance(event, ProxyHeader):
            out += conn.send(GREETING)
        elif not isinstance(event, MessageData):
            out += conn.send(answer(event))
            nth = 1
            while conn.awaiting_reply is event:  # LMTP: one reply per recipient
                out += conn.send(answer(event, nth))
                nth += 1


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


# Sessions from smtpstate.testing's client model: every extension it uses,
# mistakes and hostile bodies mixed in, BDAT as well as DATA.
GENERATED = Extensions(size=100_000, chunking=True, smtputf8=True, dsn=True)


@settings(max_examples=60)
@given(
    client_sessions(extensions=GENERATED, message_bodies=bodies(hostile=True)),
    st.sampled_from(range(len(CONFIGS))),
    st.data(),
)
def test_generated_sessions_do_not_depend_on_the_cuts(
    writes: list[bytes], config_index: int, draw: st.DataObject
) -> None:
    """The same invariance for the sessions of ``smtpstate.testing.strategies``,
    each write cut by ``splits()`` (RFC 5321 2.3.8: lines end at CRLF, not at
    the reads; RFC 2920: a pipelined group is the same commands)."""
    config = {"extensions": GENERATED, **CONFIGS[config_index]}
    whole = run([b"".join(writes)], config)
    pieces = [chunk for write in writes for chunk in draw.draw(splits(write))]
    assert run(pieces, config) == whole


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


# -- AUTH and STARTTLS ------------------------------------------------------------------


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# SASL dialogues whose lines are known in advance (CRAM-MD5's cannot be: its
# challenge is random). Some fail: bad password, "*", bad base64, a line too long.
AUTH_DIALOGUES = [
    b"AUTH PLAIN " + _b64(b"\0user\0secret") + b"\r\n",
    b"AUTH PLAIN " + _b64(b"boss\0user\0wrong") + b"\r\n",
    b"AUTH PLAIN\r\n" + _b64(b"\0user\0secret") + b"\r\n",
    b"AUTH LOGIN\r\n" + _b64(b"user") + b"\r\n" + _b64(b"secret") + b"\r\n",
    b"AUTH LOGIN " + _b64(b"user") + b"\r\n" + _b64(b"nope") + b"\r\n",
    b"AUTH LOGIN\r\n*\r\n",
    b"AUTH PLAIN =AAA\r\n",
    b"AUTH PLAIN =\r\n",
    b"AUTH LOGIN\r\n" + b"QUFB" * 3100 + b"\r\n",
    b"AUTH CRAM-MD5\r\n*\r\n",
]


@st.composite
def tls_auth_session(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(before, after): ``before`` ends with STARTTLS when the session starts TLS;
    ``after`` is what the client sends once the handshake is done."""
    hello = draw(st.sampled_from([b"EHLO client.example\r\n", b"HELO client.example\r\n"]))
    before = hello + b"".join(draw(st.lists(st.sampled_from(AUTH_DIALOGUES), max_size=2)))
    before += b"".join(draw(st.lists(transaction(), max_size=1)))
    after = b""
    if draw(st.booleans()):
        before += b"STARTTLS\r\n"
        after = draw(st.sampled_from([b"EHLO client.example\r\n", b"NOOP\r\n"]))
    after += b"".join(draw(st.lists(st.sampled_from(AUTH_DIALOGUES), max_size=2)))
    after += b"".join(draw(st.lists(transaction(), max_size=2)))
    return before, after + draw(st.sampled_from([b"QUIT\r\n", b""]))


TLS_CONFIGS = [
    {"extensions": Extensions(starttls=True, auth=("PLAIN", "LOGIN", "CRAM-MD5"))},
    {"extensions": Extensions(starttls=True, auth=("PLAIN", "LOGIN"), auth_without_tls=True)},
    {"extensions": Extensions(starttls=True, auth=("PLAIN",)), "require_tls": True},
    {"extensions": Extensions(auth=("LOGIN",), auth_without_tls=True), "require_auth": True},
]


def run_phases(phases: list[list[bytes]], config: dict[str, object]) -> tuple[list[object], bytes]:
    """The adapter loop with a TLS hand-off: each phase's chunks are fed in
    turn; when the connection pauses for the handshake, it is reported done
    and the next phase begins (the bytes of a phase never cross the handshake)."""
    conn = new_conn(**config)
    pending = [iter([c for c in phase if c]) for phase in phases]
    events: list[object] = []
    out = b""
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:
            events.append(("RemoteProtocolError", error.reply.code))
            return merge_data(events), out + conn.send(error.reply)
        if event is PAUSED:
            assert conn.state is State.TLS_PENDING
            conn.tls_established()
            events.append("TLS")
            pending = pending[1:]
            continue
        if event is NEED_DATA:
            chunk = next(pending[0], None) if pending else None
            while chunk is None and len(pending) > 1:
                pending = pending[1:]  # STARTTLS was refused: go on in plaintext
                chunk = next(pending[0], None)
            conn.receive_data(chunk or b"")
            continue
        assert isinstance(event, Event)
        if isinstance(event, AuthenticationChallenge) and event.mechanism == "CRAM-MD5":
            # Its challenge is random: record it without, and send a fixed one.
            events.append(("AuthenticationChallenge", event.mechanism))
            out += conn.send(Reply(334, base64.b64encode(b"<1.2@mx>").decode()))
            continue
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return merge_data(events), out
        if not isinstance(event, MessageData):
            out += conn.send(answer(event))


def _cut(data: bytes, draw: st.DataObject) -> list[bytes]:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=10)))
    return [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]


@settings(max_examples=60)
@given(tls_auth_session(), st.sampled_from(range(len(TLS_CONFIGS))), st.data())
def test_auth_and_starttls_do_not_depend_on_the_cuts(
    session: tuple[bytes, bytes], config_index: int, draw: st.DataObject
) -> None:
    config = TLS_CONFIGS[config_index]
    before, after = session
    whole = run_phases([[before], [after]], config)
    byte_by_byte = run_phases(
        [
            [before[i : i + 1] for i in range(len(before))],
            [after[i : i + 1] for i in range(len(after))],
        ],
        config,
    )
    random_cuts = run_phases([_cut(before, draw), _cut(after, draw)], config)
    assert whole == byte_by_byte
    assert whole == random_cuts


def test_starttls_session_reaches_tls_and_authenticates() -> None:
    """A sanity check of the harness: the usual submission dialogue."""
    before = b"EHLO c\r\nSTARTTLS\r\n"
    after = b"EHLO c\r\n" + AUTH_DIALOGUES[0] + b"MAIL FROM:<a@b>\r\nQUIT\r\n"
    events, out = run_phases([[before], [after]], TLS_CONFIGS[0])
    assert "TLS" in events
    assert b"235 2.7.0" in out
    assert out.endswith(b"250 2.0.0 OK\r\n221 2.0.0 Bye\r\n")


# -- BDAT, LMTP and PROXY sessions ---------------------------------------------

CHUNK_PIECES = [b"\r\n.\r\n", b"QUIT\r\n", b"BDAT 5\r\n", b".", b"\n", b"\0\xff", b"x" * 300]


@st.composite
def chunk(draw: st.DrawFn) -> bytes:
    return b"".join(
        draw(st.lists(st.sampled_from(CHUNK_PIECES) | st.binary(max_size=9), max_size=4))
    )


@st.composite
def bdat_transaction(draw: st.DrawFn) -> bytes:
    rcpts = draw(st.lists(st.sampled_from([b"bob", b"xavier", b"carol"]), min_size=1, max_size=3))
    group = b"MAIL FROM:<alice@example.org>\r\n"
    group += b"".join(b"RCPT TO:<" + r + b"@example.net>\r\n" for r in rcpts)
    for piece in draw(st.lists(chunk(), max_size=3)):
        group += b"BDAT %d\r\n" % len(piece) + piece
    last = draw(chunk())
    group += b"BDAT %d LAST\r\n" % len(last) + last
    extra = draw(st.sampled_from([b"", b"NOOP\r\n", b"BDAT 3\r\nxyz", b"DATA\r\n", b"RSET\r\n"]))
    return group + extra


PROXY_HEADERS = [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
    b"PROXY UNKNOWN\r\n",
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x13\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"
    b"\x01\x00\x04smtp",
    b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
]

EXTENSION_CONFIGS: list[dict[str, object]] = [
    {"extensions": Extensions(chunking=True, binarymime=True)},
    {"extensions": Extensions(chunking=True, size=600)},
    {"lmtp": True, "extensions": Extensions(chunking=True)},
    {"lmtp": True, "extensions": Extensions(size=900)},
    {"proxy_protocol": True, "xclient": True, "extensions": Extensions(chunking=True, dsn=True)},
]


@st.composite
def extension_session(draw: st.DrawFn) -> tuple[bytes, int]:
    index = draw(st.sampled_from(range(len(EXTENSION_CONFIGS))))
    config = EXTENSION_CONFIGS[index]
    data = draw(st.sampled_from(PROXY_HEADERS)) if config.get("proxy_protocol") else b""
    data += b"LHLO client.example\r\n" if config.get("lmtp") else b"EHLO client.example\r\n"
    if config.get("xclient"):
        data += b"XCLIENT NAME=a ADDR=192.0.2.9 LOGIN=joe\r\nEHLO client.example\r\n"
    parts = draw(st.lists(st.one_of(bdat_transaction(), transaction()), min_size=1, max_size=3))
    tail = draw(st.sampled_from([b"QUIT\r\n", b"NOOP\r\n", b""]))
    return data + b"".join(parts) + tail, index


@settings(max_examples=60)
@given(extension_session(), st.data())
def test_bdat_lmtp_and_proxy_sessions_do_not_depend_on_the_cuts(
    session: tuple[bytes, int], draw: st.DataObject
) -> None:
    data, index = session
    config = EXTENSION_CONFIGS[index]
    whole = run([data], config)
    byte_by_byte = run([data[i : i + 1] for i in range(len(data))], config)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    random_cuts = run([data[a:b] for a, b in itertools.pairwise(bounds)], config)
    assert whole == byte_by_byte
    assert whole == random_cuts
    if config.get("proxy_protocol"):
        assert isinstance(whole[0][0], ProxyHeader)
