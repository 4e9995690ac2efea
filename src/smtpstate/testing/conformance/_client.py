"""A small blocking SMTP client for the conformance cases: it sends exactly the
octets a case gives it and reads whole replies, each within the case's deadline.
It judges nothing itself except the reply syntax (RFC 5321 4.2)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

from .._shared import MalformedReply, ReplyReader, ServerReply


class NoReply(Exception):
    """The server sent no complete reply before the case's deadline."""


class ServerClosed(Exception):
    """The server closed the connection while a reply was awaited."""


class Client:
    """One connection to the server under test. Every read is bounded by
    ``deadline`` (a ``time.monotonic()`` value); ``log`` keeps the ``C:``/``S:``
    lines for ``--verbose``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock: socket.socket = sock
        self.deadline = deadline
        self.reader = ReplyReader()
        self.ready: list[ServerReply] = []
        self.log: list[str] = []
        self.eof = False

    @classmethod
    def connect(cls, host: str, port: int, deadline: float) -> Client:
        timeout = max(0.01, deadline - time.monotonic())
        sock = socket.create_connection((host, port), timeout=timeout)
        return cls(sock, deadline)

    def send(self, data: bytes) -> None:
        self.log.append("C: " + _show(data))
        self.sock.settimeout(self._remaining())
        self.sock.sendall(data)

    def command(self, line: str | bytes) -> ServerReply:
        """Send one command line (CRLF added) and read its reply."""
        data = line.encode() if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.reply()

    def reply(self) -> ServerReply:
        """The next whole reply. Raises NoReply, ServerClosed or MalformedReply."""
        while not self.ready:
            if self.eof:
                raise ServerClosed(self._closed_text())
            self._receive()
        return self.ready.pop(0)

    def replies(self, count: int) -> list[ServerReply]:
        return [self.reply() for _ in range(count)]

    def replies_until_closed(self) -> list[ServerReply]:
        """Every reply until the server closes (NoReply if it does not close
        before the deadline)."""
        while not self.eof:
            self._receive()
        if self.reader.pending:
            raise MalformedReply(f"connection closed inside a reply: {self.reader.pending!r}")
        done, self.ready = self.ready, []
        return done

    def wait_closed(self) -> bool:
        """True when the server closes the connection before the deadline."""
        try:
            while not self.eof:
                self._receive()
        except NoReply:
            return False
        return True

    def starttls(self, context: ssl.SSLContext, server_name: str) -> None:
        """Switch the connection to TLS after a 220 to STARTTLS. Octets the
        server sent after its 220 and before the handshake are a fault."""
        if self.ready or self.reader.pending:
            raise MalformedReply("the server sent more after its 220 to STARTTLS")
        self.sock.settimeout(self._remaining())
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=server_name)
        except TimeoutError:
            raise NoReply("the TLS handshake did not finish in time") from None
        self.log.append("C: (TLS handshake done)")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # closing is best effort
            self.sock.close()

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise NoReply("the case ran out of time")
        return remaining

    def _receive(self) -> None:
        self.sock.settimeout(self._remaining())
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise NoReply("no reply in time") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            self.log.append("S: (closed)")
            return
        for line in data.splitlines(keepends=True):
            self.log.append("S: " + _show(line))
        for reply in self.reader.feed(data):
            _check_line_endings(reply)
            self.ready.append(reply)

    def _closed_text(self) -> str:
        pending = self.reader.pending
        return "the server closed the connection" + (f" after {pending[:80]!r}" if pending else "")


def _check_line_endings(reply: ServerReply) -> None:
    """RFC 5321 2.3.8 and 4.2: reply lines end with CRLF, and no bare CR or LF
    appears inside them."""
    for line in reply.raw.split(b"\r\n")[:-1]:
        if b"\r" in line or b"\n" in line:
            raise MalformedReply(f"bare CR or LF in a reply line: {line!r}")


def _show(data: bytes, limit: int = 200) -> str:
    text = repr(data)[2:-1]
    return text if len(text) <= limit else f"{text[:limit]}... ({len(data)} octets)"
