"""The DATA body decoder (RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6; RFC 1870).

It cuts the body out of the byte stream with bytes methods only (find, split,
join), so its cost per byte stays close to a plain copy. One walk over the
stuffed dots (each CRLF ".") finds both the end and what to unstuff, with a
Python step per stuffed dot, not per line; a read with many of them falls back
to one search for the end and one split/join:

* only CRLF "." CRLF ends the body: a bare CR or LF never does (SMTP smuggling);
* a "." at the start of a line is removed (dot-unstuffing), and only after CRLF;
* bare CR, bare LF and NUL are found and handled by the line-ending policy;
* lines longer than the text-line limit are found and handled by their policy;
* the size after unstuffing is counted against the SIZE limit.

A body that breaks a rule under the ``reject`` policy is read to its end, and
its end carries the suggested rejection. Delivery stops just before the first
octet that breaks a rule, so what was delivered is the same however the bytes
were cut into reads (the application drops it when the end is refused).
"""

from __future__ import annotations

import enum
import re
from typing import Literal

from ._errors import RemoteProtocolError
from ._events import EndOfMessage
from ._receivebuffer import ReceiveBuffer
from ._replies import Reply

__all__ = ["END", "BodyPolicy", "DataReader"]

BodyPolicy = Literal["reject", "close", "pass"]
LongLinePolicy = Literal["reject", "pass"]

_TERMINATOR = b"\r\n.\r\n"
# CRLF ".": a stuffed dot (RFC 5321 4.5.2), unless CRLF follows (the terminator).
_DOT_LINE = b"\r\n."
# A read with more stuffed dots than this is cut and unstuffed by C passes over
# the whole read (find, split, join) rather than a Python step per dot.
_MAX_WALKED_DOTS = 64
# Proper prefixes of the terminator, longest first: a buffer ending in one of
# them cannot be delivered yet, since the next bytes may complete it.
_PREFIXES = (b"\r\n.\r", b"\r\n.", b"\r\n", b"\r")
# The most of an open line held back to deliver whole lines.
_HOLD_LIMIT = 4096
# At the start of a line the terminator is just "." CRLF.
_LINE_START_END = b".\r\n"

REPLY_OVERSIZED = Reply(552, "Message size exceeds fixed maximum message size", "5.3.4")
REPLY_BAD_LINE_ENDINGS = Reply(550, "Bare CR, bare LF or NUL in message body", "5.6.0")
REPLY_LONG_LINES = Reply(500, "Line too long in message body", "5.5.2")
REPLY_CLOSE_BAD_LINE_ENDINGS = Reply(
    421, "Bare CR, bare LF or NUL in message body, closing connection", "4.5.2"
)


# A CR not followed by LF, an LF not preceded by CR, or a NUL. ``read`` never
# cuts between CR and LF, so a segment holds whole pairs.
_BAD_LINE_ENDING = re.compile(b"\r(?!\n)|(?<!\r)\n|\x00")


class _End(enum.Enum):
    END = "END"


END = _End.END


