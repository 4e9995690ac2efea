"""Hypothesis state machines that test an application's policy through the
engine, with an in-memory client.

``ClientMachine`` is the machinery: one ``Client`` per session (reconnecting
after a close), the invariants of ``check_invariants`` and "no reply left
owed" after every step, and hooks for the application's own assertions.
``PolicyMachine`` adds rules that play a mostly valid client: HELO/EHLO,
MAIL, RCPT, DATA with bodies, RSET, NOOP, pipelined transactions, QUIT,
closing, and now and then a command out of sequence or malformed; every write
is cut at random points.

    class MyPolicy(PolicyMachine):
        extensions = Extensions(pipelining=True)

        def application(self, conn, event):
            return my_app.decide(event)          # the policy under test

        def on_message(self, message):
            assert message.rcpt_tos              # the application's own checks

    TestMyPolicy = MyPolicy.TestCase
"""

from __future__ import annotations

from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from smtpstate import Command, Event, Extensions, Options, Reply, ServerConnection, State

from ._shared import ReceivedMessage, ServerReply
from .client import Client

__all__ = ["ClientMachine", "PolicyMachine", "body_lines", "cuts"]

# Cut points of a write: offsets past its end are clipped by Client.write.
cuts = st.lists(st.integers(min_value=0, max_value=1 << 12), max_size=5)

# Body lines: text, an empty line, lines with leading dots (stuffed when sent).
body_lines = st.lists(
    st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
        st.sampled_from(["", ".", "..", ".hidden", "From: a@example.org"]),
    ),
    max_size=8,
)


