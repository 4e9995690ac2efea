r"""Transcripts: an SMTP session written as text, run in-process against an
application or over TCP against any server, and checked reply by reply.

The format, one item per line (this example runs as it stands)::

    # A comment; blank lines are ignored too.
    # S: the next reply has exactly this code (the greeting comes first).
    S: 220
    # C: the client sends the text and CRLF.
    C: EHLO c.example
    # A class of codes; "xxx" takes any reply.
    S: 2xx
    # Consecutive C lines go out in one write (a pipelined group).
    C: MAIL FROM:<a@example.org>
    C: RCPT TO:<b@example.org>
    # With an enhanced status code; then a prefix of the text after it.
    S: 250 2.1.0
    S: 250 2.1.5 OK
    C: DATA
    S: 354
    C: Subject: hi
    C:
    C: ..a line that starts with a dot, stuffed as on the wire
    C: .
    S: 250
    # C- sends the text without CRLF.
    C- QUI
    C: T
    S: 221
    # C! EOF: the client closes its side.
    C! EOF

- ``C:`` and ``C-`` text is what goes on the wire, exactly (nothing is
  dot-stuffed for you), with the escapes ``\r``, ``\n``, ``\t``, ``\\`` and
  ``\xHH``; a single space follows the colon and the rest of the line is the
  text, trailing spaces included.
- Consecutive ``C`` lines (comments between them aside) go out in one write:
  that is how a pipelined group is written (RFC 2920). The ``S`` lines are
  then matched in order against the replies that come back. A transcript
  opens with the greeting's ``S`` line.
- STARTTLS: in-process, the client takes the handshake as done after a 220
  (see ``Client``); over TCP, a write that ends with ``C: STARTTLS`` and whose
  last reply is a 220 upgrades the socket with the ``ssl_context`` given.

``Transcript.text()`` (``client.transcript.text()``) writes a recorded session
in this format, so a failing fuzz case can be saved and replayed.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._record import (
    ClientClosed,
    Entry,
    ProtocolViolation,
    Received,
    Sent,
    ServerClosed,
    Stored,
    Transcript,
    check_invariants,
    escape,
)
from ._shared import ReceivedMessage, ReplyReader, ServerReply
from .client import Application, Client

__all__ = [
    "ClientClosed",
    "CloseSide",
    "Entry",
    "Expect",
    "ProtocolViolation",
    "Received",
    "Sent",
    "ServerClosed",
    "Step",
    "Stored",
    "Transcript",
    "TranscriptMismatch",
    "TranscriptResult",
    "Write",
    "check_invariants",
    "escape",
    "format_transcript",
    "parse_transcript",
    "run_transcript",
    "run_transcript_tcp",
    "unescape",
]


class TranscriptMismatch(AssertionError):
    """A reply differs from the one the transcript expects (or is missing, or
    comes unexpected); the message names the transcript line."""


@dataclass(frozen=True)
class Write:
    """Consecutive ``C:``/``C-`` lines: one write."""

    data: bytes
    line_number: int  # of the last line
    last_line: str  # its text, for STARTTLS


@dataclass(frozen=True)
class Expect:
    """An ``S:`` line: the code (``250``, ``2xx`` or ``xxx``), an enhanced
    code, and a prefix of the first line's text."""

    code: str
    enhanced: str | None = None
    text: str = ""
    line_number: int = 0

    def matches(self, reply: ServerReply) -> bool:
        """Whether ``reply`` is what this line expects."""
        digits = str(reply.code)
        if not all(want in ("x", got) for want, got in zip(self.code, digits, strict=True)):
            return False
        if self.enhanced is not None and reply.enhanced_code != self.enhanced:
            return False
        first = reply.lines[0] if reply.lines else ""
        if reply.enhanced_code is not None:
            first = first[len(reply.enhanced_code) :].lstrip(" ")
        return first.startswith(self.text)

    def __str__(self) -> str:
        return " ".join(part for part in ("S:", self.code, self.enhanced, self.text) if part)


@dataclass(frozen=True)
class CloseSide:
    """``C! EOF``."""

    line_number: int


Step = Write | Expect | CloseSide

_EXPECT = re.compile(r"S: ([2-5xX][0-9xX]{2})(?: (\d\.\d{1,3}\.\d{1,3})(?= |$))?(?: (.*))?")
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|(.))")
_NAMED = {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str) -> bytes:
    r"""The octets a ``C:`` line's text stands for (``\r``, ``\n``, ``\t``,
    ``\\``, ``\xHH``; other text as UTF-8)."""

    def one(match: re.Match[str]) -> str:
        if match[1] is not None:
            return chr(int(match[1], 16))
        if match[2] in _NAMED:
            return _NAMED[match[2]]
        raise ValueError(f"unknown escape \\{match[2]} in {text!r}")

    # \xHH stands for one octet: build latin-1 for escapes, UTF-8 for the rest.
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += text[position : match.start()].encode()
        out += one(match).encode("latin-1")
        position = match.end()
    out += text[position:].encode()
    return bytes(out)


def parse_transcript(text: str) -> list[Step]:
    """The steps of a transcript; ValueError (naming the line) for a line
    that is none of the forms of the module doc."""
    steps: list[Step] = []
    pending = bytearray()
    last = ("", 0)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if line.startswith(("C:", "C-")):
            if len(line) > 2 and line[2] != " ":
                raise ValueError(f"transcript line {number}: a space must follow {line[:2]}")
            body = line[3:]
            pending += unescape(body) + (b"\r\n" if line[1] == ":" else b"")
            last = (body, number)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue  # a comment does not end a write
        if pending:
            steps.append(Write(bytes(pending), last[1], last[0]))
            pending.clear()
        if line == "C! EOF":
            steps.append(CloseSide(number))
            continue
        match = _EXPECT.fullmatch(line)
        if match is None:
            raise ValueError(f"transcript line {number}: not C:, C-, C! EOF, S: or #: {line!r}")
        steps.append(Expect(match[1].lower(), match[2], match[3] or "", number))
    if pending:
        steps.append(Write(bytes(pending), last[1], last[0]))
    return steps


