"""A real SMTP server for testing code that sends mail: ``SMTPSink``.

It listens on 127.0.0.1 on a port the system picks, keeps every message it
accepts in ``sink.messages``, and can be told to misbehave (``Fault``,
``Greylist``, ``Delay``, ``Disconnect``) so a sender's error handling can be
tested. The protocol is smtpstate's engine; the I/O is the standard library's:
one thread accepts, one thread serves each connection, and ``stop()`` shuts
every socket down and joins every thread (with a bound). Nothing is shared
between two sinks, so tests may run them in parallel (pytest-xdist).

This module imports only the standard library and smtpstate. The pytest
fixtures are in ``smtpstate.testing.plugin``.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Literal, TypeAlias, get_args

from smtpstate import (
    NEED_DATA,
    Authentication,
    AuthenticationChallenge,
    Command,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Expand,
    Extensions,
    Hello,
    Help,
    LocalProtocolError,
    Mail,
    MessageData,
    Noop,
    Options,
    Quit,
    Recipient,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    Reset,
    ServerConnection,
    StartTLS,
    State,
    UnknownCommand,
    Verify,
)
from smtpstate.testing._certificate import TestCertificate, certificate_for
from smtpstate.testing._shared import ReceivedMessage

__all__ = [
    "GREYLISTED",
    "STAGES",
    "Delay",
    "Disconnect",
    "Fault",
    "Greylist",
    "ReceivedMessage",
    "Rule",
    "SMTPSink",
    "SessionRecord",
    "Stage",
]

Stage: TypeAlias = Literal[
    "connect", "helo", "starttls", "auth", "mail", "rcpt", "data", "end_of_data"
]
"""Where a rule applies: before the greeting (``connect``); at HELO/EHLO
(``helo``), STARTTLS, the end of an AUTH exchange (``auth``), MAIL, RCPT, the
DATA command (``data``); or at the end of the message (``end_of_data``: after
the final ``.``, or BDAT LAST)."""

STAGES: tuple[Stage, ...] = get_args(Stage)
_TRANSACTION_STAGES = frozenset({"mail", "rcpt", "data", "end_of_data"})
_RECIPIENT_STAGES = frozenset({"rcpt", "data", "end_of_data"})


def _check_filters(
    stage: str, recipient: str | None, transaction: int | None, times: int | None
) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    if recipient is not None and stage not in _RECIPIENT_STAGES:
        raise ValueError(f"recipient= applies at rcpt, data and end_of_data, not at {stage}")
    if transaction is not None and (stage not in _TRANSACTION_STAGES or transaction < 0):
        raise ValueError("transaction= is an index >= 0, for the mail to end_of_data stages")
    if times is not None and times < 1:
        raise ValueError("times= is at least 1 (None: every time)")


@dataclass(frozen=True)
class Fault:
    """Answer ``reply`` (a 4xx or 5xx) at ``stage`` instead of accepting.

    ``recipient``: only for this recipient (the RCPT of that address; at ``data``
    and ``end_of_data``, a transaction that has it among its accepted recipients).
    ``transaction``: only in the sink's Nth transaction (0 for the first MAIL
    command it receives, counting over all connections). ``times``: only the
    first N times the rule matches (None: every time). A 421 closes the
    connection after the reply; at ``connect`` the reply is 421 or 554 (then
    everything but QUIT gets 503, RFC 5321 3.1)."""

    stage: Stage
    reply: Reply
    recipient: str | None = None
    transaction: int | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        _check_filters(self.stage, self.recipient, self.transaction, self.times)
        if not 400 <= self.reply.code < 600:
            raise ValueError(f"a fault's reply is a refusal (4xx or 5xx), not {self.reply.code}")
        if self.stage == "connect" and self.reply.code not in (421, 554):
            raise ValueError("the greeting can be refused only with 421 or 554 (RFC 5321 3.1)")


GREYLISTED = Reply(451, "Greylisted, please try again later", "4.7.1")


@dataclass(frozen=True)
class Greylist:
    """Refuse the first attempt of each (client address, sender, recipient)
    triple at RCPT with ``reply``, and accept every later one."""

    reply: Reply = GREYLISTED

    def __post_init__(self) -> None:
        if not 400 <= self.reply.code < 500:
            raise ValueError("greylisting answers with a temporary failure (4xx)")


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before the reply at ``stage`` (filters as in ``Fault``).
    Stopping the sink cuts the wait short and drops the connection."""

    stage: Stage
    seconds: float
    recipient: str | None = None
    transaction: int | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        _check_filters(self.stage, self.recipient, self.transaction, self.times)
        if self.seconds < 0:
            raise ValueError("a delay is not negative")


