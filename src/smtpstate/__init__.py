"""smtpstate: a sans-I/O SMTP server protocol engine."""

from ._connection import NEED_DATA, PAUSED, Sentinel, ServerConnection
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    Command,
    CommandRejected,
    ConnectionClosed,
    DataStart,
    EndOfMessage,
    Event,
    Expand,
    Hello,
    Help,
    Mailbox,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Reset,
    UnknownCommand,
    Verify,
)
from ._extensions import Extensions
from ._replies import Reply
from ._state import State
from ._version import __version__

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "Command",
    "CommandRejected",
    "ConnectionClosed",
    "DataStart",
    "EndOfMessage",
    "Event",
    "Expand",
    "Extensions",
    "Hello",
    "Help",
    "LocalProtocolError",
    "MailFrom",
    "Mailbox",
    "MessageData",
    "Noop",
    "ProtocolError",
    "Quit",
    "RcptTo",
    "RemoteProtocolError",
    "Reply",
    "Reset",
    "Sentinel",
    "ServerConnection",
    "State",
    "UnknownCommand",
    "Verify",
    "__version__",
]