def format_transcript(record: Transcript) -> str:
    """``record`` in the transcript format (``record.text()``)."""
    return record.text()


@dataclass
class TranscriptResult:
    """What a transcript run saw: the replies matched, in order, the record of
    the wire, and (in-process) the messages the application accepted."""

    replies: list[ServerReply]
    record: Transcript
    messages: list[ReceivedMessage] = field(default_factory=list)
    client: Client | None = None


class _Runner:
    """Matches the steps against replies; ``transport`` does the I/O."""

    def __init__(self, text: str, next_reply: Callable[[], ServerReply | None]) -> None:
        self.lines = text.splitlines()
        self.steps = parse_transcript(text)
        self.next_reply = next_reply
        self.got: dict[int, ServerReply | None] = {}  # by line number

    def mismatch(self, number: int, problem: str) -> TranscriptMismatch:
        """A message that shows the transcript up to line ``number``, each
        ``S:`` line with the reply it got."""
        shown = []
        for index in range(max(0, number - 8), number):
            mark = ">" if index + 1 == number else " "
            line = f"{mark} {index + 1:4}  {self.lines[index]}"
            got = self.got.get(index + 1)
            if index + 1 in self.got:
                line += "   <- got " + (_describe(got) if got else "nothing")
            shown.append(line)
        return TranscriptMismatch(f"transcript line {number}: {problem}\n" + "\n".join(shown))

    def expect(self, step: Expect) -> ServerReply:
        reply = self.next_reply()
        self.got[step.line_number] = reply
        if reply is None:
            raise self.mismatch(step.line_number, f"expected {step}, got no reply")
        if not step.matches(reply):
            raise self.mismatch(step.line_number, f"expected {step}, got {_describe(reply)}")
        return reply


def _describe(reply: ServerReply) -> str:
    first = reply.lines[0] if reply.lines else ""
    more = f" (+{len(reply.lines) - 1} lines)" if len(reply.lines) > 1 else ""
    return f"{reply.code} {first}".rstrip() + more


def run_transcript(
    text: str, app: Application | None = None, *, check: bool = True, **client_kwargs: Any
) -> TranscriptResult:
    """Run the transcript ``text`` in-process: a ``Client(app, **client_kwargs)``
    sends the ``C`` lines and its replies are matched against the ``S`` lines.
    Raises TranscriptMismatch, also for a reply no ``S`` line expects; with
    ``check``, ProtocolViolation if the session broke an invariant."""
    client = Client(app, **client_kwargs)
    queue = list(client.replies)

    def next_reply() -> ServerReply | None:
        return queue.pop(0) if queue else None

    runner = _Runner(text, next_reply)
    matched: list[ServerReply] = []
    for step in runner.steps:
        if isinstance(step, Write):
            queue += client.write(step.data)
        elif isinstance(step, CloseSide):
            queue += client.close()
        else:
            matched.append(runner.expect(step))
    if queue:
        last = len(runner.lines)
        raise runner.mismatch(last, f"a reply no S: line expects: {_describe(queue[0])}")
    if check:
        client.check()
    return TranscriptResult(matched, client.transcript, client.messages, client)


def run_transcript_tcp(
    text: str,
    host: str,
    port: int,
    *,
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
    check: bool = True,
) -> TranscriptResult:
    """Run the transcript ``text`` against the server at ``host``:``port``.
    Each read waits at most ``timeout`` seconds. A write ending with
    ``STARTTLS`` whose reply is 220 upgrades the connection with
    ``ssl_context`` (ValueError without one). Raises TranscriptMismatch; with
    ``check``, ProtocolViolation if the server broke an invariant."""
    record = Transcript()
    reader = ReplyReader()
    queue: list[ServerReply] = []
    sock: socket.socket = socket.create_connection((host, port), timeout=timeout)

    def next_reply() -> ServerReply | None:
        while not queue:
            if any(isinstance(e, ServerClosed) for e in record.entries[-1:]):
                return None
            try:
                data = sock.recv(65536)
            except OSError:  # a timeout, a reset
                return None
            if not data:
                record.entries.append(ServerClosed())
                return None
            record.entries.append(Received(data))
            queue.extend(reader.feed(data))
        return queue.pop(0)

    runner = _Runner(text, next_reply)
    matched: list[ServerReply] = []
    try:
        last_write: Write | None = None
        for index, step in enumerate(runner.steps):
            if isinstance(step, Write):
                sock.sendall(step.data)
                record.entries.append(Sent(step.data))
                last_write = step
            elif isinstance(step, CloseSide):
                sock.shutdown(socket.SHUT_WR)
                record.entries.append(ClientClosed())
            else:
                reply = runner.expect(step)
                matched.append(reply)
                following = runner.steps[index + 1 : index + 2]
                if (
                    reply.code == 220
                    and last_write is not None
                    and last_write.last_line.upper() == "STARTTLS"
                    and not (following and isinstance(following[0], Expect))
                ):
                    if ssl_context is None:
                        raise ValueError("the transcript starts TLS: pass ssl_context")
                    sock = ssl_context.wrap_socket(sock, server_hostname=host)
                    last_write = None
        if queue:
            raise runner.mismatch(
                len(runner.lines), f"a reply no S: line expects: {_describe(queue[0])}"
            )
    finally:
        sock.close()
    if check:
        check_invariants(record)
    return TranscriptResult(matched, record)

