"""The receive buffer: bytes in, CRLF-terminated lines out, never more than a
limit held for one line.

Each search for CRLF starts at the beginning of the buffer: a line is at most
the limit (about a kilobyte), so even one that arrives a byte at a time costs
little to scan again, and the common case (whole lines) stays one ``find``.
"""

from __future__ import annotations

import enum

__all__ = ["LINE_TOO_LONG", "ReceiveBuffer"]


class _TooLong(enum.Enum):
    LINE_TOO_LONG = "LINE_TOO_LONG"


LINE_TOO_LONG = _TooLong.LINE_TOO_LONG


class ReceiveBuffer:
    __slots__ = ("_discarding", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self._discarding = False  # inside a line that was too long: drop it up to its CRLF

    def __len__(self) -> int:
        return len(self.data)

    def __bytes__(self) -> bytes:
        return bytes(self.data)

    def append(self, data: bytes) -> None:
        self.data += data

    def clear(self) -> None:
        self.data.clear()
        self._discarding = False

    def extract_line(self, limit: int) -> bytes | _TooLong | None:
        """The next line without its CRLF; ``LINE_TOO_LONG`` in its place when it
        was longer than ``limit`` octets with the CRLF; None until a CRLF arrives.

        An over-long line is dropped as it arrives, so the buffer never holds
        more than ``limit`` octets of it (plus what the last append brought).
        Only CRLF ends a line: a bare CR or LF stays in it for the caller to refuse.
        """
        data = self.data
        end = data.find(b"\r\n")
        if end < 0:
            if len(data) >= limit:
                # Longer than allowed already: keep only a CR that may start the CRLF.
                keep = 1 if data.endswith(b"\r") else 0
                del data[: len(data) - keep]
                self._discarding = True
            return None
        line = bytes(data[:end])
        del data[: end + 2]
        if self._discarding or end + 2 > limit:
            self._discarding = False
            return LINE_TOO_LONG
        return line
