"""The state machine, as data.

``TRANSITIONS[(state, command type, outcome)]`` gives the next state. A command
whose ``(state, type, ACCEPT)`` key is missing is out of sequence in that state:
the connection refuses it with 503 (RFC 5321 4.1.4) without asking the
application. A rejection (4xx/5xx) keeps the state unless the table says
otherwise, and a 421 from any state closes (RFC 5321 3.8).

``ACCEPT_CODES`` lists, per command type, the codes that accept it (RFC 5321
4.3.2); ``MUST_ACCEPT`` the commands that cannot be refused (RSET, NOOP, QUIT).

What the engine refuses before the application sees a command, and in which
order (the verb sets, the option checks, the 503 of a command out of sequence
among them), is in the sibling module ``_rules.py``: ``_rules.STEPS``.
"""

from __future__ import annotations

import enum

from ._events import (
    Authentication,
    AuthenticationChallenge,
    Command,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Expand,
    Hello,
    Help,
    Mail,
    Noop,
    Quit,
    Recipient,
    RejectedCommand,
    Reset,
    StartTLS,
    UnknownCommand,
    Verify,
    XClient,
    XForward,
)

__all__ = ["ACCEPT_CODES", "MUST_ACCEPT", "TRANSITIONS", "Greeting", "Outcome", "State"]


class State(enum.Enum):
    """Where the session is. See docs/state-diagram.md for the picture."""

    # Members are singletons: hash them by identity, in C (Enum hashes by name in
    # Python code, and every command looks the table up by state).
    __hash__ = object.__hash__

    PROXY_HEADER = "PROXY_HEADER"  # waiting for the load balancer's PROXY header
    CONNECTED = "CONNECTED"  # the greeting is owed
    REFUSED = "REFUSED"  # greeted with 554: only QUIT works (RFC 5321 3.1)
    AWAIT_HELLO = "AWAIT_HELLO"  # greeted, no HELO/EHLO yet
    READY = "READY"  # HELO/EHLO accepted, no transaction
    IN_MAIL = "IN_MAIL"  # MAIL accepted, no recipient yet
    HAS_RCPT = "HAS_RCPT"  # at least one recipient accepted
    IN_DATA = "IN_DATA"  # 354 sent: the message body is arriving
    IN_BDAT = "IN_BDAT"  # a BDAT chunk was accepted: more chunks until BDAT LAST
    AUTH_EXCHANGE = "AUTH_EXCHANGE"  # 334 sent: the next line is a SASL response
    TLS_PENDING = "TLS_PENDING"  # 220 to STARTTLS sent: the adapter runs the handshake
    CLOSED = "CLOSED"  # the session is over (221, 421, or the client closed)
    ERROR = "ERROR"  # a protocol error ended the connection


class Outcome(enum.Enum):
    __hash__ = object.__hash__  # see State: the table is keyed by outcomes too

    ACCEPT = "ACCEPT"  # a 2xx or 3xx reply
    REJECT = "REJECT"  # a 4xx or 5xx reply other than 421


class Greeting(Command):
    """Stands for the connection's opening in the table: the greeting is its reply."""

    __slots__ = ()


class EndOfProxyHeader(Command):
    """Stands for the PROXY header in the table: the greeting is owed after it."""

    __slots__ = ()


class Handshake(Command):
    """Stands for the finished TLS handshake (``tls_established()``) in the table."""

    __slots__ = ()


A, R = Outcome.ACCEPT, Outcome.REJECT
S = State

# Commands that work in every greeted state outside the body, and keep the state.
_ANYWHERE = (Noop, Verify, Expand, Help)
# States in which a session has said hello or may say it.
_SESSION = (S.AWAIT_HELLO, S.READY, S.IN_MAIL, S.HAS_RCPT, S.IN_BDAT)