class ClientMachine(RuleBasedStateMachine):
    """The machinery of a state machine that talks to an application through
    the engine. Subclasses set ``hostname``, ``extensions`` and ``options``
    (or override ``make_client``), give ``application``, and add rules that
    call ``send``. After each step the session must keep the invariants
    (``Client.check``), no reply may be left owed, and ``check_application``
    must pass. ``on_reply`` and ``on_message`` see each reply and each
    accepted message as they come."""

    hostname: ClassVar[str] = "mx.example.org"
    extensions: ClassVar[Extensions | None] = None
    options: ClassVar[Options | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.client: Client | None = None
        self._replies_seen = 0
        self._messages_seen = 0

    # -- for subclasses ----------------------------------------------------------

    def application(self, conn: ServerConnection, event: Event) -> Reply | None:
        """The application under test (None: ``conn.default_reply()``)."""
        return None

    def make_client(self) -> Client:
        """A new session: a Client of ``application`` with the class settings."""
        return Client(
            self.application,
            hostname=self.hostname,
            extensions=self.extensions,
            options=self.options,
        )

    def on_reply(self, command: Command, reply: ServerReply) -> None:
        """Called with each command event and the reply the application gave."""

    def on_message(self, message: ReceivedMessage) -> None:
        """Called with each message the application accepted."""

    def check_application(self) -> None:
        """Called after every step: the application's own invariants."""

    # -- the session ---------------------------------------------------------------

    @property
    def conn(self) -> ServerConnection:
        """The current session's connection."""
        assert self.client is not None
        return self.client.conn

    @property
    def closed(self) -> bool:
        """Whether the current session is over (a reconnect starts another)."""
        return self.client is None or self.client.closed

    @initialize()
    def connect(self) -> None:
        self.open()

    def open(self) -> None:
        """Start a new session (the greeting is sent at once)."""
        self.client = self.make_client()
        self._replies_seen = self._messages_seen = 0
        self._report()

    def send(self, data: bytes, cut_at: list[int] | tuple[int, ...] = ()) -> list[ServerReply]:
        """Write ``data`` (cut at ``cut_at``) and return the replies."""
        assert self.client is not None
        replies = self.client.write(data, cut_at)
        self._report()
        return replies

    def close_client(self) -> list[ServerReply]:
        """The client closes its side."""
        assert self.client is not None
        replies = self.client.close()
        self._report()
        return replies

    def _report(self) -> None:
        assert self.client is not None
        exchanges = self.client.exchanges[self._replies_seen :]
        messages = self.client.messages[self._messages_seen :]
        self._replies_seen += len(exchanges)
        self._messages_seen += len(messages)
        for exchange in exchanges:
            self.on_reply(exchange.command, exchange.reply)
        for message in messages:
            self.on_message(message)

    @invariant()
    def session_keeps_the_rules(self) -> None:
        """The wire keeps the SMTP invariants, and every command was answered."""
        if self.client is None:
            return
        self.client.check()
        if not self.client.closed:
            assert self.client.conn.awaiting_reply is None, self.client.conn.awaiting_reply
        self.check_application()


class PolicyMachine(ClientMachine):
    """A mostly valid client: it follows the replies it gets (MAIL after a
    250 to HELO/EHLO, DATA after an accepted RCPT, the body after a 354), and
    sometimes sends a command out of sequence or a malformed one. Override
    ``senders``, ``recipients`` and ``bodies`` (strategies) to aim it at your
    policy."""

    def senders(self) -> st.SearchStrategy[str]:
        """Reverse-paths, without the brackets ("" is the null path)."""
        return st.sampled_from(["alice@example.org", "", "bob@example.net"])

    def recipients(self) -> st.SearchStrategy[str]:
        """Forward-paths, without the brackets."""
        return st.sampled_from(["carol@example.org", "dave@example.com", "postmaster"])

    def bodies(self) -> st.SearchStrategy[list[str]]:
        """Message bodies as lines (without CRLF; dot-stuffed when sent)."""
        return body_lines

    def _in(self, *states: State) -> bool:
        return not self.closed and self.conn.state in states

    @precondition(lambda self: not self.closed)
    @rule(extended=st.booleans(), cut_at=cuts)
    def hello(self, extended: bool, cut_at: list[int]) -> None:
        self.send((b"EHLO" if extended else b"HELO") + b" client.example\r\n", cut_at)

    @precondition(lambda self: self._in(State.READY))
    @rule(data=st.data(), cut_at=cuts)
    def mail(self, data: st.DataObject, cut_at: list[int]) -> None:
        sender = data.draw(self.senders())
        self.send(f"MAIL FROM:<{sender}>\r\n".encode(), cut_at)

    @precondition(lambda self: self._in(State.IN_MAIL, State.HAS_RCPT))
    @rule(data=st.data(), cut_at=cuts)
    def rcpt(self, data: st.DataObject, cut_at: list[int]) -> None:
        recipient = data.draw(self.recipients())
        self.send(f"RCPT TO:<{recipient}>\r\n".encode(), cut_at)

    @precondition(lambda self: self._in(State.HAS_RCPT))
    @rule(data=st.data(), cut_at=cuts)
    def message(self, data: st.DataObject, cut_at: list[int]) -> None:
        """DATA, and the body once the 354 came."""
        replies = self.send(b"DATA\r\n")
        if replies and replies[-1].code == 354:
            self.send(stuffed(data.draw(self.bodies())), cut_at)

    @precondition(
        lambda self: self._in(State.READY) and bool(self.conn.extensions.pipelining)
    )
    @rule(data=st.data(), count=st.integers(min_value=1, max_value=3), cut_at=cuts)
    def pipelined_transaction(self, data: st.DataObject, count: int, cut_at: list[int]) -> None:
        """RFC 2920: MAIL, the RCPTs and DATA in one write; the body after the 354."""
        group = f"MAIL FROM:<{data.draw(self.senders())}>\r\n"
        for _ in range(count):
            group += f"RCPT TO:<{data.draw(self.recipients())}>\r\n"
        replies = self.send((group + "DATA\r\n").encode(), cut_at)
        if replies and replies[-1].code == 354:
            self.send(stuffed(data.draw(self.bodies())), cut_at)

    @precondition(lambda self: self._in(State.AWAIT_HELLO, State.READY))
    @rule(data=st.data(), count=st.integers(min_value=1, max_value=3), cut_at=cuts)
    def transaction(self, data: st.DataObject, count: int, cut_at: list[int]) -> None:
        """A whole transaction, one command per write, each write cut the same
        way: so that messages are common, not only the end of a lucky run."""
        if self._in(State.AWAIT_HELLO):
            self.send(b"EHLO client.example\r\n", cut_at)
        if not self._in(State.READY):
            return  # the application refused the EHLO
        self.send(f"MAIL FROM:<{data.draw(self.senders())}>\r\n".encode(), cut_at)
        for _ in range(count):
            if not self._in(State.IN_MAIL, State.HAS_RCPT):
                return
            self.send(f"RCPT TO:<{data.draw(self.recipients())}>\r\n".encode(), cut_at)
        if self._in(State.HAS_RCPT):
            self.message(data, cut_at)

    @precondition(lambda self: not self.closed)
    @rule(command=st.sampled_from([b"RSET", b"NOOP", b"NOOP hello"]), cut_at=cuts)
    def harmless(self, command: bytes, cut_at: list[int]) -> None:
        self.send(command + b"\r\n", cut_at)

    @precondition(lambda self: not self.closed)
    @rule(
        command=st.sampled_from(
            [
                b"MAIL FROM:<a@example.org>",  # out of sequence in most states
                b"RCPT TO:<b@example.org>",
                b"DATA",
                b"MAIL TO:<a@example.org>",  # syntax errors
                b"RCPT TO:b@example.org",
                b"HELO",
                b"XYZZY",  # an unknown command
                b"NOOP\nRSET",  # a bare LF
                b"NOOP " + b"x" * 600,  # too long (RFC 5321 4.5.3.1.4)
            ]
        ),
        cut_at=cuts,
    )
    def bad_command(self, command: bytes, cut_at: list[int]) -> None:
        replies = self.send(command + b"\r\n", cut_at)
        if replies and replies[-1].code == 354:  # DATA happened to be in sequence
            self.send(b".\r\n")

    @precondition(lambda self: not self.closed)
    @rule(cut_at=cuts)
    def quit(self, cut_at: list[int]) -> None:
        self.send(b"QUIT\r\n", cut_at)

    @precondition(lambda self: not self.closed)
    @rule()
    def disconnect(self) -> None:
        self.close_client()

    @precondition(lambda self: self.closed)
    @rule()
    def reconnect(self) -> None:
        self.open()


def stuffed(lines: list[str]) -> bytes:
    """A body's lines dot-stuffed (RFC 5321 4.5.2), with the final ``.``."""
    return "".join(("." + x if x.startswith(".") else x) + "\r\n" for x in lines).encode() + (
        b".\r\n"
    )
