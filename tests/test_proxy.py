"""The PROXY protocol (HAProxy specification, versions 1 and 2), one test per
rule, named after the specification's sections."""

from __future__ import annotations

import struct

import pytest

from smtpstate import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Event,
    Hello,
    LocalProtocolError,
    ProxyHeader,
    RemoteProtocolError,
    Reply,
    State,
    UnknownCommand,
)

from .helpers import GREETING, codes, drive, new_conn

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_TCP4 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 587\r\n"


def v2(
    command: int = 1, family: int = 0x11, block: bytes = b"", length: int | None = None
) -> bytes:
    size = len(block) if length is None else length
    return SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", size) + block


TCP4_BLOCK = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 56324, 25)
TCP6_BLOCK = (
    bytes.fromhex("20010db8000000000000000000000001")
    + bytes.fromhex("20010db8000000000000000000000002")
    + struct.pack("!HH", 4711, 587)
)
UNIX_BLOCK = b"/run/client.sock".ljust(108, b"\0") + b"/run/smtp.sock".ljust(108, b"\0")
TLVS = b"\x01\x00\x04smtp" + b"\x04\x00\x00" + b"\x05\x00\x02id"


def read_header(pieces: list[bytes]) -> tuple[ProxyHeader, list[Event], bytes]:
    """Feed ``pieces`` to a PROXY connection, greet after the header, then run
    whatever follows; returns the header, the later events and the replies."""
    conn = new_conn(greet=False, proxy_protocol=True)
    assert conn.state is State.PROXY_HEADER
    rest = iter(pieces)
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(next(rest))
            continue
        assert isinstance(event, ProxyHeader)
        break
    assert conn.proxy == event
    assert conn.next_event() is PAUSED  # the greeting is owed now
    out = conn.send(GREETING)
    events, more = drive(conn, list(rest))
    return event, events, out + more


def header_of(data: bytes) -> ProxyHeader:
    return read_header([data])[0]


def test_2_1_v1_tcp4() -> None:
    """PROXY TCP4 source destination sport dport CRLF, exposed as read."""
    assert header_of(V1_TCP4) == ProxyHeader(
        version=1,
        command="PROXY",
        protocol="TCP4",
        source_address="192.0.2.1",
        destination_address="198.51.100.2",
        source_port=56324,
        destination_port=25,
    )


def test_2_1_v1_tcp6() -> None:
    """TCP6 carries IPv6 addresses in text form."""
    header = header_of(V1_TCP6)
    assert header.protocol == "TCP6"
    assert (header.source_address, header.source_port) == ("2001:db8::1", 4711)
    assert (header.destination_address, header.destination_port) == ("2001:db8::2", 587)


