"""The baseline: about the least work a pure-Python SMTP sink can do.

It splits command lines at CRLF, answers each verb with a canned reply, finds
the end of the body with ``bytes.find`` and removes the stuffed dots with
``bytes.replace``. It checks nothing (no syntax, no sequence, no limits, no bare
CR or LF), so it is the floor that a real engine is measured against, not a
server to use.

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


class BaselineSession:
    """One SMTP session. ``write`` gets the reply bytes, ``deliver`` the
    unstuffed body pieces; ``closed`` turns true after QUIT."""

    def __init__(
        self, write: Callable[[bytes], object], deliver: Callable[[bytes], object]
    ) -> None:
        self.write = write
        self.deliver = deliver
        self.buffer = bytearray()
        self.in_data = False
        self.closed = False
        write(GREETING)

    def feed(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while not self.closed:
            if self.in_data:
                if not self._body():
                    return
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                return
            verb = bytes(buffer[:4]).upper()
            del buffer[: end + 2]
            self.write(REPLIES.get(verb, UNKNOWN))
            if verb == b"DATA":
                # The body is read as if a CRLF came just before it, so that a
                # dot on its first line and an empty body need no special case.
                buffer[:0] = b"\r\n"
                self.in_data = True
            elif verb == b"QUIT":
                self.closed = True

    def _body(self) -> bool:
        """Deliver what can be delivered; True once the body has ended.

        The buffer always starts with the CRLF that ended the previous line
        (already delivered), so ``\\r\\n.`` finds every stuffed dot and
        ``\\r\\n.\\r\\n`` finds the end, whatever the chunk boundaries.
        """
        buffer = self.buffer
        end = buffer.find(b"\r\n.\r\n")
        if end >= 0:
            if end:
                self.deliver(bytes(buffer[: end + 2]).replace(b"\r\n.", b"\r\n")[2:])
            del buffer[: end + 5]
            self.in_data = False
            self.write(MESSAGE_ACCEPTED)
            return True
        cut = buffer.rfind(b"\r\n")
        if cut > 0:
            self.deliver(bytes(buffer[: cut + 2]).replace(b"\r\n.", b"\r\n")[2:])
            del buffer[:cut]
        return False
