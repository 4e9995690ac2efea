"""An in-memory client: bytes in, replies out, through a ServerConnection and
an application, with no socket and no thread.

    client = Client(app)                      # the greeting is sent at once
    client.write(b"EHLO c.example\\r\\n")      # -> [ServerReply(250, ...)]
    client.write(data, cuts=[3, 10])          # the same bytes in three reads
    client.close()                            # EOF
    client.check()                            # the invariants of _record.check_invariants

The application is ``app(conn, event) -> Reply | None``: it answers every
command event, None meaning ``conn.default_reply()``; the default application
answers everything with the default reply.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smtpstate import (
    NEED_DATA,
    PAUSED,
    Command,
    ConnectionClosed,
    DataStart,
    EndOfMessage,
    Event,
    Extensions,
    Mail,
    Mailbox,
    MessageData,
    Options,
    Recipient,
    RemoteProtocolError,
    Reply,
    ServerConnection,
    State,
)

from ._record import (
    ClientClosed,
    ProtocolViolation,
    Received,
    Sent,
    ServerClosed,
    Stored,
    Transcript,
    check_invariants,
)
from ._shared import ReceivedMessage, ReplyReader, ServerReply

__all__ = [
    "Application",
    "Client",
    "Exchange",
    "ProtocolViolation",
    "Transcript",
    "check_invariants",
    "default_application",
]

Application = Callable[[ServerConnection, Event], "Reply | None"]

# Where a mail transaction is open (its envelope is kept).
_TRANSACTION_STATES = frozenset({State.IN_MAIL, State.HAS_RCPT, State.IN_DATA, State.IN_BDAT})


def default_application(conn: ServerConnection, event: Event) -> Reply | None:
    """Answer every command with ``conn.default_reply()``: accept what is
    conventional, take the engine's suggested refusals, refuse AUTH (535)."""
    return None


@dataclass(frozen=True)
class Exchange:
    """A command event and the reply the application gave it."""

    command: Command
    reply: ServerReply