@pytest.mark.parametrize(
    "line", [b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"]
)
def test_2_1_v1_unknown_ignores_the_rest_of_the_line(line: bytes) -> None:
    """UNKNOWN: the receiver ignores anything after it up to the CRLF."""
    assert header_of(line) == ProxyHeader(version=1, command="PROXY", protocol="UNKNOWN")


def test_2_1_v1_longest_line_is_accepted() -> None:
    """The worst case, 107 octets with the CRLF, is a valid line."""
    line = b"PROXY UNKNOWN " + b"f" * 91 + b"\r\n"
    assert len(line) == 107
    assert header_of(line).protocol == "UNKNOWN"


def test_2_2_v2_tcp4() -> None:
    """\\x21 \\x11: PROXY over TCP/IPv4, 4-octet addresses then the ports."""
    assert header_of(v2(block=TCP4_BLOCK)) == ProxyHeader(
        version=2,
        command="PROXY",
        protocol="TCP4",
        source_address="192.0.2.1",
        destination_address="198.51.100.2",
        source_port=56324,
        destination_port=25,
    )


def test_2_2_v2_tcp6() -> None:
    """\\x21: TCP over IPv6, 16-octet addresses."""
    header = header_of(v2(family=0x21, block=TCP6_BLOCK))
    assert header.protocol == "TCP6"
    assert header.source_address == "2001:db8::1"
    assert header.destination_port == 587


def test_2_2_v2_udp4() -> None:
    """\\x12: UDP over IPv4 has the same layout as TCP."""
    assert header_of(v2(family=0x12, block=TCP4_BLOCK)).protocol == "UDP4"


def test_2_2_v2_unix() -> None:
    """\\x31: UNIX stream, two 108-octet paths padded with NULs."""
    header = header_of(v2(family=0x31, block=UNIX_BLOCK))
    assert header.protocol == "UNIX_STREAM"
    assert header.source_address == "/run/client.sock"
    assert header.destination_address == "/run/smtp.sock"
    assert header.source_port is None


def test_2_2_v2_unspec() -> None:
    """\\x00 UNSPEC: the receiver ignores any address information."""
    header = header_of(v2(family=0x00, block=b"\xff" * 7))
    assert header == ProxyHeader(version=2, command="PROXY", protocol="UNSPEC")


@pytest.mark.parametrize("family", [0x10, 0x20, 0x30, 0x01, 0x02])
def test_2_2_v2_valid_combination_not_implemented_falls_back_to_unspec(family: int) -> None:
    """A receiver falls back to UNSPEC for the valid family/transport
    combinations it does not implement."""
    header = header_of(v2(family=family, block=TCP4_BLOCK))
    assert header.protocol == "UNSPEC"
    assert header.source_address is None


@pytest.mark.parametrize("family", [0x00, 0x11, 0x21, 0x31])
def test_2_2_v2_local_discards_the_block(family: int) -> None:
    """LOCAL (a health check): the receiver uses the real endpoints and
    discards the protocol block, whatever its family and length say."""
    header = header_of(v2(command=0, family=family, block=TCP4_BLOCK))
    assert header == ProxyHeader(version=2, command="LOCAL", protocol="UNSPEC")


def test_2_2_local_without_block() -> None:
    """The usual LOCAL header has a zero length."""
    assert header_of(v2(command=0, family=0)).command == "LOCAL"


@pytest.mark.parametrize(
    ("family", "block"), [(0x11, TCP4_BLOCK), (0x21, TCP6_BLOCK), (0x31, UNIX_BLOCK)]
)
def test_2_2_1_tlvs_after_the_addresses_are_exposed(family: int, block: bytes) -> None:
    """Type-length-value vectors follow the addresses inside the length."""
    header = header_of(v2(family=family, block=block + TLVS))
    assert header.tlvs == ((0x01, b"smtp"), (0x04, b""), (0x05, b"id"))


HEADERS = [
    V1_TCP4,
    V1_TCP6,
    b"PROXY UNKNOWN\r\n",
    v2(block=TCP4_BLOCK + TLVS),
    v2(family=0x21, block=TCP6_BLOCK),
    v2(command=0, family=0),
]


@pytest.mark.parametrize("header", HEADERS)
def test_2_the_header_may_arrive_in_any_pieces(header: bytes) -> None:
    """The receiver waits for the whole header: cut at every octet boundary,
    and one octet at a time, it reads the same header and then the session."""
    wire = header + b"EHLO client.example\r\n"
    whole = read_header([wire])
    for cut in range(1, len(wire)):
        assert read_header([wire[:cut], wire[cut:]]) == whole
    assert read_header([wire[i : i + 1] for i in range(len(wire))]) == whole
    assert isinstance(whole[1][0], Hello)
    assert codes(whole[2]) == [220, 250]


def test_2_greeting_is_owed_only_after_the_header() -> None:
    """Nothing is owed before the header; a greeting then is an application bug."""
    conn = new_conn(greet=False, proxy_protocol=True)
    assert conn.awaiting_reply is None
    assert conn.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        conn.send(GREETING)


def test_2_server_may_close_before_the_header() -> None:
    """A 421 (a shutdown) is allowed while waiting for the header."""
    conn = new_conn(greet=False, proxy_protocol=True)
    conn.send(Reply(421, "Shutting down", "4.3.2"))
    assert isinstance(conn.next_event(), ConnectionClosed)


BAD = {
    "smtp-first": b"EHLO client.example\r\n",
    "http": b"GET / HTTP/1.0\r\n\r\n",
    "v1-lowercase": b"proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
    "v1-protocol": b"PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n",
    "v1-no-crlf-in-107": b"PROXY UNKNOWN " + b"f" * 92 + b"\r\n",
    "v1-bare-lf": b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n",
    "v1-bare-cr": b"PROXY TCP4 192.0.2.1\r198.51.100.2 1 2\r\n",
    "v1-missing-field": b"PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n",
    "v1-extra-field": b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
    "v1-double-space": b"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n",
    "v1-empty": b"PROXY \r\n",
    "v1-ipv4-range": b"PROXY TCP4 256.0.2.1 198.51.100.2 1 2\r\n",
    "v1-ipv4-leading-zero": b"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",
    "v1-ipv4-short": b"PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n",
    "v1-tcp4-with-ipv6": b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
    "v1-tcp6-with-ipv4": b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
    "v1-ipv6-scope": b"PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n",
    "v1-port-range": b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n",
    "v1-port-leading-zero": b"PROXY TCP4 192.0.2.1 198.51.100.2 025 25\r\n",
    "v1-port-sign": b"PROXY TCP4 192.0.2.1 198.51.100.2 +25 25\r\n",
    "v1-port-empty": b"PROXY TCP4 192.0.2.1 198.51.100.2  25\r\n",
    "v1-non-ascii": b"PROXY TCP4 192.0.2.\xc2\xb9 198.51.100.2 1 2\r\n",
    "v2-signature": b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + TCP4_BLOCK,
    "v2-version-1": SIGNATURE + b"\x11\x11\x00\x0c" + TCP4_BLOCK,
    "v2-version-3": SIGNATURE + b"\x31\x11\x00\x0c" + TCP4_BLOCK,
    "v2-command-2": v2(command=2, block=TCP4_BLOCK),
    "v2-command-f": v2(command=0xF, block=TCP4_BLOCK),
    "v2-family-4": v2(family=0x41, block=TCP4_BLOCK),
    "v2-transport-3": v2(family=0x13, block=TCP4_BLOCK),
    "v2-tcp4-short": v2(block=TCP4_BLOCK[:-1]),
    "v2-tcp6-short": v2(family=0x21, block=TCP6_BLOCK[:-1]),
    "v2-unix-short": v2(family=0x31, block=UNIX_BLOCK[:-1]),
    "v2-tlv-header-cut": v2(block=TCP4_BLOCK + b"\x01\x00"),
    "v2-tlv-value-cut": v2(block=TCP4_BLOCK + b"\x01\x00\x05abc"),
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_2_malformed_header_closes_and_nothing_is_parsed_after_it(data: bytes) -> None:
    """A malformed or missing header aborts the connection (421 4.7.0); no byte
    after it is ever parsed."""
    conn = new_conn(greet=False, proxy_protocol=True)
    conn.receive_data(data + b"EHLO client.example\r\nQUIT\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.reply.code == 421
    assert info.value.reply.enhanced == "4.7.0"
    assert conn.state is State.ERROR
    assert conn.proxy is None
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.send(info.value.reply).startswith(b"421 4.7.0 ")


@pytest.mark.parametrize("data", [b"", b"PROXY TCP4 192", SIGNATURE[:7], v2(length=12)])
def test_2_close_before_the_header_ends(data: bytes) -> None:
    """A client that closes before the header is complete sent no valid header."""
    conn = new_conn(greet=False, proxy_protocol=True)
    if data:
        conn.receive_data(data)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_2_v2_signature_prefix_waits_for_more() -> None:
    """Fewer than 16 octets of a v2 header are not enough to judge it."""
    conn = new_conn(greet=False, proxy_protocol=True)
    conn.receive_data(SIGNATURE + b"\x21")
    assert conn.next_event() is NEED_DATA


def test_2_header_is_never_accepted_when_the_option_is_off() -> None:
    """A receiver must be configured for PROXY and never guess: without the
    option the line is just an unknown command (a client cannot forge its address)."""
    conn = new_conn()
    events, out = drive(conn, V1_TCP4)
    assert isinstance(events[0], UnknownCommand)
    assert events[0].verb == "PROXY"
    assert codes(out) == [500]
    assert conn.proxy is None


def test_2_header_only_once() -> None:
    """After the header, a second PROXY line is an unknown command."""
    _, events, out = read_header([V1_TCP4 + V1_TCP4])
    assert isinstance(events[0], UnknownCommand)
    assert codes(out) == [220, 500]
