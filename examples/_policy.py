"""The example servers' policy: one ``Session`` per connection, holding the engine
(``session.conn``) and deciding everything the engine leaves to the application.

- ``new_connection()`` is the one place a ``ServerConnection`` is built, from the
  command line's ``Config``.
- ``Session.decide()`` is the one place a command's reply is picked: the method
  ``_DECISIONS`` (at the end of this file) names for the event's type, or the
  engine's ``default_reply()`` for the commands this policy has nothing to add to.
- When the message file is opened, delivered or dropped (``_maildir.Spool``, with
  the headers of ``_trace.py`` in front).
- The timeout of each phase (RFC 5321 4.5.3.2), read by the adapter before each
  read and write.

Nothing here does network I/O. An adapter (``socket_server.py``,
``asyncio_server.py``, ``trio_server.py``) owns the socket, the clock and the
loop; it hands every event to ``Session.handle`` and writes the bytes it gets
back. See docs/adapters.md.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from _config import Config, engine_settings
from _maildir import NullSpool, Spool, new_queue_id
from _trace import Client, received_protocol, trace_headers

from smtpstate import (
    Authentication,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Hello,
    Mail,
    MessageData,
    ProxyHeader,
    Recipient,
    RemoteProtocolError,
    Reply,
    Reset,
    Sentinel,
    ServerConnection,
    StartTLS,
    State,
    XClient,
    XForward,
)

__all__ = ["Session", "new_connection"]

# The replies that never change are built (and validated) once, not per command.
REPLY_LOCAL_ERROR = Reply(451, "Local error in processing", "4.3.0")
REPLY_OK = Reply(250, "OK", "2.0.0")
REPLY_SENDER_OK = Reply(250, "Sender OK", "2.1.0")
REPLY_RECIPIENT_OK = Reply(250, "Recipient OK", "2.1.5")
REPLY_START_DATA = Reply(354, "End data with <CR><LF>.<CR><LF>")
# --discard: nothing is queued, so the reply names no queue id (and costs no Reply).
REPLY_DISCARDED = Reply(250, "OK, discarded", "2.0.0")
NULL_SPOOL = NullSpool()  # holds nothing, so every --discard session shares it
# Read for every event: in Python 3.11 ``State.IN_DATA`` is a descriptor call,
# ten times the cost of a global.
_IN_DATA, _TLS_PENDING = State.IN_DATA, State.TLS_PENDING


@functools.cache
def _phase_timeouts(config: Config) -> dict[State, float]:
    """RFC 5321 4.5.3.2: the timeout of each phase by the engine's state (the
    body's depends on the message deadline; other states wait for a command).
    One per configuration, shared by its sessions (read only)."""
    return {
        State.IN_MAIL: config.mail_timeout,
        State.HAS_RCPT: config.rcpt_timeout,
        State.PROXY_HEADER: config.initial_timeout,
        State.CONNECTED: config.initial_timeout,
        State.AWAIT_HELLO: config.initial_timeout,
    }


def new_connection(config: Config) -> ServerConnection:
    """The engine for one connection, with what the command line turned on."""
    extensions, options = engine_settings(config)
    return ServerConnection(config.hostname, extensions, options)


class Session:
    """One client session: the engine (``self.conn``) plus the decisions of this
    example server. The adapter feeds ``conn`` bytes, reads events from it and
    writes what ``handle`` returns."""

    def __init__(self, config: Config, peer: tuple[Any, ...] | None) -> None:
        self.config = config
        self.peer = peer
        self.conn = new_connection(config)
        # Who the trace headers name: the peer, or the client a PROXY header or
        # XCLIENT names; XFORWARD names one for the next transaction only.
        self.client = Client.from_peer(peer)
        self._speaker = self.client  # who speaks XCLIENT/XFORWARD: peer or PROXY client
        self._forward: Client | None = None
        self._trust()
        self._helo = ""
        self._extended = False
        self._sender: Mail | None = None
        self._recipients: list[Recipient] = []
        self._spool: Spool | None = None
        self._spool_failed = False  # the message file could not be made: 451 at the end
        self._queue_id = ""
        self._body_deadline: float | None = None  # time.monotonic() when the body must end
        self._body_started = False
        self._reply_to_body = False  # the unwritten replies answer a message's end
        self._timeouts = _phase_timeouts(config)

    # -- what the adapter calls ----------------------------------------------------

    def greeting(self) -> bytes:
        """The 220 owed first; empty with ``--proxy-protocol``, where the PROXY
        header comes first and ``handle`` returns the greeting for it."""
        if self.conn.state is State.PROXY_HEADER:
            return b""
        return self.conn.send(self._greeting())

    def handle(self, event: Event | Sentinel) -> bytes:
        """Act on one event; return the bytes to write (empty for body data)."""
        kind = type(event)  # events are final classes: the type picks the action
        if kind is MessageData:
            self._body_started = True
            if self._spool is None and self._sender is not None:  # BDAT: the first chunk
                self._open_spool()
            if self._spool is not None:
                self._spool.write(event.data)  # type: ignore[union-attr]
            return b""
        if kind is EndOfMessage and self.config.lmtp:
            # RFC 2033 4.2: one reply per accepted recipient, in order.
            self._reply_to_body = True
            replies = self._end_of_lmtp_message(event)  # type: ignore[arg-type]
            return b"".join(self.conn.send(reply) for reply in replies)
        decide = _DECISIONS.get(kind)
        if decide is not None:
            return self.conn.send(decide(self, event))
        if not isinstance(event, Event) or isinstance(event, ConnectionClosed):
            raise RuntimeError(f"the adapter handles {event!r} itself")
        return self.conn.send(self.conn.default_reply())

    def tls_context(self) -> ssl.SSLContext | None:
        """Set once the 220 to STARTTLS is sent (the engine is in TLS_PENDING): the
        adapter writes out its replies, runs the handshake with this context, then
        calls ``conn.tls_established()``. See docs/tls-auth.md."""
        return self.config.tls if self.conn.state is _TLS_PENDING else None

    @property
    def timeout(self) -> float:
        """How long the next read may take: the RFC 5321 4.5.3.2 timeout of the
        phase, and inside a body no longer than the message deadline allows."""
        c, state = self.config, self.conn.state
        if state is _IN_DATA:
            block = c.data_timeout if self._body_started else c.data_init_timeout
            left = (self._body_deadline or 0.0) - time.monotonic()
            return max(0.001, min(block, left))
        return self._timeouts.get(state, c.idle_timeout)

    @property
    def write_timeout(self) -> float:
        """How long writing the batched replies may take: the DATA termination
        timeout (4.5.3.2.6) for the reply to a body, else the phase's timeout, so
        a client that never reads is dropped (back-pressure)."""
        if self._reply_to_body:
            return max(self.config.data_term_timeout, self.timeout)
        return self.timeout

    def written(self) -> None:
        """The adapter wrote every reply it had."""
        self._reply_to_body = False

    def protocol_error(self, exc: RemoteProtocolError) -> bytes:
        """The client broke the protocol beyond repair: its last reply, then close."""
        self._drop_spool()
        return self.conn.send(exc.reply)

    def timed_out(self) -> bytes:
        """RFC 5321 4.5.3.2: on a timeout the server answers 421 and closes."""
        return self._unsolicited(Reply(421, f"{self.config.hostname} Timeout, closing", "4.4.2"))

    def shutting_down(self) -> bytes:
        """RFC 5321 3.8: 421 when the server shuts down."""
        return self._unsolicited(
            Reply(421, f"{self.config.hostname} Service shutting down", "4.3.2")
        )

    def close(self) -> None:
        """The connection is over: anything unfinished is dropped, never delivered."""
        self._drop_spool()

    # -- the reply to each command ---------------------------------------------------

    def decide(self, event: Event) -> Reply:
        """The reply to one command: the method _DECISIONS names for its type,
        else the engine's default (its suggested refusals, the 334 challenges,
        250 to NOOP, 252 to VRFY and EXPN, 214 to HELP, 221 to QUIT)."""
        decide = _DECISIONS.get(type(event))
        return decide(self, event) if decide is not None else self.conn.default_reply()

    def _on_proxy(self, event: ProxyHeader) -> Reply:  # --proxy-protocol: now the greeting
        """A PROXY header names the real client, unless it is a LOCAL health
        check or gives no address (UNKNOWN): then the peer stays."""
        if event.command == "PROXY" and event.source_address is not None:
            via = f"PROXY v{event.version} from {self.client.literal()}"
            self.client = Client(event.source_address, event.source_port, via=via)
            self._speaker = self.client
            self._trust()
        return self._greeting()

    def _on_xclient(self, event: XClient) -> Reply:
        """--xclient-trusted: the session starts again as the client it names."""
        self._end_transaction()
        client = self.client.relayed(event.attributes, f"XCLIENT from {self._speaker.literal()}")
        self.client = replace(client, helo=None)
        self._helo = client.helo or ""  # until the next EHLO
        return self._greeting()

    def _on_xforward(self, event: XForward) -> Reply:  # for the next transaction only
        via = f"XFORWARD from {self._speaker.literal()}"
        self._forward = (self._forward or self.client).relayed(event.attributes, via)
        return REPLY_OK

    def _on_hello(self, event: Hello) -> Reply:
        self._end_transaction()
        self._helo, self._extended = event.domain, event.extended
        return Reply(250, f"{self.config.hostname} greets {event.domain}")

    def _on_starttls(self, event: StartTLS) -> Reply:  # only offered with --tls-cert
        self._new_transaction()
        return Reply(220, "Ready to start TLS", "2.0.0")

    def _authenticate(self, event: Authentication) -> Reply:
        """Check the credentials against --auth. ``check_password`` compares in
        constant time; an unknown user is checked against a dummy password, so
        the reply takes as long. No one may act as someone else (authzid)."""
        password = dict(self.config.users).get(event.username)
        proved = event.check_password("\0" if password is None else password)
        if proved and password is not None and event.authorization_id in ("", event.username):
            return Reply(235, "Authentication succeeded", "2.7.0")
        return Reply(535, "Authentication credentials invalid", "5.7.8")

    def _on_mail(self, event: Mail) -> Reply:
        self._new_transaction()
        self._sender = event
        return REPLY_SENDER_OK

    def _on_rcpt(self, event: Recipient) -> Reply:
        self._recipients.append(event)
        return REPLY_RECIPIENT_OK

    def _on_data(self, event: DataStart) -> Reply:
        if (failed := self._open_spool()) is not None:
            return failed
        self._body_deadline = time.monotonic() + self.config.message_deadline
        self._body_started = False
        return REPLY_START_DATA

    def _on_chunk(self, event: EndOfChunk) -> Reply:  # --chunking: BDAT without LAST
        failed = event.reply or self._open_spool()
        if failed is not None:  # RFC 3030 2: the transaction fails
            self._new_transaction()
            return failed
        return Reply(250, f"{event.size} octets received", "2.0.0")

    def _on_end(self, event: EndOfMessage) -> Reply:
        """The body is complete: deliver it, unless the engine flagged it (too big,
        bad line endings...); then nothing is delivered and its reply goes out."""
        self._reply_to_body = True
        spool = self._take_spool(event)
        self._end_transaction()
        if event.reply is not None:
            return event.reply
        if spool is None:
            return REPLY_LOCAL_ERROR
        if self.config.discard:
            return REPLY_DISCARDED
        try:
            spool.commit()
        except OSError:
            return REPLY_LOCAL_ERROR
        return Reply(250, f"OK queued as {self._queue_id}", "2.0.0")

    def _on_reset(self, event: Reset) -> Reply:
        self._end_transaction()
        return REPLY_OK

    def _end_of_lmtp_message(self, event: EndOfMessage) -> list[Reply]:
        """RFC 2033 4.2: one file and one reply per accepted recipient, in order."""
        count = len(event.recipients)
        spool, recipients = self._take_spool(event), self._recipients
        if spool is NULL_SPOOL:  # --discard: no file, no headers, no queue id
            heads = [b""] * len(recipients)
        else:
            heads = [self._trace_headers([r]) for r in recipients] if spool else []
        self._end_transaction()
        if spool is None or len(heads) != count:  # refused by the engine, or no file
            if spool is not None:
                spool.discard()
            return [event.reply or REPLY_LOCAL_ERROR] * count
        landed = spool.deliver_copies(heads)
        done = "OK, discarded" if spool is NULL_SPOOL else f"OK queued as {self._queue_id}"
        return [
            Reply(250, f"<{r.forward_path.address}> {done}", "2.0.0")
            if ok
            else Reply(451, f"<{r.forward_path.address}> Local error in processing", "4.3.0")
            for r, ok in zip(recipients, landed, strict=True)
        ]

    # -- the transaction and its message file -------------------------------------------

    def _new_transaction(self) -> None:
        self._drop_spool()
        self._spool_failed = False
        self._sender = None
        self._recipients = []

    def _end_transaction(self) -> None:
        """After a body, RSET, a new EHLO or XCLIENT: XFORWARD is forgotten too."""
        self._new_transaction()
        self._forward = None

    def _open_spool(self) -> Reply | None:
        """Start the message file, at DATA or at the first BDAT chunk: None once
        it is open, else the reply that fails the transaction. In LMTP mode it
        holds the body only; each recipient's copy gets its own headers."""
        if self._spool is not None:
            return None
        if self._spool_failed:
            return REPLY_LOCAL_ERROR
        if self.config.discard:
            self._spool = NULL_SPOOL
            return None
        self._queue_id = new_queue_id()
        head = b"" if self.config.lmtp else self._trace_headers(self._recipients)
        try:
            self._spool = Spool(self.config.maildir, head)
        except OSError:
            self._spool_failed = True
            return REPLY_LOCAL_ERROR
        return None

    def _take_spool(self, event: EndOfMessage) -> Spool | None:
        """The message file once the body is complete (for ``BDAT 0 LAST``, an
        empty message, opened now); None if there is none, or if the engine
        flagged the body: then the file is deleted."""
        if event.reply is None:
            self._open_spool()
        spool, self._spool = self._spool, None
        if event.reply is not None and spool is not None:
            spool.discard()
            return None
        return spool

    def _drop_spool(self) -> None:
        if self._spool is not None:
            spool, self._spool = self._spool, None
            spool.discard()

    def _trace_headers(self, recipients: Sequence[Recipient]) -> bytes:
        """The headers in front of the body (``_trace.trace_headers``) for the
        transaction under way."""
        assert self._sender is not None
        protocol = received_protocol(
            extended=self._extended,
            lmtp=self.config.lmtp,
            smtputf8=self._sender.smtputf8,
            tls=self.conn.tls_active,
            authenticated=bool(self.conn.authenticated),
        )
        return trace_headers(
            self._sender,
            recipients,
            self._forward or self.client,
            helo=self._helo,
            by=self.config.hostname,
            protocol=protocol,
            queue_id=self._queue_id,
            dsn=self.config.dsn,
        )

    # -- the rest of the session ---------------------------------------------------------

    def _greeting(self) -> Reply:
        kind = "LMTP" if self.config.lmtp else "ESMTP"
        return Reply(220, f"{self.config.hostname} {kind} smtpstate example")

    def _trust(self) -> None:
        """XCLIENT and XFORWARD for a client in --xclient-trusted (by the PROXY
        address when there is one), decided before EHLO and kept after XCLIENT."""
        trusted = self.client.trusted(self.config.xclient_trusted)
        self.conn.xclient = self.conn.xforward = trusted

    def _unsolicited(self, reply: Reply) -> bytes:
        self._drop_spool()
        if self.conn.state in (State.CLOSED, State.ERROR):
            return b""  # the session already ended with its last reply
        # Owed or not, the engine sends a 421 (RFC 5321 3.8: the server may close
        # at any time) and moves to CLOSED.
        return self.conn.send(reply)


# The example's own answer to each kind of command (anything else: the engine's
# default_reply()).
_DECISIONS: dict[type[Event | Sentinel], Callable[[Session, Any], Reply]] = {
    ProxyHeader: Session._on_proxy,
    XClient: Session._on_xclient,
    XForward: Session._on_xforward,
    Hello: Session._on_hello,
    StartTLS: Session._on_starttls,
    Authentication: Session._authenticate,
    Mail: Session._on_mail,
    Recipient: Session._on_rcpt,
    DataStart: Session._on_data,
    EndOfChunk: Session._on_chunk,
    EndOfMessage: Session._on_end,
    Reset: Session._on_reset,
}