class DataReader:
    """Reads one message body from a ReceiveBuffer."""

    # One reader per message: slots make it cheaper to build and to read from.
    __slots__ = (
        "_at_line_start",
        "_close_error",
        "_ended",
        "_line_endings_policy",
        "_line_length",
        "_long_lines_policy",
        "_max_line",
        "_max_size",
        "bad_line_endings",
        "long_lines",
        "oversized",
        "size",
    )

    def __init__(
        self,
        *,
        max_size: int,
        max_line: int,
        bad_line_endings: BodyPolicy,
        long_lines: LongLinePolicy,
    ) -> None:
        self._max_size = max_size  # 0: no limit
        self._max_line = max_line  # octets with the CRLF
        self._line_endings_policy = bad_line_endings
        self._long_lines_policy = long_lines
        self._at_line_start = True
        self._line_length = 0  # octets of the current line seen so far (without LF)
        self._ended = False
        # Policy "close": raised on the read after the one that delivered the
        # octets before the fault, so the delivered part does not depend on the cuts.
        self._close_error: RemoteProtocolError | None = None
        self.size = 0
        self.oversized = False
        self.bad_line_endings = False
        self.long_lines = False

    def read(self, buffer: ReceiveBuffer) -> bytes | _End | None:
        """The next piece of body (b"" when nothing can be delivered from what was
        consumed), ``END`` once the terminator has been consumed, or None when
        more bytes are needed."""
        if self._close_error is not None:
            raise self._close_error
        if self._ended:
            return END
        data = buffer.data
        last_crlf = data.rfind(b"\r\n")
        if last_crlf < 0 and len(data) <= _HOLD_LIMIT:
            # No line has ended, so there is no terminator and nothing to
            # deliver (the open line is held, as below). The usual read while a
            # body trickles in, so it is decided first, with one search.
            return None
        if self._at_line_start and data.startswith(_LINE_START_END):
            del data[:3]
            self._ended = True
            return END
        end, dots = _find_end(data)
        if end >= 0:
            cut = end + 2  # the CRLF before "." ends the last line and belongs to the body
            self._ended = True
        else:
            # Deliver whole lines: the open line waits for its CRLF (up to
            # _HOLD_LIMIT octets), so a body that trickles in a few octets per
            # read costs a search per read, not an event. Holding the open line
            # also holds any partial terminator.
            cut = last_crlf + 2 if last_crlf >= 0 else 0
            if len(data) - cut > _HOLD_LIMIT:
                cut = len(data)
                for prefix in _PREFIXES:
                    if data.endswith(prefix):
                        cut -= len(prefix)
                        break
        with memoryview(data) as view:  # one copy, not a bytearray slice and then bytes
            segment = _unstuffed(view, cut, dots)
        del data[: cut + 3 if self._ended else cut]
        return self._decode(segment)

    def end_event(self) -> EndOfMessage:
        if self.oversized:
            reply = REPLY_OVERSIZED
        elif self.bad_line_endings:
            reply = REPLY_BAD_LINE_ENDINGS
        elif self.long_lines:
            reply = REPLY_LONG_LINES
        else:
            # The usual case: each keyword passed to a frozen dataclass costs.
            return EndOfMessage(size=self.size)
        return EndOfMessage(
            size=self.size,
            oversized=self.oversized,
            bad_line_endings=self.bad_line_endings,
            long_lines=self.long_lines,
            reply=reply,
        )

    def _decode(self, segment: bytes) -> bytes:
        """Check one segment, unstuffed but for a dot at its very start (the
        CRLF before it came in an earlier segment). ``read`` never cuts a
        segment inside a possible terminator or between CR and LF.

        The checks run on the unstuffed bytes: the size is the message's
        (RFC 1870), and a text line's length does not count the dot
        duplicated for transparency (RFC 5321 4.5.3.1.6)."""
        if self._at_line_start and segment.startswith(b"."):
            segment = segment[1:]
        self._at_line_start = segment.endswith(b"\r\n")
        delivering = not (self.oversized or self.bad_line_endings or self.long_lines)
        stop = len(segment)  # where delivery stops: before the first fault
        if self._max_size and self.size + len(segment) > self._max_size:
            self.oversized = True
            stop = self._max_size - self.size
        self.size += len(segment)
        if self._line_endings_policy != "pass" and _has_bad_line_ending(segment):
            fault = _BAD_LINE_ENDING.search(segment)
            assert fault is not None  # the counts above found one
            stop = min(stop, fault.start())
            if self._line_endings_policy == "close":
                self._close_error = RemoteProtocolError(
                    "bare CR, bare LF or NUL in message body", REPLY_CLOSE_BAD_LINE_ENDINGS
                )
            else:
                self.bad_line_endings = True
        open_line = self._line_length
        if self._long_lines_policy == "reject" and self._has_long_line(segment):
            self.long_lines = True
            stop = min(stop, _long_line_stop(segment, open_line, self._max_line))
        return segment[:stop] if delivering else b""

    def _has_long_line(self, segment: bytes) -> bool:
        """Whether a line reaches the limit, carrying the open line's length
        across segments. It hops from line end to line end in windows of the
        limit's width, so it costs one ``rfind`` per window, not one per line."""
        limit = self._max_line  # a line of ``limit`` octets before its LF is too long
        first = segment.find(b"\n")
        if first < 0:
            self._line_length += len(segment)
            return self._line_length >= limit
        too_long = self._line_length + first >= limit
        start = first + 1
        while len(segment) - start >= limit:
            last = segment.rfind(b"\n", start, start + limit)
            if last < 0:
                too_long = True
                last = segment.find(b"\n", start + limit)
                if last < 0:
                    break
            start = last + 1
        else:
            last = segment.rfind(b"\n", start)
            if last >= 0:
                start = last + 1
        self._line_length = len(segment) - start
        return too_long or self._line_length >= limit


