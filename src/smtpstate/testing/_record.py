"""The record of a session as both sides saw the wire, and the checks that
any SMTP server's side of it must pass.

The checks read only octets: the client's writes and the server's replies.
They follow the client's stream with a small model of what each command is
owed (RFC 5321 4.2, RFC 2920, RFC 3030, RFC 4954, RFC 2033, RFC 3207), so they
judge the engine, an application on it, or any server reached over TCP alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._shared import ReceivedMessage, ReplyReader, ServerReply

__all__ = [
    "ClientClosed",
    "Entry",
    "ProtocolViolation",
    "Received",
    "Sent",
    "ServerClosed",
    "Stored",
    "Transcript",
    "check_invariants",
]


@dataclass(frozen=True)
class Sent:
    """One write of the client (the octets as given, before any cut)."""

    data: bytes


@dataclass(frozen=True)
class Received:
    """Octets the server sent (whole replies, one or several)."""

    data: bytes


@dataclass(frozen=True)
class Stored:
    """The server kept a message (recorded after the reply that accepted it)."""

    message: ReceivedMessage


@dataclass(frozen=True)
class ClientClosed:
    """The client closed its side (EOF)."""


@dataclass(frozen=True)
class ServerClosed:
    """The server closed the connection."""


Entry = Sent | Received | Stored | ClientClosed | ServerClosed


@dataclass
class Transcript:
    """What happened on one connection, in order. ``stores_messages`` says the
    recorder also logs every message the server kept (``Stored``); then the
    stored messages must be exactly the accepted ones. ``greeted`` says the
    record began after the greeting (a connection greeted elsewhere)."""

    entries: list[Entry] = field(default_factory=list)
    stores_messages: bool = False
    greeted: bool = False  # the greeting went out before the record began

    def replies(self) -> list[ServerReply]:
        """Every reply the server sent, in order."""
        reader = ReplyReader()
        return [r for e in self.entries if isinstance(e, Received) for r in reader.feed(e.data)]

    def sent(self) -> bytes:
        """Every octet the client wrote."""
        return b"".join(e.data for e in self.entries if isinstance(e, Sent))

    def text(self) -> str:
        """The session in the transcript format of ``smtpstate.testing.transcript``,
        replies given by code and first line: replaying it expects the same
        replies. A write's lines become one group of ``C:`` lines."""
        out: list[str] = []
        reader = ReplyReader()
        for entry in self.entries:
            if isinstance(entry, Sent):
                lines = entry.data.split(b"\r\n")
                out += [f"C: {escape(line)}" for line in lines[:-1]]
                if lines[-1]:
                    out.append(f"C- {escape(lines[-1])}")
            elif isinstance(entry, Received):
                for reply in reader.feed(entry.data):
                    first = reply.lines[0] if reply.lines else ""
                    out.append(f"S: {reply.code} {first}".rstrip())
            elif isinstance(entry, ClientClosed):
                out.append("C! EOF")
        return "\n".join(out) + "\n"


def escape(data: bytes) -> str:
    """``data`` as transcript text: printable ASCII as is, a backslash doubled,
    anything else as ``\\r``, ``\\n``, ``\\t`` or ``\\xHH``."""
    named = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\"}
    return "".join(
        named.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data
    )


class ProtocolViolation(AssertionError):
    """The server's side of a transcript broke an SMTP rule."""


# Replies that only some commands may get (RFC 5321 4.3.2, RFC 4954 4).
_ONLY_TO = {354: ("DATA",), 334: ("AUTH",), 235: ("AUTH",), 221: ("QUIT",)}
_CLOSING = (221, 421)


@dataclass
class _Unit:
    """Something the client sent that is owed replies: a command line, or the
    end of a body (``kind`` "body"), with the message it would make."""

    kind: str  # the verb, upper-cased; "body" for the end of data; "auth" for a SASL line
    line: bytes
    content: bytes = b""


