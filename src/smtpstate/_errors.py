"""The library's exceptions.

Two kinds of fault end up as exceptions (see docs/api.md, "Error model"):

* ``LocalProtocolError``: the application broke the protocol (a reply when none is
  owed, a code that cannot answer the command, a bad constructor argument).
* ``RemoteProtocolError``: the client did something that ends the session. It carries
  the reply the application should send before closing.

Every client mistake that SMTP recovers from is an event instead (``RejectedCommand``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._replies import Reply

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of the errors this library raises on protocol faults."""


class LocalProtocolError(ProtocolError):
    """The application used the connection in a way the protocol forbids.

    Nothing was written: the bytes for the offending call are never produced.
    """


class RemoteProtocolError(ProtocolError):
    """The client broke the protocol in a way that ends the session.

    ``reply`` is the reply to send before closing; ``ServerConnection.send`` still
    accepts it once.
    """

    def __init__(self, message: str, reply: Reply) -> None:
        super().__init__(message)
        self.reply = reply
