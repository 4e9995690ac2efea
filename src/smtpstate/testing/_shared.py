"""What the testing tools share: a reply as a client reads it, a reply reader
that takes bytes as they come, and a received message."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerReply:
    """One reply as a client reads it: the code and the text of each line
    (without the code and the separator), and the octets on the wire."""

    code: int
    lines: tuple[str, ...]
    raw: bytes

    @property
    def text(self) -> str:
        """The lines' text joined with newlines."""
        return "\n".join(self.lines)

    @property
    def enhanced_code(self) -> str | None:
        """The enhanced status code (RFC 3463) that opens the first line, if any."""
        first = self.lines[0].split(" ", 1)[0] if self.lines else ""
        parts = first.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and first[0] == str(self.code)[0]:
            return first
        return None


class MalformedReply(Exception):
    """The server sent a line that is not part of a well-formed reply (RFC 5321 4.2)."""


class ReplyReader:
    """Splits the bytes a server sends into replies (RFC 5321 4.2: ``code-text``
    lines continue a reply, ``code text`` or a bare ``code`` ends it). Feed it
    bytes in any cuts; ``replies()`` returns the replies completed so far."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines: list[bytes] = []

    @property
    def pending(self) -> bytes:
        """Octets of a reply not yet complete."""
        return b"".join(self._lines) + bytes(self._buffer)

    def feed(self, data: bytes) -> list[ServerReply]:
        """Take ``data`` and return the replies it completes, in order.
        Raises MalformedReply for a line that is not ``DDD``, ``DDD text`` or
        ``DDD-text``, or a continuation line with another code."""
        self._buffer += data
        done: list[ServerReply] = []
        while True:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                return done
            line = bytes(self._buffer[: end + 2])
            del self._buffer[: end + 2]
            code, separator = line[:3], line[3:4]
            if not (code.isdigit() and separator in (b"-", b" ", b"\r")):
                raise MalformedReply(f"not a reply line: {line!r}")
            if self._lines and self._lines[0][:3] != code:
                raise MalformedReply(f"reply code changed within a reply: {line!r}")
            self._lines.append(line)
            if separator != b"-":
                lines, self._lines = self._lines, []
                text = tuple(
                    part[4:-2].decode("utf-8", "replace") if len(part) > 5 else ""
                    for part in lines
                )
                done.append(ServerReply(int(code), text, b"".join(lines)))


@dataclass(frozen=True)
class ReceivedMessage:
    """A message a server accepted: the reverse-path and forward-paths as the
    client gave them (without angle brackets; ``""`` for the null path), and the
    content as received, dot-unstuffed (or the BDAT chunks joined)."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_params: dict[str, str | None] = field(default_factory=dict)