class _Checker:
    """Walks the client's octets and the server's replies side by side."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.reader = ReplyReader()
        self.client = bytearray()  # client octets not yet cut into units
        self.owed: list[_Unit] = []  # units sent, not yet answered (in order)
        self.mode = "command"  # "command", "data", "auth", or "tls-dropped"
        self.chunk: tuple[int, bytes] | None = None  # a BDAT chunk's size and line
        self.greeted = transcript.greeted
        self.closed_by_server = False
        self.lmtp = False
        self.recipients = 0  # accepted in the open transaction
        self.chunks = bytearray()  # accepted BDAT octets of the open transaction
        self.accepted: list[bytes] = []  # the content of each message the server accepted
        self.stored: list[ReceivedMessage] = []
        self.replies_for_body = 0  # LMTP: replies still owed to the body just answered
        self.body_content = b""  # the message the end of data being answered would make

    def fail(self, message: str) -> None:
        raise ProtocolViolation(message)

    def run(self) -> None:
        for index, entry in enumerate(self.transcript.entries):
            where = f"entry {index}"
            if isinstance(entry, Sent):
                if self.mode == "tls-dropped":
                    self.mode = "command"  # the handshake came between the writes
                self.client += entry.data
                self.cut_units()
            elif isinstance(entry, Received):
                if self.closed_by_server:
                    self.fail(f"{where}: the server sent {entry.data!r} after closing")
                for reply in self.reader.feed(entry.data):
                    self.answer(reply, where)
            elif isinstance(entry, Stored):
                self.stored.append(entry.message)
                if len(self.stored) > len(self.accepted):
                    self.fail(
                        f"{where}: a message was stored that no 2xx reply accepted: "
                        f"{entry.message.content[:60]!r}"
                    )
                if entry.message.content != self.accepted[len(self.stored) - 1]:
                    self.fail(
                        f"{where}: the stored message differs from the one accepted: "
                        f"{entry.message.content[:60]!r}"
                    )
            elif isinstance(entry, ServerClosed):
                self.closed_by_server = True
        if self.reader.pending:
            self.fail(f"an incomplete reply at the end: {self.reader.pending!r}")
        if self.replies_for_body and not self.closed_by_server:
            self.fail(f"no reply to the end of data for {self.replies_for_body} recipient(s)")
        if self.owed and not self.closed_by_server:
            unit = self.owed[0]
            self.fail(f"no reply to {unit.line!r} ({len(self.owed)} command(s) unanswered)")
        if self.transcript.stores_messages and len(self.stored) != len(self.accepted):
            self.fail(f"{len(self.accepted)} message(s) accepted, {len(self.stored)} stored")

    # -- the client's side ---------------------------------------------------------

    def cut_units(self) -> None:
        """Cut the client's octets into units, as far as the replies so far
        tell how to read them (a DATA's body only after its 354)."""
        while self.mode != "tls-dropped":
            if self.chunk is not None:  # RFC 3030 2: owed a reply once its octets are in
                size, line = self.chunk
                if len(self.client) < size:
                    return
                self.owed.append(_Unit("BDAT", line, bytes(self.client[:size])))
                del self.client[:size]
                self.chunk = None
                continue
            if self.owed and self.owed[-1].kind in ("DATA", "AUTH", "auth", "STARTTLS"):
                return  # what follows depends on that reply
            if self.mode == "data":
                end = (b"\r\n" + self.client).find(b"\r\n.\r\n")
                if end < 0:
                    return
                # ``end`` counts the CRLF put in front: the body is the octets
                # before ".CRLF", each line with its CRLF (RFC 5321 4.1.1.4).
                lines = bytes(self.client[:end]).split(b"\r\n")[:-1]
                del self.client[: end + 3]
                unstuffed = b"".join((x[1:] if x[:1] == b"." else x) + b"\r\n" for x in lines)
                self.owed.append(_Unit("body", b".", unstuffed))
                self.mode = "command"
                continue
            end = self.client.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.client[:end])
            del self.client[: end + 2]
            if self.mode == "auth":
                self.owed.append(_Unit("auth", line))
                continue
            verb = line.split(b" ", 1)[0].upper().decode("latin-1")
            parts = line.split(b" ")
            if verb == "BDAT" and len(parts) >= 2 and parts[1].isdigit():
                self.chunk = (int(parts[1]), line)
            else:
                self.owed.append(_Unit(verb, line))

    # -- the server's side ---------------------------------------------------------

    def answer(self, reply: ServerReply, where: str) -> None:
        code = reply.code
        if not self.greeted:
            self.greeted = True
            if code not in (220, 554, 421):
                self.fail(f"{where}: the greeting is {code}, not 220, 554 or 421")
            self.closed_by_server = code == 421
            return
        if self.replies_for_body:
            self.replies_for_body -= 1  # LMTP: one reply per accepted recipient
            self.end_of_message(code, where)
            return
        if not self.owed:
            if code == 421:  # RFC 5321 3.8: the server may close at any time
                self.closed_by_server = True
                return
            self.fail(f"{where}: a {code} reply to no command: {reply.raw!r}")
        unit = self.owed.pop(0)
        allowed = _ONLY_TO.get(code)
        if allowed is not None and unit.kind not in allowed and not (
            code in (334, 235) and unit.kind == "auth"
        ):
            self.fail(f"{where}: {code} is no reply to {unit.line!r}")
        if code == 421 or (code == 221 and unit.kind == "QUIT"):
            self.closed_by_server = True
            self.owed.clear()  # nothing after the close is answered
            return
        self.track(unit, code, where)
        self.cut_units()

    def track(self, unit: _Unit, code: int, where: str) -> None:
        """What the reply to ``unit`` tells about the session."""
        ok = code // 100 == 2
        kind = unit.kind
        if kind in ("HELO", "EHLO", "LHLO", "RSET") and ok:
            self.lmtp = self.lmtp or kind == "LHLO"
            self.recipients, self.chunks = 0, bytearray()
        elif kind == "MAIL" and ok:
            self.recipients, self.chunks = 0, bytearray()
        elif kind == "RCPT" and ok:
            self.recipients += 1
        elif kind == "DATA":
            self.mode = "data" if code == 354 else "command"
        elif kind in ("AUTH", "auth"):
            self.mode = "auth" if code == 334 else "command"
        elif kind == "STARTTLS" and code == 220:
            self.mode = "tls-dropped"  # the rest of this write is plaintext sent ahead
            self.client.clear()
            self.recipients, self.chunks, self.lmtp = 0, bytearray(), False
        elif kind == "body" or (kind == "BDAT" and self.is_last_chunk(unit, code)):
            if kind == "BDAT":
                unit.content = bytes(self.chunks + unit.content)
            self.body_content = unit.content
            owed = self.recipients if self.lmtp else 1
            self.replies_for_body = max(owed, 1) - 1
            self.end_of_message(code, where)
        elif kind == "BDAT":
            if ok:
                self.chunks += unit.content
            else:
                self.recipients, self.chunks = 0, bytearray()  # RFC 3030 2: the transaction ends

    def is_last_chunk(self, unit: _Unit, code: int) -> bool:
        """A BDAT LAST that ends a message. In LMTP a 500-504 is taken as the
        refusal of the command itself, which gets one reply."""
        parts = unit.line.split()
        last = len(parts) > 2 and parts[2].upper() == b"LAST"
        return last and self.recipients > 0 and not 500 <= code <= 504

    def end_of_message(self, code: int, where: str) -> None:
        if code // 100 == 2:
            self.accepted.append(self.body_content)
        if not self.replies_for_body:
            self.recipients, self.chunks = 0, bytearray()


def check_invariants(transcript: Transcript) -> None:
    """Raise ProtocolViolation unless the server's side of ``transcript``
    keeps the rules every SMTP server keeps:

    - the first reply is a greeting (220, 554 or 421);
    - exactly one reply per command, in order, and none before its command:
      pipelined commands get one each (RFC 2920); DATA gets its 354 and the
      end of the data one more (LMTP: one per accepted recipient, RFC 2033
      4.2); each BDAT chunk one (RFC 3030 2); each line of a SASL exchange one
      (334 until the last, RFC 4954 4);
    - 354, 334, 235 and 221 answer only DATA, AUTH and QUIT;
    - nothing sent after STARTTLS in the same write is answered (RFC 3207 4.2);
    - nothing is sent after a 221 or a 421, and a 421 may come at any time;
    - with ``transcript.stores_messages``: the messages stored are exactly
      those whose end of data got a 2xx, with the same content.

    Commands that have not ended (no CRLF yet) are owed nothing. PROXY headers
    and XCLIENT are not modelled."""
    _Checker(transcript).run()