@dataclass(frozen=True)
class Disconnect:
    """Close the connection at ``stage`` without a reply (filters as in ``Fault``).
    With ``stage="data"`` and ``after_octets=N``, the DATA command is accepted
    and the connection is closed once N octets of the body have arrived
    (dot-unstuffed; 0: right after the 354); a shorter body is answered as
    usual. Nothing is stored from a cut connection."""

    stage: Stage
    after_octets: int | None = None
    recipient: str | None = None
    transaction: int | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        _check_filters(self.stage, self.recipient, self.transaction, self.times)
        if self.after_octets is not None and (self.stage != "data" or self.after_octets < 0):
            raise ValueError("after_octets= is a count >= 0, with stage='data' only")


Rule: TypeAlias = Fault | Greylist | Delay | Disconnect


@dataclass
class SessionRecord:
    """What happened on one connection: each command's verb and the code of the
    reply it got (None when the sink closed the connection instead).
    ``"connect"`` stands for the greeting, ``"."`` for the end of a message,
    ``"timeout"`` and ``"protocol error"`` for the sink's last word (421, or the
    engine's reply to a client that broke the protocol beyond repair)."""

    peer: tuple[str, int]
    exchanges: list[tuple[str, int | None]] = field(default_factory=list)
    tls: bool = False
    authenticated: str | None = None

    @property
    def codes(self) -> list[int | None]:
        """The reply codes alone, in order."""
        return [code for _, code in self.exchanges]


_VERBS: dict[type[Command], str] = {
    Mail: "MAIL",
    Recipient: "RCPT",
    DataStart: "DATA",
    EndOfMessage: ".",
    EndOfChunk: "BDAT",
    Reset: "RSET",
    Noop: "NOOP",
    Quit: "QUIT",
    Verify: "VRFY",
    Expand: "EXPN",
    Help: "HELP",
    StartTLS: "STARTTLS",
    AuthenticationChallenge: "AUTH",
    Authentication: "AUTH",
}
_STAGE_OF: dict[type[Command], Stage] = {
    Hello: "helo",
    StartTLS: "starttls",
    Authentication: "auth",
    Mail: "mail",
    Recipient: "rcpt",
    DataStart: "data",
    EndOfMessage: "end_of_data",
}
_IN_TRANSACTION = frozenset({State.IN_MAIL, State.HAS_RCPT, State.IN_DATA, State.IN_BDAT})
_AUTH_OK = Reply(235, "Authentication succeeded", "2.7.0")
_READ_SIZE = 65536


class _Drop(Exception):
    """Close the connection now, without a reply."""


