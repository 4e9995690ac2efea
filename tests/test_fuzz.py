"""Fuzz: random and mutated byte streams never raise anything but the documented
errors, and the receive buffer stays bounded while commands are read."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpstate import (
    NEED_DATA,
    PAUSED,
    Authentication,
    AuthenticationChallenge,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expand,
    Extensions,
    Hello,
    Help,
    Mail,
    MessageData,
    Noop,
    ProxyHeader,
    Quit,
    Recipient,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    Reset,
    ServerConnection,
    StartTLS,
    State,
    UnknownCommand,
    Verify,
    XClient,
    XForward,
)

from .helpers import split_options

ACCEPT = {
    Hello: 250,
    Mail: 250,
    Recipient: 251,
    DataStart: 354,
    EndOfMessage: 250,
    Reset: 250,
    Noop: 250,
    Quit: 221,
    Verify: 252,
    Expand: 250,
    Help: 214,
    StartTLS: 220,
    Authentication: 235,
    EndOfChunk: 250,
    XClient: 220,
    XForward: 250,
}


def legal_reply(conn: ServerConnection, event: Event, choice: int) -> Reply:
    """A reply the engine must take: the suggestion, an accept, a reject or 421.
    HELO/EHLO and XCLIENT are accepted with the connection's default, which
    names the server (RFC 5321 4.1.1.1, 4.2)."""
    if choice % 17 == 16:
        return Reply(421, "closing")
    if isinstance(event, (RejectedCommand, UnknownCommand)):
        return event.reply
    if isinstance(event, AuthenticationChallenge) and choice % 5 != 4:
        return event.reply
    if isinstance(event, AuthenticationChallenge):
        return Reply(454, "temporary failure")
    if isinstance(event, (EndOfMessage, EndOfChunk)) and event.reply is not None:
        return event.reply
    if choice % 3 == 2 and not isinstance(event, (Reset, Noop, Quit)):
        return Reply(450 + choice % 3, "try again")
    if isinstance(event, (Hello, XClient)):
        return conn.default_reply()
    return Reply(ACCEPT[type(event)], "ok")


def feed(conn: ServerConnection, chunks: list[bytes], choices: list[int]) -> None:
    """The adapter loop; only RemoteProtocolError may escape."""
    ext = conn.extensions
    allowance = max(ext.line_allowance("MAIL"), ext.line_allowance("RCPT"))
    cap = conn.options.max_command_line + allowance
    auth_cap = 12288  # RFC 4954 4: a SASL response line may be this long
    pending = iter(chunks)
    n = 0
    for _ in range(100_000):
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:
            assert conn.state is State.ERROR
            conn.send(error.reply)
            return
        if event is PAUSED:
            assert conn.state is State.TLS_PENDING
            assert conn.trailing_data[0] == b""  # nothing sent ahead survives
            conn.tls_established()
            continue
        if event is NEED_DATA:
            if conn.state is State.AUTH_EXCHANGE:
                assert len(conn.trailing_data[0]) < auth_cap
            elif conn.state is State.PROXY_HEADER:  # a v2 header is at most 16 + 65535
                assert len(conn.trailing_data[0]) < 16 + 65536
            elif conn.state is not State.IN_DATA:
                assert len(conn.trailing_data[0]) < cap
            chunk = next(pending, None)
            conn.receive_data(chunk if chunk is not None else b"")
            continue
        assert isinstance(event, Event)
        if isinstance(event, ConnectionClosed):
            assert conn.state is State.CLOSED
            return
        if isinstance(event, MessageData):
            assert event.data
            continue
        if isinstance(event, ProxyHeader):
            assert conn.next_event() is PAUSED  # the greeting is owed now
            conn.send(conn.default_reply())
            continue
        n += 1
        conn.send(legal_reply(conn, event, choices[n % len(choices)] if choices else 0))
        while conn.awaiting_reply is event:  # LMTP: one reply per recipient
            n += 1
            conn.send(legal_reply(conn, event, choices[n % len(choices)] if choices else 0))
    raise AssertionError("the loop did not end")


CONFIGS = [
    {},
    {"extensions": Extensions(size=200, smtputf8=True, help=True, expn=True)},
    {"bad_line_endings": "close", "long_lines": "pass"},
    {"bad_line_endings": "pass", "max_text_line": 1000},
    {"extensions": Extensions(starttls=True, auth=("PLAIN", "LOGIN", "CRAM-MD5"))},
    {
        "extensions": Extensions(starttls=True, auth=("PLAIN", "LOGIN"), auth_without_tls=True),
        "require_auth": True,
        "strict_pipelining": True,
    },
    {"extensions": Extensions(starttls=True, auth=("CRAM-MD5",)), "require_tls": True},
    {"extensions": Extensions(chunking=True, binarymime=True, size=300)},
    {"lmtp": True, "extensions": Extensions(chunking=True, size=500)},
    {
        "proxy_protocol": True,
        "xclient": True,
        "xforward": True,
        "extensions": Extensions(chunking=True, dsn=True),
    },
    {"extensions": Extensions(dsn=True, mt_priority=True, extra_mail_params=("XTRA",))},
]

TRANSCRIPT = (
    b"EHLO client.example\r\nMAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\n"
    b"RCPT TO:<c@[192.0.2.1]>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n..dot\r\nline\r\n.\r\n"
    b"VRFY x\r\nHELP\r\nRSET\r\nNOOP\r\nHELO h\r\nMAIL FROM:<>\r\nQUIT\r\n"
)

# The same with STARTTLS and AUTH dialogues (PLAIN, LOGIN, a cancelled CRAM-MD5).
TLS_TRANSCRIPT = (
    b"EHLO client.example\r\nAUTH PLAIN " + base64.b64encode(b"\0user\0secret") + b"\r\n"
    b"STARTTLS\r\nMAIL FROM:<x@y>\r\nEHLO client.example\r\nAUTH LOGIN\r\n"
    + base64.b64encode(b"user")
    + b"\r\n"
    + base64.b64encode(b"secret")
    + b"\r\n"
    b"AUTH CRAM-MD5\r\n*\r\nMAIL FROM:<a@b.example> AUTH=a+2Bb@c\r\nRCPT TO:<c@d>\r\n"
    b"DATA\r\nx\r\n.\r\nAUTH PLAIN\r\n=\r\nQUIT\r\n"
)


# CHUNKING, LMTP, PROXY, XCLIENT/XFORWARD and DSN.
EXTENSIONS_TRANSCRIPT = (
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nLHLO client.example\r\n"
    b"EHLO client.example\r\nXCLIENT NAME=a ADDR=IPV6:2001:db8::1 LOGIN=joe\r\n"
    b"EHLO client.example\r\nXFORWARD NAME=b SOURCE=REMOTE\r\n"
    b"MAIL FROM:<a@b.example> BODY=BINARYMIME RET=HDRS ENVID=x+2By MT-PRIORITY=-3 XTRA=1\r\n"
    b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c+40d.example\r\n"
    b"RCPT TO:<e@f.example>\r\nBDAT 7\r\n\r\n.\r\n\0\nBDAT 3 LAST\r\nxyz"
    b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d>\r\nDATA\r\nbody\r\n.\r\nBDAT 2\r\nabQUIT\r\n"
)
PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"


def greeted(config_index: int) -> ServerConnection:
    """A connection of CONFIGS[config_index], greeted unless it reads a PROXY
    header first (then ``feed`` greets after the header)."""
    config = CONFIGS[config_index]
    conn = ServerConnection(**split_options(dict(config)))  # type: ignore[arg-type]
    if not config.get("proxy_protocol"):
        conn.send(conn.default_reply())
    return conn


@settings(max_examples=200)
@given(
    st.lists(st.binary(max_size=700), max_size=12),
    st.lists(st.integers(0, 100), max_size=20),
    st.integers(0, len(CONFIGS) - 1),
)
def test_random_bytes(chunks: list[bytes], choices: list[int], config: int) -> None:
    feed(greeted(config), chunks, choices)


ALPHABET = [b"\r", b"\n", b"\r\n", b".", b"\r\n.\r\n", b" ", b"<", b">", b":", b"\0", b"\xff",
            b"\xc3\xa9", b"x" * 600, b"MAIL FROM:<a@b>", b"DATA\r\n", b"STARTTLS\r\n",
            b"AUTH LOGIN\r\n", b"AUTH PLAIN\r\n", b"*\r\n", b"=", b"QUFB" * 200,
            b"BDAT 10\r\n", b"BDAT 0 LAST\r\n", b"BDAT 99999\r\n", b"LHLO x\r\n", b"+2B",
            b"XCLIENT ADDR=[UNAVAILABLE]\r\n", b"PROXY ", PROXY_V2[:12],
            b"\x21\x11\xff\xff"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([TRANSCRIPT, TLS_TRANSCRIPT, EXTENSIONS_TRANSCRIPT])))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.integers(0, 2))
        if action == 0:
            data[pos:pos] = draw(st.sampled_from(ALPHABET))
        elif action == 1:
            del data[pos : pos + draw(st.integers(1, 20))]
        else:
            data[pos : pos + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(data)


@settings(max_examples=300)
@given(
    mutated(),
    st.integers(1, 64),
    st.lists(st.integers(0, 100), max_size=20),
    st.integers(0, len(CONFIGS) - 1),
)
def test_mutated_transcripts(data: bytes, size: int, choices: list[int], config: int) -> None:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    feed(greeted(config), chunks, choices)


@given(st.lists(st.binary(min_size=1, max_size=4096), min_size=1, max_size=20))
def test_buffer_is_bounded_without_crlf(chunks: list[bytes]) -> None:
    """A client that never ends its line cannot grow the buffer past the cap."""
    conn = greeted(0)
    for chunk in chunks:
        conn.receive_data(chunk.replace(b"\n", b"-"))
        event = conn.next_event()
        assert event is NEED_DATA
        assert len(conn.trailing_data[0]) < 512


@given(st.lists(st.binary(min_size=1, max_size=8192), min_size=1, max_size=10))
def test_buffer_is_bounded_in_an_auth_exchange(chunks: list[bytes]) -> None:
    """A SASL response line may be long (RFC 4954 4), but not endless: the
    buffer stays under the 12288-octet cap however long the line grows."""
    conn = greeted(4)
    conn.receive_data(b"EHLO c\r\nAUTH CRAM-MD5\r\n")
    for _ in range(2):
        event = conn.next_event()
        assert not isinstance(event, RejectedCommand)
        conn.send(legal_reply(conn, event, 0))
    assert conn.state is State.AUTH_EXCHANGE
    for chunk in chunks:
        conn.receive_data(chunk.replace(b"\n", b"-"))
        assert conn.next_event() is NEED_DATA
        assert len(conn.trailing_data[0]) < 12288


PROXY_CONFIG = next(i for i, c in enumerate(CONFIGS) if c.get("proxy_protocol"))


@settings(max_examples=200)
@given(
    st.sampled_from([b"", b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 ", PROXY_V2[:12], PROXY_V2[:13]]),
    st.binary(max_size=300),
    st.integers(1, 40),
)
def test_random_proxy_headers(prefix: bytes, tail: bytes, size: int) -> None:
    """Whatever follows the start of a PROXY header, the connection reads a
    header and goes on, or ends with RemoteProtocolError (421)."""
    data = prefix + tail
    feed(greeted(PROXY_CONFIG), [data[i : i + size] for i in range(0, len(data), size)], [0])


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_random_proxy_v2_blocks(block: bytes, length: int) -> None:
    """A v2 header with any family byte, length and block never crashes the reader."""
    for family in (0x00, 0x11, 0x12, 0x21, 0x31, 0x10, 0x13, 0x41):
        header = PROXY_V2[:13] + bytes([family]) + length.to_bytes(2, "big") + block
        feed(greeted(PROXY_CONFIG), [header, b"EHLO c\r\n"], [0])