class Client:
    """Drives a ServerConnection and an application with the bytes a client
    sends, and records the session.

    ``connection`` is used as given (already greeted or not: the greeting is
    sent only while it is owed); otherwise one is made from ``hostname``,
    ``extensions`` and ``options``. ``greeting`` replaces the application's
    answer to the greeting.

    STARTTLS: when a 220 puts the engine in TLS_PENDING, the handshake is
    taken as done at once (``tls_established()``), and the rest of that write
    is dropped, as a real TLS layer would take it for handshake octets: bytes
    sent ahead of the handshake are plaintext injected (RFC 3207 4.2). The
    following writes stand for decrypted bytes.

    Attributes: ``transcript`` (a Transcript of the wire), ``messages`` (the
    messages accepted: the end of data or BDAT LAST answered 2xx; in LMTP one
    per accepted recipient), ``events`` (every event, MessageData included),
    ``exchanges`` (each command with its reply), ``replies`` (every reply,
    the greeting first), ``closed`` (the session is over).
    """

    def __init__(
        self,
        app: Application | None = None,
        *,
        hostname: str = "mx.example.org",
        extensions: Extensions | None = None,
        options: Options | None = None,
        connection: ServerConnection | None = None,
        greeting: Reply | None = None,
    ) -> None:
        self.app: Application = app or default_application
        self.conn = connection or ServerConnection(hostname, extensions, options)
        self.transcript = Transcript(stores_messages=True)
        self.messages: list[ReceivedMessage] = []
        self.events: list[Event] = []
        self.exchanges: list[Exchange] = []
        self.closed = False
        self.replies: list[ServerReply] = []
        self._reader = ReplyReader()
        self._greeting = greeting
        self._mail: Mail | None = None
        self._recipients: list[Mailbox] = []
        self._content = bytearray()
        if self.conn.awaiting_reply is not None:  # the greeting is owed
            self._run([], eof=False)
        elif self.conn.state is not State.PROXY_HEADER:
            self.transcript.greeted = True  # a connection greeted before it came here

    # -- hooks for subclasses ------------------------------------------------------

    def need_data(self) -> None:
        """Called each time the engine needs more bytes, before they are fed."""

    def drop_plaintext(self, data: bytes) -> None:
        """Called with each read dropped after STARTTLS (see the class doc)."""

    def start_tls(self) -> None:
        """The TLS handshake after the 220 to STARTTLS: here it succeeds at once."""
        self.conn.tls_established()

    # -- driving ------------------------------------------------------------------

    def write(self, data: bytes, cuts: Sequence[int] = ()) -> list[ServerReply]:
        """Send ``data`` (fed in pieces cut at the offsets ``cuts``), answer
        every event through the application, and return the replies. Nothing
        happens once the session is closed."""
        if self.closed:
            return []
        points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
        pieces = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
        self.transcript.entries.append(Sent(data))
        before = len(self.replies)
        self._run(pieces, eof=False)
        return self.replies[before:]

    def close(self) -> list[ServerReply]:
        """The client closes its side (EOF): the engine ends the session."""
        if self.closed:
            return []
        self.transcript.entries.append(ClientClosed())
        before = len(self.replies)
        self._run([], eof=True)
        return self.replies[before:]

    def check(self) -> None:
        """Raise ProtocolViolation if the session broke an invariant
        (``check_invariants``)."""
        check_invariants(self.transcript)

    def _run(self, pieces: list[bytes], eof: bool) -> None:
        conn = self.conn
        pending = iter(pieces)
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as error:
                # The client broke the protocol beyond repair: the last words, and close.
                self._record_reply(None, conn.send(error.reply))
                self._server_closed()
                return
            if event is NEED_DATA:
                self.need_data()
                piece = next(pending, None)
                if piece is not None:
                    conn.receive_data(piece)
                elif eof:
                    eof = False
                    conn.receive_data(b"")
                else:
                    return
                continue
            if event is PAUSED and conn.awaiting_reply is not None:
                self._answer(conn.awaiting_reply)  # the greeting (after a PROXY header)
                continue
            if event is PAUSED:
                # Else only the TLS hand-off pauses: every command is answered below.
                assert conn.state is State.TLS_PENDING, conn.state
                for piece in pending:
                    self.drop_plaintext(piece)
                self.start_tls()
                continue
            assert isinstance(event, Event)
            self.events.append(event)
            if isinstance(event, ConnectionClosed):
                self._server_closed()
                return
            if isinstance(event, MessageData):
                self._content += event.data
                continue
            assert isinstance(event, Command)
            self._answer(event)
            if conn.state is State.CLOSED:
                self._server_closed()
                return

    def _ask(self, command: Command) -> Reply:
        if self._greeting is not None and self.conn.state in (State.CONNECTED, State.PROXY_HEADER):
            return self._greeting
        reply = self.app(self.conn, command)
        return self.conn.default_reply() if reply is None else reply

    def _answer(self, command: Command) -> None:
        """Every reply owed to ``command`` (LMTP: one per recipient at the end
        of the data), and what each tells about the transaction."""
        conn = self.conn
        if isinstance(command, DataStart):
            self._content.clear()
        recipients = command.recipients if isinstance(command, EndOfMessage) else ()
        index = 0
        while True:
            reply = self._ask(command)
            out = conn.send(reply)
            server_reply = self._record_reply(command, out)
            accepted = server_reply.code // 100 == 2
            if isinstance(command, Mail) and accepted:
                self._mail, self._recipients = command, []
                self._content.clear()
            elif isinstance(command, Recipient) and accepted:
                self._recipients.append(command.forward_path)
            elif isinstance(command, EndOfMessage) and accepted:
                rcpts = [recipients[index]] if recipients else self._recipients
                self._store(rcpts)
            index += 1
            if conn.awaiting_reply is not command:
                break
        if conn.state not in _TRANSACTION_STATES:  # the transaction is over (or never began)
            self._mail, self._recipients = None, []
            self._content.clear()

    def _store(self, recipients: list[Mailbox]) -> None:
        mail = self._mail
        message = ReceivedMessage(
            mail_from=mail.reverse_path.text if mail and mail.reverse_path else "",
            rcpt_tos=[r.text for r in recipients],
            content=bytes(self._content),
            mail_params=dict(mail.params) if mail else {},
        )
        self.messages.append(message)
        self.transcript.entries.append(Stored(message))

    def _record_reply(self, command: Command | None, out: bytes) -> ServerReply:
        self.transcript.entries.append(Received(out))
        replies = self._reader.feed(out)
        if len(replies) != 1:
            raise ProtocolViolation(f"one send() made {len(replies)} replies: {out!r}")
        self.replies.append(replies[0])
        if command is not None:
            self.exchanges.append(Exchange(command, replies[0]))
        return replies[0]

    def _server_closed(self) -> None:
        if not self.closed:
            self.closed = True
            self.transcript.entries.append(ServerClosed())

