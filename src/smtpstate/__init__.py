"""smtpstate: a sans-I/O SMTP server protocol engine."""

from ._connection import NEED_DATA, PAUSED, Sentinel, ServerConnection
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    AuthChallenge,
    Authenticate,
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
    StartTLS,
    UnknownCommand,
    Verify,
)
from ._extensions import Extensions
from ._replies import Reply
from ._sasl import CramMD5, Login, Mechanism, Plain, SaslError
from ._state import State
from ._version import __version__

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "AuthChallenge",
    "Authenticate",
    "Command",
    "CommandRejected",
    "ConnectionClosed",
    "CramMD5",
    "DataStart",
    "EndOfMessage",
    "Event",
    "Expand",
    "Extensions",
    "Hello",
    "Help",
    "LocalProtocolError",
    "Login",
    "MailFrom",
    "Mailbox",
    "Mechanism",
    "MessageData",
    "Noop",
    "Plain",
    "ProtocolError",
    "Quit",
    "RcptTo",
    "RemoteProtocolError",
    "Reply",
    "Reset",
    "SaslError",
    "Sentinel",
    "ServerConnection",
    "StartTLS",
    "State",
    "UnknownCommand",
    "Verify",
    "__version__",
]
