"""The optional extensions in the example servers: LMTP, CHUNKING/BDAT,
XCLIENT/XFORWARD, DSN and the PROXY protocol, each adapter a real process on
loopback. smtplib drives what it can (LMTP, DSN parameters); raw sockets do the rest
(BDAT, XCLIENT, PROXY headers), since no client on the machine speaks them. The
stored formats are in docs/examples.md."""

from __future__ import annotations

import re
import smtplib
import socket
import struct
from pathlib import Path

import pytest

from .conftest import HOST, RawClient, Server, StartServer

SENDER = "sender@client.test"


def message(tag: str, body: bytes = b"") -> bytes:
    head = f"From: {SENDER}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@client.test>\r\n\r\n"
    return head.encode() + (body or f"body of {tag}\r\n".encode())


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """(the headers the server wrote, the message as the client sent it): the
    server's block ends where the client's From: header starts."""
    end = raw.index(b"\r\nFrom: ") + 2
    return raw[:end], raw[end:]


def received(head: bytes) -> bytes:
    """The Received: header, unfolded."""
    match = re.search(rb"^Received: .*?;\r\n\t[^\r\n]*\r\n", head, re.S | re.M)
    assert match, head
    return match.group(0).replace(b"\r\n\t", b" ")


def deliveries(server: Server, count: int) -> list[tuple[bytes, bytes]]:
    """Exactly ``count`` files in new/, none left in tmp/: (head, message) each."""
    assert server.wait_until(lambda: len(server.new()) >= count, timeout=5)
    files = server.new()
    assert len(files) == count, files
    assert server.tmp() == []
    return [split_head(path.read_bytes()) for path in files]