class SMTPSink:
    """An SMTP server on a free port of ``host`` that keeps what it receives.

    Use it as a context manager (``with SMTPSink() as sink:``) or call
    ``start()`` and ``stop()``; the ``smtp_sink`` pytest fixture gives a started
    one. Keyword-only settings:

    - ``hostname``: the name in the greeting and the EHLO reply.
    - ``extensions``, ``options``: the engine's ``Extensions`` and ``Options``
      (SIZE, PIPELINING, 8BITMIME, SMTPUTF8, CHUNKING, DSN..., and the limits).
    - ``tls``: offer STARTTLS with a certificate generated for ``localhost``,
      ``127.0.0.1``, ``::1`` and ``hostname``; ``client_ssl_context()`` trusts it.
      With ``Options(implicit_tls=True)`` TLS starts at once instead (port 465 style).
    - ``accounts``: user name to password; turns on AUTH PLAIN and LOGIN (or the
      mechanisms in ``extensions.auth``), offered under TLS only unless
      ``Extensions(auth_without_tls=True)``.
    - ``faults``: ``Fault``, ``Greylist``, ``Delay`` and ``Disconnect`` rules.
    - ``timeout``: seconds a read, a write or the TLS handshake may take before
      the sink answers 421 and closes (a stuck client never holds it).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str = "localhost",
        extensions: Extensions | None = None,
        options: Options | None = None,
        tls: bool = False,
        accounts: Mapping[str, str] | None = None,
        faults: Sequence[Rule] = (),
        timeout: float = 10.0,
    ) -> None:
        extensions = extensions if extensions is not None else Extensions()
        options = options if options is not None else Options()
        if options.lmtp or options.proxy_protocol:
            raise ValueError("the sink speaks SMTP only: no LMTP, no PROXY header")
        if (options.require_tls or options.implicit_tls or extensions.starttls) and not tls:
            raise ValueError("TLS settings need tls=True (which makes the certificate)")
        if tls and not options.implicit_tls:
            extensions = replace(extensions, starttls=True)
        if accounts and not extensions.auth:
            extensions = replace(extensions, auth=("PLAIN", "LOGIN"))
        greylists = [rule for rule in faults if isinstance(rule, Greylist)]
        if len(greylists) > 1:
            raise ValueError("one Greylist rule at most")
        for rule in faults:
            if not isinstance(rule, (Fault, Greylist, Delay, Disconnect)):
                raise TypeError(f"not a sink rule: {rule!r}")
        self.host = host
        self.hostname = hostname
        self.extensions = extensions
        self.options = options
        self.accounts: dict[str, str] = dict(accounts or {})
        self.faults: tuple[Rule, ...] = tuple(faults)
        self.timeout = timeout
        self._greylist = greylists[0] if greylists else None
        self._requested_port = port
        self._certificate: TestCertificate | None = None
        self._server_context: ssl.SSLContext | None = None
        if tls:
            names = tuple(dict.fromkeys((hostname, "localhost", "127.0.0.1", "::1", host)))
            self._certificate = certificate_for(names)
            self._server_context = self._certificate.server_context()

        self.messages: list[ReceivedMessage] = []
        """Every message accepted, in order of arrival (kept before the 250 goes out)."""
        self.sessions: list[SessionRecord] = []
        """One record per connection, in order of arrival."""
        self.errors: list[BaseException] = []
        """Unexpected exceptions in the sink's threads; ``stop()`` raises the first."""

        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._transactions = 0
        self._rule_uses = [0] * len(self.faults)
        self._greylist_seen: set[tuple[str, str, str]] = set()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread: threading.Thread | None = None
        self._port: int | None = None
        self._stopped = False

    # -- life cycle ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the sink listens on (known once started)."""
        if self._port is None:
            raise RuntimeError("the sink is not started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, as ``socket.create_connection`` takes it."""
        return self.host, self.port

    def start(self) -> SMTPSink:
        """Bind, listen and start accepting; returns the sink itself."""
        if self._listener is not None or self._stopped:
            raise RuntimeError("a sink starts once")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self._requested_port), family=family)
        try:
            listener.setblocking(False)
            self._wakeup = socket.socketpair()
            self._selector = selectors.DefaultSelector()
            self._selector.register(listener, selectors.EVENT_READ)
            self._selector.register(self._wakeup[0], selectors.EVENT_READ)
        except BaseException:
            listener.close()
            self._close_loop()
            raise
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"smtp-sink-{self._port}-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, shut every connection down (unfinished messages are
        dropped), join the threads within ``timeout`` seconds and close every
        socket. Raises RuntimeError if a thread is still alive or if a thread
        failed (``errors``). Calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        deadline = time.monotonic() + timeout
        if self._wakeup is not None:
            with contextlib.suppress(OSError):
                self._wakeup[1].send(b"\0")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:  # no new connection can start now
            for sock in self._live:
                with contextlib.suppress(OSError):  # wakes the reader with EOF
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
        self._close_loop()
        alive = [t.name for t in [*threads, self._accept_thread] if t is not None and t.is_alive()]
        if alive:
            raise RuntimeError(f"sink threads still running after {timeout} s: {alive}")
        if self.errors:
            raise RuntimeError(f"the sink failed while serving: {self.errors[0]!r}") from (
                self.errors[0]
            )

    def _close_loop(self) -> None:
        if self._selector is not None:
            self._selector.close()
        for sock in self._wakeup or ():
            sock.close()

    def __enter__(self) -> SMTPSink:
        """Starts the sink, unless ``start()`` was called already."""
        return self if self._listener is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port is not None else "not started"
        return f"<SMTPSink {where}, {len(self.messages)} message(s)>"

    # -- what a test reads ----------------------------------------------------------

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client ``SSLContext`` that trusts the sink's certificate (and nothing
        else), checking the host name or address as usual."""
        return self._need_certificate().client_context()

    @property
    def certificate_pem(self) -> str:
        """The sink's certificate as PEM text, for a client that wants a CA file."""
        return self._need_certificate().certificate_pem

    def _need_certificate(self) -> TestCertificate:
        if self._certificate is None:
            raise RuntimeError("the sink was made without tls=True")
        return self._certificate

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages have arrived (for senders that
        run in the background); returns ``messages``. TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} message(s) after {timeout} s")
            return self.messages

    # -- the threads ------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._selector is not None and self._listener is not None
        try:
            while True:
                for key, _ in self._selector.select():
                    if key.fileobj is not self._listener:
                        return  # the wake-up socket: stop() was called
                    try:
                        sock, peer = self._listener.accept()
                    except BlockingIOError:
                        continue
                    with self._lock:
                        if self._stopping.is_set():
                            sock.close()
                            return
                        self._live.add(sock)
                        thread = threading.Thread(
                            target=self._serve,
                            args=(sock, peer),
                            name=f"smtp-sink-{self._port}-{len(self._threads)}",
                            daemon=True,
                        )
                        self._threads.append(thread)
                        thread.start()
        except Exception as exc:  # pragma: no cover - a bug, reported by stop()
            self.errors.append(exc)

    def _serve(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        record = SessionRecord(peer=(peer[0], peer[1]))
        with self._lock:
            self.sessions.append(record)
        session: _Session | None = None
        try:
            session = _Session(self, sock, record)
            session.run()
        except Exception as exc:  # a bug in the sink
            self.errors.append(exc)
        finally:
            if session is not None:  # after STARTTLS, the TLS socket owns the descriptor
                sock = session.sock
            with self._lock:
                self._live.discard(sock)
            sock.close()

    # -- the rules, shared by the connections (under the lock) -------------------------

    def _next_transaction(self) -> int:
        with self._lock:
            self._transactions += 1
            return self._transactions - 1

    def _rules_at(
        self, stage: Stage, transaction: int | None, recipients: Sequence[str]
    ) -> tuple[list[Delay], Fault | Disconnect | None]:
        """The delays that apply at ``stage``, and the first fault or disconnect;
        each counts as a use of its rule."""
        delays: list[Delay] = []
        action: Fault | Disconnect | None = None
        with self._lock:
            for index, rule in enumerate(self.faults):
                if isinstance(rule, Greylist) or rule.stage != stage:
                    continue
                if rule.times is not None and self._rule_uses[index] >= rule.times:
                    continue
                if rule.transaction is not None and rule.transaction != transaction:
                    continue
                if rule.recipient is not None and rule.recipient not in recipients:
                    continue
                if isinstance(rule, Delay):
                    delays.append(rule)
                elif action is None:
                    action = rule
                else:
                    continue
                self._rule_uses[index] += 1
        return delays, action

    def _greylisted(self, client: str, sender: str, recipient: str) -> Reply | None:
        """The greylisting reply for a first attempt, else None."""
        if self._greylist is None:
            return None
        with self._lock:
            triple = (client, sender, recipient)
            if triple in self._greylist_seen:
                return None
            self._greylist_seen.add(triple)
        return self._greylist.reply

    def _store(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.messages.append(message)
            self._lock.notify_all()


class _Session:
    """One connection: the engine, the socket and the transaction in progress."""

    def __init__(self, sink: SMTPSink, sock: socket.socket, record: SessionRecord) -> None:
        self.sink = sink
        self.sock = sock
        self.record = record
        self.conn = ServerConnection(sink.hostname, sink.extensions, sink.options)
        self.transaction: int | None = None
        self.sender: Mail | None = None
        self.recipients: list[str] = []
        self.body = bytearray()
        self.cut_after: int | None = None  # Disconnect(after_octets=...) armed at DATA

    def run(self) -> None:
        self.sock.settimeout(self.sink.timeout)
        try:
            if self.sink.options.implicit_tls:
                self._start_tls()
            self._reply("connect", self._decide("connect", "connect", self.conn.default_reply()))
            self._loop()
        except _Drop:
            pass
        except TimeoutError:
            with contextlib.suppress(OSError, LocalProtocolError):  # a last word, if it can
                timed_out = Reply(421, f"{self.sink.hostname} Timeout, closing", "4.4.2")
                self._reply("timeout", timed_out)
        except OSError:
            pass  # the client went away, or stop() shut the socket down

    def _loop(self) -> None:
        conn = self.conn
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:  # the client ended the session
                self._reply("protocol error", exc.reply)
                return
            if event is NEED_DATA:
                conn.receive_data(self.sock.recv(_READ_SIZE))
            elif isinstance(event, ConnectionClosed):
                return
            elif isinstance(event, MessageData):
                self.body += event.data
                if self.cut_after is not None and len(self.body) >= self.cut_after:
                    raise _Drop
            elif isinstance(event, Command):
                self._answer(event)
                if conn.state is State.TLS_PENDING:
                    self._start_tls()
                    conn.tls_established()
            else:
                raise RuntimeError(f"unexpected {event!r}")  # PAUSED: a reply was not sent

    def _answer(self, event: Command) -> None:
        """Reply to one command: the sink's own decision (AUTH), the rules, else
        the engine's default. The message is stored before its 250 goes out."""
        if isinstance(event, Mail):
            self.transaction = self.sink._next_transaction()
            self.sender = event
            self.recipients = []
        reply = self.conn.default_reply()
        if isinstance(event, Authentication):
            reply = self._authenticate(event)
        stage = _STAGE_OF.get(type(event))
        address = event.forward_path.text if isinstance(event, Recipient) else None
        verb = _verb(event)
        if stage is not None:
            reply = self._decide(stage, verb, reply, address)
        if address is not None and reply.code < 300:
            reply = self._greylist(address) or reply
        if isinstance(event, EndOfMessage) and reply.code == 250 and self.sender is not None:
            self.sink._store(
                ReceivedMessage(
                    mail_from=self.sender.reverse_path.text if self.sender.reverse_path else "",
                    rcpt_tos=list(self.recipients),
                    content=bytes(self.body),
                    mail_params=dict(self.sender.params),
                )
            )
        self._reply(verb, reply)
        if address is not None and reply.code < 300:
            self.recipients.append(address)
        if isinstance(event, Authentication):
            self.record.authenticated = self.conn.authenticated
        if isinstance(event, DataStart) and self.cut_after == 0 and reply.code == 354:
            raise _Drop
        if self.conn.state not in _IN_TRANSACTION:  # the transaction ended, or never began
            self.sender, self.recipients, self.cut_after = None, [], None
            self.body.clear()

    def _decide(self, stage: Stage, verb: str, reply: Reply, address: str | None = None) -> Reply:
        """Apply the rules of ``stage`` to the reply the sink would give to ``verb``."""
        recipients = [address] if address is not None else self.recipients
        delays, action = self.sink._rules_at(stage, self.transaction, recipients)
        for delay in delays:
            if self.sink._stopping.wait(delay.seconds):
                raise _Drop
        if isinstance(action, Fault):
            return action.reply
        if isinstance(action, Disconnect):
            if action.after_octets is None:
                self.record.exchanges.append((verb, None))
                raise _Drop
            self.cut_after = action.after_octets
        return reply

    def _greylist(self, address: str) -> Reply | None:
        sender = self.sender.reverse_path.text if self.sender and self.sender.reverse_path else ""
        return self.sink._greylisted(self.record.peer[0], sender, address)

    def _authenticate(self, event: Authentication) -> Reply:
        """Check against ``accounts`` (in constant time; an unknown user is
        checked against a dummy password); no one may act as someone else."""
        password = self.sink.accounts.get(event.username)
        proved = event.check_password("\0" if password is None else password)
        if proved and password is not None and event.authorization_id in ("", event.username):
            return _AUTH_OK
        return self.conn.default_reply()  # 535 5.7.8

    def _reply(self, verb: str, reply: Reply) -> None:
        data = self.conn.send(reply)  # the engine checks the reply first
        self.record.exchanges.append((verb, reply.code))  # recorded before the client reads it
        self.sock.sendall(data)

    def _start_tls(self) -> None:
        """The server side of the handshake, bounded by the socket's timeout.
        ``wrap_socket`` takes the descriptor over from the plain socket."""
        context = self.sink._server_context
        assert context is not None
        with self.sink._lock:
            self.sink._live.discard(self.sock)
            self.sock = context.wrap_socket(
                self.sock, server_side=True, do_handshake_on_connect=False
            )
            self.sink._live.add(self.sock)
            if self.sink._stopping.is_set():
                raise _Drop
        assert isinstance(self.sock, ssl.SSLSocket)
        self.sock.do_handshake()
        self.record.tls = True


def _verb(event: Command) -> str:
    if isinstance(event, Hello):
        return "EHLO" if event.extended else "HELO"
    if isinstance(event, (RejectedCommand, UnknownCommand)):
        return event.verb or "?"
    return _VERBS.get(type(event), type(event).__name__.upper())