def _find_end(data: bytearray) -> tuple[int, list[int] | None]:
    """Where the terminator starts in ``data`` (-1: not there yet), and where
    each CRLF "." before it starts (the stuffed dots, and perhaps the start of
    a terminator cut off at the end of ``data``); None instead of the list
    when there are more than ``_MAX_WALKED_DOTS``.

    The terminator is the first CRLF "." followed by CRLF, so walking from one
    CRLF "." to the next finds it as ``find(_TERMINATOR)`` would: two of them
    never overlap, since neither LF nor "." starts one."""
    dots: list[int] = []
    at = data.find(_DOT_LINE)
    while at >= 0:
        if data.startswith(b"\r\n", at + 3):
            return at, dots
        if len(dots) == _MAX_WALKED_DOTS:
            return data.find(_TERMINATOR, at), None
        dots.append(at)
        at = data.find(_DOT_LINE, at + 3)
    return -1, dots


def _unstuffed(view: memoryview, cut: int, dots: list[int] | None) -> bytes:
    """``view[:cut]`` without the dot of each CRLF "." in it (RFC 5321 4.5.2),
    in one copy; ``dots`` as ``_find_end`` gives them. The slices of ``view``
    are gone when this returns, so the buffer can be cut after it."""
    if dots is None:
        # Like replace(b"\r\n.", b"\r\n"), which scans twice (it counts first).
        return b"\r\n".join(bytes(view[:cut]).split(_DOT_LINE))
    if not dots:  # the usual case for a few lines, as when a body trickles in
        return bytes(view[:cut])
    pieces = []
    start = 0
    for at in dots:
        if at + 2 >= cut:  # its dot is not in this segment
            break
        pieces.append(view[start : at + 2])
        start = at + 3
    pieces.append(view[start:cut])
    return b"".join(pieces)


def _long_line_stop(segment: bytes, open_line: int, limit: int) -> int:
    """The index in ``segment`` of the octet that makes a line ``limit`` octets
    long (before its LF), given that the line open before it had ``open_line``.
    Called once per message, when ``_has_long_line`` found such a line."""
    start, length = 0, open_line
    while True:
        lf = segment.find(b"\n", start)
        end = len(segment) if lf < 0 else lf
        if length + end - start >= limit:
            return start + limit - 1 - length
        start, length = lf + 1, 0


def _has_bad_line_ending(segment: bytes) -> bool:
    """A CR not followed by LF, an LF not preceded by CR, or a NUL.

    Deleting every CR and then writing every LF as CRLF gives back the segment
    exactly when each CR was followed by an LF and each LF preceded by a CR.
    Both ``replace`` calls replace one octet, which CPython finds with
    ``memchr``: a few C steps per line, and no object per line (``splitlines``
    would make one)."""
    if b"\0" in segment:
        return True
    return segment.replace(b"\r", b"").replace(b"\n", b"\r\n") != segment