class Raw(RawClient):
    """A bare socket client, greeted on connection."""

    def __init__(self, port: int, greeting: bool = True) -> None:
        super().__init__(port, timeout=10, greeting=greeting)

    def bdat(self, chunk: bytes, last: bool = False) -> bytes:
        """One BDAT command and its octets (no CRLF after them)."""
        self.sock.sendall(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
        return self.reply()

    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port


def send_by_data(raw: Raw, tag: str, helo: bytes = b"client.test") -> bytes:
    """EHLO, one message by DATA, QUIT; returns the message sent."""
    assert raw.command(b"EHLO " + helo).startswith(b"250")
    data = message(tag)
    assert raw.command(f"MAIL FROM:<{SENDER}>".encode()).startswith(b"250")
    assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    assert raw.command(data + b".").startswith(b"250")
    assert raw.command(b"QUIT").startswith(b"221")
    return data


# -- LMTP (RFC 2033) -----------------------------------------------------------------


def test_lmtp_one_reply_and_one_file_per_recipient(start_server: StartServer) -> None:
    """RFC 2033 4.2: after the body, one reply per accepted recipient, in order;
    the example delivers one file per recipient, each naming its recipient."""
    server = start_server("--lmtp")
    recipients = ["a@mx.test", "b@mx.test", "c@mx.test"]
    data = message("lmtp")
    with smtplib.LMTP(HOST, server.port, local_hostname="client.test", timeout=30) as lmtp:
        assert lmtp.ehlo()[0] == 250  # smtplib.LMTP sends LHLO
        assert lmtp.mail(SENDER) == (250, b"2.1.0 Sender OK")
        for rcpt in recipients:
            assert lmtp.rcpt(rcpt)[0] == 250
        # smtplib reads one reply to DATA; an LMTP client reads one per recipient.
        replies = [lmtp.data(data)] + [lmtp.getreply() for _ in recipients[1:]]
        assert [code for code, _ in replies] == [250, 250, 250]
        for (_, text), rcpt in zip(replies, recipients, strict=True):
            assert text.startswith(f"2.0.0 <{rcpt}> OK queued as ".encode())
        assert lmtp.noop()[0] == 250  # nothing left over: the next reply is NOOP's
    files = deliveries(server, 3)
    named = sorted(re.findall(rb" for <([^>]+)>", received(head))[0] for head, _ in files)
    assert named == [r.encode() for r in recipients]
    for head, body in files:
        assert body == data
        assert b" with LMTP id " in received(head)


def test_lmtp_refuses_helo_and_answers_bdat_per_recipient(start_server: StartServer) -> None:
    """RFC 2033 4.1: HELO/EHLO are not LMTP; BDAT LAST also gets one reply each."""
    server = start_server("--lmtp", "--chunking")
    raw = Raw(server.port)
    assert raw.command(b"EHLO client.test").startswith(b"500")
    assert b"CHUNKING" in raw.command(b"LHLO client.test")
    assert raw.command(f"MAIL FROM:<{SENDER}>".encode()).startswith(b"250")
    assert raw.command(b"RCPT TO:<a@mx.test>").startswith(b"250")
    assert raw.command(b"RCPT TO:<b@mx.test>").startswith(b"250")
    data = message("lmtp-bdat")
    raw.sock.sendall(b"BDAT %d LAST\r\n" % len(data) + data)
    assert raw.reply().startswith(b"250 2.0.0 <a@mx.test> OK")
    assert raw.reply().startswith(b"250 2.0.0 <b@mx.test> OK")
    assert raw.command(b"QUIT").startswith(b"221")
    raw.close()
    assert [body for _, body in deliveries(server, 2)] == [data, data]


# -- CHUNKING (RFC 3030) ---------------------------------------------------------------


BINARY = bytes(range(256)) + b"\r\n.\r\n\n.\n\r..\r\n" + b"\x00" * 100


def test_bdat_chunks_are_delivered_byte_exact(start_server: StartServer) -> None:
    """RFC 3030 2: each chunk is exactly its octet count, no dot-stuffing and no
    end marker; BODY=BINARYMIME goes with BDAT (RFC 3030 3)."""
    server = start_server("--chunking")
    raw = Raw(server.port)
    ehlo = raw.command(b"EHLO client.test")
    assert b"250-CHUNKING" in ehlo and b"BINARYMIME" in ehlo
    assert raw.command(f"MAIL FROM:<{SENDER}> BODY=BINARYMIME".encode()).startswith(b"250")
    assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250")
    data = message("bdat", BINARY)
    pieces = [data[:10], data[10:11], data[11:200], data[200:]]
    for piece in pieces[:-1]:
        reply = raw.bdat(piece)
        assert reply == b"250 2.0.0 %d octets received\r\n" % len(piece)
    assert raw.bdat(pieces[-1], last=True).startswith(b"250 ")
    assert raw.command(b"QUIT").startswith(b"221")
    raw.close()
    [(head, body)] = deliveries(server, 1)
    assert body == data
    assert head.startswith(b"Return-Path: <sender@client.test>\r\nReceived: from client.test")


def test_bdat_pipelined_session(start_server: StartServer) -> None:
    """RFC 3030 4.2 with RFC 2920: MAIL, RCPT, every BDAT and QUIT in one write;
    the replies come back in order, one per command; two messages, the second
    a BDAT 0 LAST after a chunk."""
    server = start_server("--chunking")
    raw = Raw(server.port)
    assert b"PIPELINING" in raw.command(b"EHLO client.test")
    first, second = message("pipe1", BINARY), message("pipe2")
    batch = [f"MAIL FROM:<{SENDER}>".encode() + b"\r\n", b"RCPT TO:<a@mx.test>\r\n"]
    batch += [b"BDAT 100\r\n" + first[:100], b"BDAT %d LAST\r\n" % (len(first) - 100) + first[100:]]
    batch += [f"MAIL FROM:<{SENDER}>".encode() + b"\r\n", b"RCPT TO:<b@mx.test>\r\n"]
    batch += [b"BDAT %d\r\n" % len(second) + second, b"BDAT 0 LAST\r\n", b"QUIT\r\n"]
    raw.sock.sendall(b"".join(batch))
    codes = [raw.reply()[:3] for _ in batch]
    assert codes == [b"250"] * 8 + [b"221"]
    raw.close()
    bodies = sorted(body for _, body in deliveries(server, 2))
    assert bodies == sorted([first, second])


def test_bdat_over_size_fails_the_transaction(start_server: StartServer) -> None:
    """RFC 3030 2 and RFC 1870: a chunk past SIZE gets 552; nothing is delivered."""
    server = start_server("--chunking", "--max-message-size", "1000")
    raw = Raw(server.port)
    raw.command(b"EHLO client.test")
    raw.command(f"MAIL FROM:<{SENDER}>".encode())
    raw.command(b"RCPT TO:<rcpt@mx.test>")
    assert raw.bdat(b"x" * 600).startswith(b"250")
    assert raw.bdat(b"y" * 600).startswith(b"552")
    assert raw.command(b"QUIT").startswith(b"221")
    raw.close()
    assert server.wait_until(lambda: server.tmp() == [])
    assert server.new() == []


# -- XCLIENT and XFORWARD (Postfix) ---------------------------------------------------


def test_xclient_from_trusted_client_changes_received(start_server: StartServer) -> None:
    """Postfix XCLIENT: a trusted proxy names the real client; the session starts
    again with a 220, and the Received header names that client and the proxy."""
    server = start_server("--xclient-trusted", "10.0.0.0/8", "--xclient-trusted", "127.0.0.1/8")
    raw = Raw(server.port)
    ehlo = raw.command(b"EHLO proxy.test")
    assert b"250-XCLIENT " in ehlo and b"XFORWARD " in ehlo
    reply = raw.command(b"XCLIENT NAME=mail.example.org ADDR=192.0.2.7 PORT=4242 PROTO=ESMTP")
    assert reply.startswith(b"220 mx.test ")
    data = send_by_data(raw, "xclient", helo=b"orig.example.org")
    port = raw.port()
    raw.close()
    [(head, body)] = deliveries(server, 1)
    assert body == data
    line = received(head)
    assert line.startswith(b"Received: from orig.example.org (mail.example.org [192.0.2.7]) ")
    assert f"(client port 4242; XCLIENT from [127.0.0.1]:{port});".encode() in line


def test_xclient_from_untrusted_client_gets_550(start_server: StartServer) -> None:
    """XCLIENT and XFORWARD are neither offered nor accepted outside the trusted networks."""
    server = start_server("--xclient-trusted", "192.0.2.0/24")
    raw = Raw(server.port)
    ehlo = raw.command(b"EHLO client.test")
    assert b"XCLIENT" not in ehlo and b"XFORWARD" not in ehlo
    assert raw.command(b"XCLIENT ADDR=192.0.2.7").startswith(b"550 5.7.0")
    assert raw.command(b"XFORWARD ADDR=192.0.2.7").startswith(b"550 5.7.0")
    send_by_data(raw, "untrusted")
    raw.close()
    [(head, _)] = deliveries(server, 1)
    assert received(head).startswith(b"Received: from client.test ([127.0.0.1]) by mx.test ")


def test_xforward_names_the_client_of_one_transaction(start_server: StartServer) -> None:
    """Postfix XFORWARD: the attributes hold for the next transaction only."""
    server = start_server("--xclient-trusted", "127.0.0.0/8")
    raw = Raw(server.port)
    assert b"XFORWARD" in raw.command(b"EHLO filter.test")
    # Postfix sends the attributes over several XFORWARD commands; they add up.
    assert raw.command(b"XFORWARD NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::5").startswith(b"250")
    assert raw.command(b"XFORWARD PORT=25 HELO=far.test").startswith(b"250")
    for tag in ("fwd1", "fwd2"):
        assert raw.command(f"MAIL FROM:<{SENDER}>".encode()).startswith(b"250")
        assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250")
        assert raw.command(b"DATA").startswith(b"354")
        assert raw.command(message(tag) + b".").startswith(b"250")
    raw.command(b"QUIT")
    port = raw.port()
    raw.close()
    files = deliveries(server, 2)
    lines = {body.split(b"Subject: ")[1][:4]: received(head) for head, body in files}
    assert lines[b"fwd1"].startswith(b"Received: from far.test ([IPv6:2001:db8::5]) ")
    assert f"(client port 25; XFORWARD from [127.0.0.1]:{port});".encode() in lines[b"fwd1"]
    assert lines[b"fwd2"].startswith(b"Received: from filter.test ([127.0.0.1]) ")


# -- DSN (RFC 3461) ------------------------------------------------------------------


def test_dsn_parameters_are_stored(start_server: StartServer) -> None:
    """RFC 3461 4.1-4.4: RET, ENVID, NOTIFY and ORCPT land in the X-Envelope-* block,
    values in xtext (ENVID a+b is a+2Bb on the wire and in the file)."""
    server = start_server("--dsn")
    data = message("dsn")
    with server.smtp() as client:
        assert b"DSN" in client.ehlo()[1]
        refused = client.sendmail(
            SENDER,
            ["a@mx.test", "b@mx.test"],
            data,
            mail_options=["RET=HDRS", "ENVID=a+2Bb"],
            rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@y"],
        )
        assert refused == {}
        client.sendmail(SENDER, ["c@mx.test"], data, rcpt_options=["NOTIFY=NEVER"])
    files = deliveries(server, 2)
    heads = sorted(head.split(b"\r\n", 2)[2] for head, _ in files)  # after Return-Path
    both, one = (heads[0], heads[1]) if b"a@mx.test" in heads[0] else (heads[1], heads[0])
    assert both.split(b";\r\n\t", 1)[1].split(b"\r\n", 1)[1] == (
        b"X-Envelope-From: <sender@client.test> RET=HDRS ENVID=a+2Bb\r\n"
        b"X-Envelope-To: <a@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y\r\n"
        b"X-Envelope-To: <b@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y\r\n"
    )
    assert one.endswith(
        b"X-Envelope-From: <sender@client.test>\r\nX-Envelope-To: <c@mx.test> NOTIFY=NEVER\r\n"
    )
    assert all(body == data for _, body in files)


def test_dsn_parameters_refused_without_dsn(start_server: StartServer) -> None:
    """Without --dsn the parameters are unknown: 555 (RFC 5321 4.1.1.11)."""
    server = start_server()
    with server.smtp() as client:
        client.ehlo()
        assert client.mail(SENDER, ["RET=HDRS"])[0] == 555


# -- PROXY protocol (HAProxy specification) --------------------------------------------


V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(source: str, source_port: int, command: int = 0x21) -> bytes:
    """A version 2 header (PROXY, or 0x20 for LOCAL) for TCP over IPv4 (family
    0x11), to 127.0.0.1:25."""
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1")
    addresses += struct.pack("!HH", source_port, 25)
    return V2_SIGNATURE + bytes([command, 0x11]) + struct.pack("!H", 12) + addresses


def proxy_session(server: Server, header: bytes) -> Raw:
    """Connect, check the server waits for the header before its greeting, send it."""
    raw = Raw(server.port, greeting=False)
    raw.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        raw.sock.recv(1)  # no greeting before the header
    raw.sock.settimeout(10)
    raw.sock.sendall(header)
    assert raw.reply().startswith(b"220 mx.test ")
    return raw


@pytest.mark.parametrize(
    ("version", "header"),
    [
        (1, b"PROXY TCP4 203.0.113.5 127.0.0.1 51234 25\r\n"),
        (2, proxy_v2("203.0.113.5", 51234)),
    ],
    ids=["v1", "v2"],
)
def test_proxy_header_names_the_client(
    start_server: StartServer, version: int, header: bytes
) -> None:
    """HAProxy PROXY protocol 2.1/2.2: the header comes first, then the greeting;
    the Received header names the address and port the header gives."""
    server = start_server("--proxy-protocol")
    raw = proxy_session(server, header)
    data = send_by_data(raw, f"proxy-v{version}")
    port = raw.port()
    raw.close()
    [(head, body)] = deliveries(server, 1)
    assert body == data
    line = received(head)
    assert line.startswith(b"Received: from client.test ([203.0.113.5]) by mx.test ")
    via = f"(client port 51234; PROXY v{version} from [127.0.0.1]:{port});"
    assert via.encode() in line


@pytest.mark.parametrize(
    "header",
    [V2_SIGNATURE + b"\x20\x00\x00\x00", proxy_v2("203.0.113.5", 51234, command=0x20)],
    ids=["unspec", "tcp4"],
)
def test_proxy_local_keeps_the_peer(start_server: StartServer, header: bytes) -> None:
    """Specification 2.2: a v2 LOCAL header (HAProxy's health checks send one with
    family UNSPEC) names no client, and an address block in it is discarded: the
    peer stays."""
    server = start_server("--proxy-protocol")
    raw = proxy_session(server, header)
    send_by_data(raw, "local")
    raw.close()
    [(head, _)] = deliveries(server, 1)
    assert received(head).startswith(b"Received: from client.test ([127.0.0.1]) by mx.test ")


def test_bad_proxy_header_closes(start_server: StartServer) -> None:
    """A session that does not start with a valid header is closed with 421."""
    server = start_server("--proxy-protocol")
    raw = Raw(server.port, greeting=False)
    raw.sock.sendall(b"EHLO client.test\r\n")
    assert raw.reply().startswith(b"421 ")
    assert raw.sock.recv(100) == b""
    raw.close()


def test_proxy_address_decides_xclient_trust(start_server: StartServer) -> None:
    """--xclient-trusted judges the PROXY-given address, not the load balancer's."""
    server = start_server("--proxy-protocol", "--xclient-trusted", "203.0.113.0/24")
    trusted = proxy_session(server, b"PROXY TCP4 203.0.113.5 127.0.0.1 51234 25\r\n")
    assert b"XCLIENT" in trusted.command(b"EHLO client.test")
    trusted.close()
    other = proxy_session(server, b"PROXY TCP4 198.51.100.1 127.0.0.1 51234 25\r\n")
    assert b"XCLIENT" not in other.command(b"EHLO client.test")
    assert other.command(b"XCLIENT ADDR=192.0.2.1").startswith(b"550")
    other.close()


def test_flags_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "examples.md").read_text("utf-8")
    for flag in ("--lmtp", "--chunking", "--proxy-protocol", "--xclient-trusted", "--dsn"):
        assert f"`{flag}" in doc, flag
    assert "X-Envelope-From:" in doc and "X-Envelope-To:" in doc