TRANSITIONS: dict[tuple[State, type[Command], Outcome], State] = {
    # PROXY protocol: the header comes before the greeting.
    (S.PROXY_HEADER, EndOfProxyHeader, A): S.CONNECTED,
    # Connection opening (RFC 5321 3.1): 220 greets, 554 refuses all but QUIT.
    (S.CONNECTED, Greeting, A): S.AWAIT_HELLO,
    (S.CONNECTED, Greeting, R): S.REFUSED,
    (S.REFUSED, Quit, A): S.CLOSED,
    # Mail transaction (RFC 5321 3.3).
    (S.READY, Mail, A): S.IN_MAIL,
    (S.IN_MAIL, Recipient, A): S.HAS_RCPT,
    (S.HAS_RCPT, Recipient, A): S.HAS_RCPT,
    (S.HAS_RCPT, DataStart, A): S.IN_DATA,
    # The transaction ends with the body's reply, whatever it is (RFC 5321 4.1.1.4).
    (S.IN_DATA, EndOfMessage, A): S.READY,
    (S.IN_DATA, EndOfMessage, R): S.READY,
    # CHUNKING (RFC 3030 2): each BDAT chunk is answered; a failed chunk fails
    # the transaction; BDAT LAST ends the message like CRLF.CRLF.
    (S.HAS_RCPT, EndOfChunk, A): S.IN_BDAT,
    (S.HAS_RCPT, EndOfChunk, R): S.READY,
    (S.IN_BDAT, EndOfChunk, A): S.IN_BDAT,
    (S.IN_BDAT, EndOfChunk, R): S.READY,
    (S.HAS_RCPT, EndOfMessage, A): S.READY,
    (S.HAS_RCPT, EndOfMessage, R): S.READY,
    (S.IN_BDAT, EndOfMessage, A): S.READY,
    (S.IN_BDAT, EndOfMessage, R): S.READY,
    # Postfix XCLIENT starts the session again with a new greeting; XFORWARD
    # comes between transactions.
    (S.AWAIT_HELLO, XClient, A): S.AWAIT_HELLO,
    (S.READY, XClient, A): S.AWAIT_HELLO,
    (S.READY, XForward, A): S.READY,
    # STARTTLS (RFC 3207 4.2): after the handshake the session starts again.
    (S.READY, StartTLS, A): S.TLS_PENDING,
    (S.TLS_PENDING, Handshake, A): S.AWAIT_HELLO,
    # AUTH (RFC 4954 4): outside a transaction, after EHLO. A 334 enters the
    # exchange; its end (235, a failure, "*", a bad line) comes back to READY.
    (S.READY, AuthenticationChallenge, A): S.AUTH_EXCHANGE,
    (S.READY, Authentication, A): S.READY,
    (S.AUTH_EXCHANGE, AuthenticationChallenge, A): S.AUTH_EXCHANGE,
    (S.AUTH_EXCHANGE, AuthenticationChallenge, R): S.READY,
    (S.AUTH_EXCHANGE, Authentication, A): S.READY,
    (S.AUTH_EXCHANGE, Authentication, R): S.READY,
    (S.AUTH_EXCHANGE, RejectedCommand, R): S.READY,
}
for _state in _SESSION:
    # HELO/EHLO clears the transaction (RFC 5321 4.1.4); RSET does too, but
    # does not stand in for HELO (4.1.1.5).
    TRANSITIONS[(_state, Hello, A)] = S.READY
    TRANSITIONS[(_state, Reset, A)] = S.AWAIT_HELLO if _state is S.AWAIT_HELLO else S.READY
    TRANSITIONS[(_state, Quit, A)] = S.CLOSED
    for _command in _ANYWHERE:
        TRANSITIONS[(_state, _command, A)] = _state
del _state, _command

# RFC 5321 4.3.2: the replies that accept each command.
ACCEPT_CODES: dict[type[Command], frozenset[int]] = {
    Greeting: frozenset({220}),
    Hello: frozenset({250}),
    Mail: frozenset({250}),
    Recipient: frozenset({250, 251}),
    DataStart: frozenset({354}),
    EndOfMessage: frozenset({250}),
    Reset: frozenset({250}),
    Noop: frozenset({250}),
    Quit: frozenset({221}),
    Verify: frozenset({250, 251, 252}),
    Expand: frozenset({250, 252}),
    Help: frozenset({211, 214}),
    StartTLS: frozenset({220}),
    EndOfChunk: frozenset({250}),
    XClient: frozenset({220}),
    XForward: frozenset({250}),
    EndOfProxyHeader: frozenset(),
    AuthenticationChallenge: frozenset({334}),
    Authentication: frozenset({235}),
    Handshake: frozenset(),
    UnknownCommand: frozenset(),
    RejectedCommand: frozenset(),
}

# RFC 5321 4.1.1.5, 4.1.1.9, 4.1.1.10: RSET, NOOP and QUIT always succeed (a 421
# shutdown aside).
MUST_ACCEPT: frozenset[type[Command]] = frozenset({Reset, Noop, Quit})

# RFC 5321 3.1: the greeting is 220, or 554 to refuse (421 closes at once).
GREETING_REJECT_CODES = frozenset({554})


# The commands in sequence in each state: those the table can accept there.
IN_SEQUENCE: dict[State, frozenset[type[Command]]] = {
    state: frozenset(kind for (at, kind, outcome) in TRANSITIONS if at is state and outcome is A)
    for state in State
}


def next_state(state: State, command: type[Command], outcome: Outcome) -> State:
    """The state after ``command`` got a reply with ``outcome`` in ``state``."""
    if outcome is R:
        return TRANSITIONS.get((state, command, R), state)
    return TRANSITIONS[(state, command, A)]


def allowed(state: State, command: type[Command]) -> bool:
    """Whether ``command`` is in sequence in ``state``."""
    return command in IN_SEQUENCE[state]


def sequence_error(state: State, command: type[Command]) -> str:
    """The text of the 503 for ``command`` out of sequence in ``state``."""
    if state is State.AWAIT_HELLO:
        return "Send HELO or EHLO first"
    if command is EndOfChunk and state is State.READY:
        return "Need MAIL before BDAT"
    if command is EndOfChunk and state is State.IN_MAIL:
        return "Need RCPT before BDAT"
    if state is State.IN_BDAT and command in (DataStart, Recipient):
        # RFC 3030 2: DATA and BDAT cannot be mixed in one transaction.
        return "Not permitted after BDAT in one transaction"
    if command in (StartTLS, AuthenticationChallenge, XClient, XForward):
        # RFC 4954 4: AUTH is not permitted during a mail transaction (503).
        return "Not permitted during a mail transaction"
    if command is Mail:
        return "Nested MAIL command"
    if command is Recipient:
        return "Need MAIL before RCPT"
    if state is State.IN_MAIL:
        return "Need RCPT before DATA"
    return "Need MAIL before DATA"
