"""The STARTTLS hand-off in the three example servers under clients that get it
wrong or get it early: each example runs as a real process on loopback.

- A TLS 1.3 client may send its first command in the same write as its Finished
  (msmtp with GnuTLS does): the command must be answered.
- A handshake that fails, is cut off or never finishes must close the connection
  and give back its descriptor (counted in /proc/PID/fd of the server process).
- Plaintext sent after the 220 to STARTTLS is never run.

Every wait is bounded, so a broken adapter fails a test in seconds, not at the
server's 300 s timeout. Each test ends with a normal STARTTLS session on the same
server. See docs/adapters.md, "The TLS hand-off"."""

from __future__ import annotations

import os
import socket
import ssl
import time
from pathlib import Path

import pytest

from .conftest import RawClient, Server, StartServer, take_reply

REPLY_TIMEOUT = 10.0  # a reply that does not come within this never will
CLOSE_TIMEOUT = 5.0  # the server closes a failed handshake within this
SETTLE_TIMEOUT = 5.0  # descriptors go back to where they were within this
FAILED_HANDSHAKES = 50
IDLE_TIMEOUT = 2  # --idle-timeout for the stalled handshake: it bounds the handshake too

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def open_descriptors(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def quiet(server: Server) -> int:
    """The server's descriptor count once it stops changing (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    count = open_descriptors(server)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        count, previous = open_descriptors(server), count
        if count == previous:
            break
    return count


def settled(server: Server, baseline: int) -> int:
    """The server's descriptor count once it is back to ``baseline`` (or after
    SETTLE_TIMEOUT, whatever the count then is)."""
    server.wait_until(lambda: open_descriptors(server) <= baseline, SETTLE_TIMEOUT)
    return open_descriptors(server)


def at_starttls(server: Server, timeout: float = REPLY_TIMEOUT) -> RawClient:
    """A client that has sent STARTTLS and read the 220, in plaintext."""
    raw = RawClient(server.port, timeout=timeout, greeting=True)
    assert raw.command(b"EHLO client.test").startswith(b"250")
    assert raw.command(b"STARTTLS").startswith(b"220 ")
    return raw


def closed_within(sock: socket.socket, deadline: float) -> tuple[bool, bytes]:
    """Read until the server closes (EOF or reset) or the deadline passes:
    (closed, everything read)."""
    got = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:  # a reset
            return True, got
        if not data:
            return True, got
        got += data
    return False, got


class BIOClient:
    """TLS on ``ssl.MemoryBIO``, so the test decides what goes in each write:
    ``handshake(first)`` writes the client's last handshake flight (its Finished,
    in TLS 1.3) and the first command in ONE ``sendall``, as msmtp does."""

    def __init__(self, raw: RawClient, context: ssl.SSLContext) -> None:
        assert raw.buffer == b"", raw.buffer  # nothing may come before the handshake
        self.sock = raw.sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.buffer = b""

    def _receive(self) -> None:
        data = self.sock.recv(65536)  # bounded by the socket's timeout
        if not data:
            raise EOFError(self.buffer)
        self.incoming.write(data)

    def client_hello(self) -> bytes:
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    def handshake(self, first: bytes = b"") -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.outgoing.pending:
                    self.sock.sendall(self.outgoing.read())
                self._receive()
        assert self.tls.version() == "TLSv1.3"  # the client's Finished is the last flight
        if first:
            self.tls.write(first)  # queued behind the Finished, not yet sent
        self.sock.sendall(self.outgoing.read())  # Finished [+ first command]: one write

    def reply(self) -> bytes:
        while True:
            whole = take_reply(self.buffer)
            if whole is not None:
                reply, self.buffer = whole
                return reply
            try:
                self.buffer += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._receive()

    def command(self, line: bytes) -> bytes:
        self.tls.write(line + b"\r\n")
        self.sock.sendall(self.outgoing.read())
        return self.reply()


def normal_session(server: Server, context: ssl.SSLContext) -> None:
    """STARTTLS, then a mail transaction to RCPT and QUIT, all answered."""
    raw = at_starttls(server)
    try:
        raw.sock = context.wrap_socket(raw.sock, server_hostname="localhost")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
        assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250 ")
        assert raw.command(b"QUIT").startswith(b"221 ")
    finally:
        raw.close()


@pytest.fixture
def tls_server(
    start_server: StartServer, cert: tuple[Path, Path], client_context: ssl.SSLContext
) -> tuple[Server, int]:
    """A server with STARTTLS (idle timeout IDLE_TIMEOUT s) after one normal
    session, so that what it opens once is open: (server, its descriptor count)."""
    server = start_server(
        "--tls-cert", str(cert[0]), "--tls-key", str(cert[1]), "--idle-timeout", str(IDLE_TIMEOUT)
    )
    normal_session(server, client_context)
    return server, quiet(server)


def still_serves(server: Server, baseline: int, context: ssl.SSLContext) -> None:
    normal_session(server, context)
    assert settled(server, baseline) <= baseline
    assert server.proc.poll() is None


# -- the first command with the client's Finished ----------------------------------


def test_command_in_the_same_write_as_the_finished_is_answered(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    """RFC 3207 4.2: the client's first command under TLS may come with its last
    handshake flight. The adapter must call tls_established() before it feeds the
    engine a decrypted byte, and must not drop bytes that its TLS layer decrypted
    before telling it the handshake was over (asyncio's sslproto does that)."""
    server, baseline = tls_server
    for _ in range(3):
        raw = at_starttls(server)
        try:
            client = BIOClient(raw, client_context)
            client.handshake(b"EHLO client.test\r\n")
            ehlo = client.reply()  # TimeoutError here: the EHLO was lost
            assert ehlo.startswith(b"250"), ehlo
            assert b"STARTTLS" not in ehlo  # RFC 3207 4.2: a fresh session, under TLS
            assert client.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
            assert client.command(b"QUIT").startswith(b"221 ")
        finally:
            raw.close()
    still_serves(server, baseline, client_context)


def test_pipelined_commands_with_the_finished_are_answered_in_order(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    server, baseline = tls_server
    raw = at_starttls(server)
    try:
        client = BIOClient(raw, client_context)
        client.handshake(b"NOOP\r\nEHLO client.test\r\n")
        assert client.reply().startswith(b"250 ")
        assert client.reply().startswith(b"250")
        assert client.command(b"QUIT").startswith(b"221 ")
    finally:
        raw.close()
    still_serves(server, baseline, client_context)


# -- failed handshakes ----------------------------------------------------------------


def test_failed_handshakes_close_and_leak_no_descriptor(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    """Bytes that are no ClientHello after the 220: the handshake fails, the
    client sees the close, and the server gives the descriptor back."""
    server, baseline = tls_server
    clients = [at_starttls(server) for _ in range(FAILED_HANDSHAKES)]
    try:
        for raw in clients:
            raw.sock.sendall(b"this is not a TLS ClientHello\r\n" * 4)
        deadline = time.monotonic() + CLOSE_TIMEOUT
        results = [closed_within(raw.sock, deadline) for raw in clients]
    finally:
        for raw in clients:
            raw.close()
    assert sum(closed for closed, _ in results) == FAILED_HANDSHAKES
    assert all(b"250" not in got for _, got in results)
    assert settled(server, baseline) <= baseline
    still_serves(server, baseline, client_context)


def test_client_closing_mid_handshake_leaks_nothing(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    """Half a ClientHello, then the client closes (FIN, and in turn a reset)."""
    server, baseline = tls_server
    for reset in [False, True] * 5:
        raw = at_starttls(server)
        hello = BIOClient(raw, client_context).client_hello()
        raw.sock.sendall(hello[: len(hello) // 2])
        raw.close(reset=reset)
    assert settled(server, baseline) <= baseline
    still_serves(server, baseline, client_context)


def test_stalled_handshake_ends_at_the_timeout(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    """A client that reads the 220 and sends nothing: the server's timeout (here
    --idle-timeout) bounds the handshake too, then it closes."""
    server, baseline = tls_server
    clients = [at_starttls(server) for _ in range(3)]
    try:
        deadline = time.monotonic() + IDLE_TIMEOUT + CLOSE_TIMEOUT
        results = [closed_within(raw.sock, deadline) for raw in clients]
    finally:
        for raw in clients:
            raw.close()
    assert [closed for closed, _ in results] == [True] * 3
    assert all(b"250" not in got for _, got in results)
    assert settled(server, baseline) <= baseline
    still_serves(server, baseline, client_context)


# -- plaintext across the boundary ----------------------------------------------------


def test_plaintext_after_the_220_is_never_run(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    """RFC 3207 4.2: commands sent in plaintext after the 220 and before the
    ClientHello reach the TLS layer, which fails on them; never the engine. No
    reply to them ever comes (no 250 to MAIL, no 221 to QUIT), and the
    connection closes."""
    server, baseline = tls_server
    for _ in range(3):
        raw = at_starttls(server)
        try:
            raw.sock.sendall(b"MAIL FROM:<x@y>\r\nQUIT\r\n")
            closed, got = closed_within(raw.sock, time.monotonic() + CLOSE_TIMEOUT)
        finally:
            raw.close()
        assert closed
        assert b"250" not in got and b"221" not in got, got
    assert settled(server, baseline) <= baseline
    still_serves(server, baseline, client_context)


def test_plaintext_in_the_same_write_as_starttls_is_never_run(
    tls_server: tuple[Server, int], client_context: ssl.SSLContext
) -> None:
    """RFC 3207 4.2 (CVE-2011-0411): MAIL and QUIT in the same write as STARTTLS
    are dropped: the 220 is the last plaintext reply, the handshake runs, and the
    session under TLS starts afresh (MAIL before EHLO gets 503)."""
    server, baseline = tls_server
    raw = RawClient(server.port, timeout=REPLY_TIMEOUT, greeting=True)
    try:
        assert raw.command(b"EHLO client.test").startswith(b"250")
        raw.sock.sendall(b"STARTTLS\r\nMAIL FROM:<x@y>\r\nQUIT\r\n")
        assert raw.reply().startswith(b"220 ")
        client = BIOClient(raw, client_context)  # checks nothing followed the 220
        client.handshake(b"MAIL FROM:<a@client.test>\r\n")
        assert client.reply().startswith(b"503 ")
        assert client.command(b"EHLO client.test").startswith(b"250")
        assert client.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
        assert client.command(b"QUIT").startswith(b"221 ")
    finally:
        raw.close()
    still_serves(server, baseline, client_context)
