"""The baseline: the least work a pure-Python SMTP sink can do.

It splits command lines at CRLF and answers each verb with a canned reply. In
the body it walks from one CRLF "." to the next with ``bytes.find``: each is a
stuffed dot, or the terminator when CRLF follows. A read without stuffed dots
is delivered as it came, with no copy; one with a few is joined once from
``memoryview`` slices between them. A read with many of them is cut and
unstuffed by C passes over the whole read instead (one ``find`` for the end,
one ``split``/``join``), where a Python step per dot would cost more: the
choice is made per read, as the engine's body decoder makes it. There is no
buffer to append to and cut: between reads it keeps at most the four octets
that may start the terminator. It checks nothing (no syntax, no sequence, no
limits, no bare CR or LF, no line length), so it is the floor that a real
engine is measured against, not a server to use.

The same class serves the in-process workloads (``feed``) and the loopback
baseline server in ``e2e.py``.
"""

from __future__ import annotations

from collections.abc import Callable

GREETING = b"220 baseline ESMTP\r\n"
REPLIES = {
    b"EHLO": b"250-baseline\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"HELO": b"250 baseline\r\n",
    b"MAIL": b"250 OK\r\n",
    b"RCPT": b"250 OK\r\n",
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"RSET": b"250 OK\r\n",
    b"NOOP": b"250 OK\r\n",
    b"QUIT": b"221 Bye\r\n",
}
UNKNOWN = b"500 Command not recognized\r\n"
MESSAGE_ACCEPTED = b"250 OK\r\n"

TERMINATOR = b"\r\n.\r\n"
# Proper prefixes of the terminator, longest first: a read ending in one of them
# keeps it back, since the next read may complete the terminator.
PREFIXES = (b"\r\n.\r", b"\r\n.", b"\r\n", b"\r")
KEPT_LAST = frozenset(prefix[-1] for prefix in PREFIXES)  # most reads end otherwise
# The body is read as if a CRLF came just before it (a dot on its first line is
# stuffed too); these two octets are never delivered.
BODY_START = b"\r\n"
# CRLF ".": a stuffed dot, unless CRLF follows (the terminator).
DOT_LINE = b"\r\n."
# A read with more stuffed dots than this is unstuffed by split/join: past it,
# a Python step per dot costs more than the C passes over the whole read.
MAX_WALKED_DOTS = 64


def find_end(data: bytes, pos: int) -> tuple[int, list[int] | None]:
    """Where the terminator starts in ``data[pos:]`` (-1: not there), and
    where each CRLF "." before it starts; None instead of the list when there
    are more than MAX_WALKED_DOTS. Two CRLF "." never overlap (neither LF nor
    "." starts one), so the first followed by CRLF is the terminator."""
    dots: list[int] = []
    at = data.find(DOT_LINE, pos)
    while at >= 0:
        if data.startswith(b"\r\n", at + 3):
            return at, dots
        if len(dots) == MAX_WALKED_DOTS:
            return data.find(TERMINATOR, at), None
        dots.append(at)
        at = data.find(DOT_LINE, at + 3)
    return -1, dots


def unstuffed(data: bytes, pos: int, stop: int, dots: list[int] | None) -> bytes:
    """``data[pos:stop]`` without the dot of each CRLF "." in it, in one copy
    (none when the read is used whole and has no stuffed dot)."""
    if dots is None:
        return b"\r\n".join(data[pos:stop].split(DOT_LINE))
    if not dots:
        return data if pos == 0 and stop == len(data) else data[pos:stop]
    with memoryview(data) as view:
        pieces = []
        for at in dots:
            if at + 2 >= stop:  # its dot is kept back for the next read
                break
            pieces.append(view[pos : at + 2])
            pos = at + 3
        pieces.append(view[pos:stop])
        return b"".join(pieces)


class BaselineSession:
    """One SMTP session. ``write`` gets the reply bytes, ``deliver`` the
    unstuffed body pieces; ``closed`` turns true after QUIT."""

    def __init__(
        self, write: Callable[[bytes], object], deliver: Callable[[bytes], object]
    ) -> None:
        self.write = write
        self.deliver = deliver
        # Commands: an incomplete line. Body: the kept-back octets, a proper
        # prefix of the terminator (BODY_START at the start of the body).
        self.held = b""
        self.skip = 0  # how many octets of BODY_START lead the held octets + the next read
        self.in_data = False
        self.closed = False
        write(GREETING)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self.in_data and not self.held:
            # The usual read in a body: it starts inside a line (a read ending
            # with CRLF keeps it back), so it is delivered whole unless it
            # holds the terminator or ends with a part of it.
            if data[-1] not in KEPT_LAST:
                end, dots = find_end(data, 0)
                if end < 0:
                    self.deliver(unstuffed(data, 0, len(data), dots))
                    return
                # It holds the terminator: the path below walks it again (once a message).
        elif self.held:
            if self.skip and self.held == BODY_START and not data.startswith(b"."):
                self.skip = 0  # the body starts with no dot: nothing to look back at
            else:
                data = self.held + data  # at most a command line or four octets
            self.held = b""
        pos = 0
        while not self.closed:
            if self.in_data:
                pos = self._body(data, pos)
                if pos < 0:
                    return
                continue
            end = data.find(b"\r\n", pos)
            if end < 0:
                self.held = data[pos:]
                return
            verb = data[pos : pos + 4].upper()
            pos = end + 2
            self.write(REPLIES.get(verb, UNKNOWN))
            if verb == b"DATA":
                self.in_data = True
                if pos == len(data):
                    self.held, self.skip = BODY_START, 2
                    return
                if data.startswith(b".", pos):  # rare: copy the rest behind BODY_START
                    data, pos, self.skip = BODY_START + data[pos:], 0, 2
            elif verb == b"QUIT":
                self.closed = True

    def _body(self, data: bytes, pos: int) -> int:
        """Deliver what ``data[pos:]`` holds of the body: the position after the
        terminator, or -1 when every octet is used (some perhaps kept back).

        At ``pos`` the data starts inside a line, after a CRLF already
        delivered (with no dot next), or with the octets kept back last time
        (``skip`` of them BODY_START, not delivered), so ``\\r\\n.`` finds every
        stuffed dot."""
        skip, self.skip = self.skip, 0
        end, dots = find_end(data, pos)
        if end >= 0:
            if end + 2 > pos + skip:
                self.deliver(unstuffed(data, pos, end + 2, dots)[skip:])
            self.in_data = False
            self.write(MESSAGE_ACCEPTED)
            return end + 5
        stop = len(data)
        if data[-1] in KEPT_LAST:
            for prefix in PREFIXES:
                if data.endswith(prefix):
                    stop -= len(prefix)
                    self.held = data[stop:]
                    if stop < skip:
                        self.skip = skip  # BODY_START is kept back too
                    break
        if stop > pos + skip:
            piece = unstuffed(data, pos, stop, dots)
            self.deliver(piece[skip:] if skip else piece)
        return -1
