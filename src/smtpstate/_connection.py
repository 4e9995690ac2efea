"""ServerConnection: the receive buffer, the command and body readers, the
state table and the reply writer, joined into one object with no I/O."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

from . import _auth, _rules, _state
from ._commands import (
    XCLIENT_ATTRIBUTES,
    XFORWARD_ATTRIBUTES,
    parse_arguments,
    parse_bdat,
    split_line,
)
from ._data import END, REPLY_OVERSIZED, DataReader
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    Authentication,
    AuthenticationChallenge,
    Command,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expand,
    Hello,
    Help,
    Mail,
    MessageData,
    Noop,
    ProxyHeader,
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
from ._extensions import Extensions
from ._options import Options
from ._proxy import ProxyError, read_proxy_header
from ._receivebuffer import LINE_TOO_LONG, ReceiveBuffer
from ._replies import Reply
from ._sasl import Mechanism
from ._session import Session, Transaction
from ._state import EndOfProxyHeader, Greeting, Handshake, Outcome, State

__all__ = ["NEED_DATA", "PAUSED", "Sentinel", "ServerConnection"]

# The states and outcomes as plain globals: in Python 3.11 reading a member as
# ``State.READY`` runs a descriptor, ten times slower than reading a global,
# and the hot path compares states on every command.
PROXY_HEADER = State.PROXY_HEADER
CONNECTED = State.CONNECTED
REFUSED = State.REFUSED
AWAIT_HELLO = State.AWAIT_HELLO
READY = State.READY
IN_MAIL = State.IN_MAIL
HAS_RCPT = State.HAS_RCPT
IN_DATA = State.IN_DATA
IN_BDAT = State.IN_BDAT
AUTH_EXCHANGE = State.AUTH_EXCHANGE
TLS_PENDING = State.TLS_PENDING
CLOSED = State.CLOSED
ERROR = State.ERROR
ACCEPT = Outcome.ACCEPT
REJECT = Outcome.REJECT


class Sentinel(enum.Enum):
    """What ``next_event`` returns when it has no event."""

    NEED_DATA = "NEED_DATA"  # feed more bytes with receive_data()
    PAUSED = "PAUSED"  # a reply is owed: send() it first


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED

_TRANSACTION_STATES = frozenset({IN_MAIL, HAS_RCPT, IN_DATA, IN_BDAT})
_IDLE_STATES = frozenset({READY, AWAIT_HELLO})  # no transaction
_SESSION_REPLY_CODES = frozenset({421})  # accepted as an answer to anything
# The commands whose replies may go without an enhanced code (see _is_hello).
_HELLO_LIKE: frozenset[type[Command]] = frozenset({Hello, Greeting, RejectedCommand, XClient})
# The commands that carry the engine's verdict on a body (see _check_verdict).
_VERDICTS: frozenset[type[Command]] = frozenset({EndOfMessage, EndOfChunk})

REPLY_BAD_PROXY = Reply(421, "Bad PROXY protocol header, closing connection", "4.7.0")

# The most octets of one BDAT chunk the engine reads and drops unseen (a refused
# chunk's, RFC 3030 2, or those past the SIZE limit) when SIZE sets no limit.
MAX_DISCARDED_CHUNK = 32 * 1024 * 1024


# Shared, immutable defaults: a connection is cheap to make.
_DEFAULT_EXTENSIONS = Extensions()
_DEFAULT_OPTIONS = Options()
_GREETING = Greeting()


class _Chunk:
    """A BDAT chunk whose octets are being read, and what comes after them."""

    __slots__ = ("last", "refusal", "remaining", "size")

    def __init__(self, size: int, last: bool, refusal: RejectedCommand | None) -> None:
        self.size = size
        self.remaining = size
        self.last = last
        self.refusal = refusal  # a refused BDAT's octets are read and dropped (RFC 3030 2)


class ServerConnection:
    """The server side of one SMTP session.

    Feed it bytes with ``receive_data``, take events from ``next_event``, and
    answer every ``Command`` event with exactly one ``send(Reply(...))``; the
    greeting (220, or 554 to refuse, or 421) is owed first.
    """

    # Slots: a connection is made per session and its attributes are read on
    # every command; slots make both cheaper. Subclass to add attributes.
    __slots__ = (
        "__weakref__",
        "_awaiting",
        "_buffer",
        "_chunk",
        "_closed_event",
        "_data_reader",
        "_eof",
        "_extensions",
        "_final_reply_sent",
        "_hostname",
        "_input",
        "_longest_line",
        "_mechanism",
        "_options",
        "_plan",
        "_proxy",
        "_remote_error",
        "_session",
        "_state",
        "_transaction",
        "rejected_count",
        "xclient",
        "xforward",
    )

    def __init__(
        self,
        hostname: str = "localhost",
        extensions: Extensions | None = None,
        options: Options | None = None,
        *,
        xclient: bool = False,
        xforward: bool = False,
    ) -> None:
        if extensions is None:
            extensions = _DEFAULT_EXTENSIONS
        if options is None:
            options = _DEFAULT_OPTIONS
        self._hostname = hostname
        self._extensions = extensions
        self._options = options
        # The checks of each verb under this configuration (made once per pair).
        plan = self._plan = _rules.plan(options, extensions)
        self._longest_line = plan.longest_line
        # XCLIENT/XFORWARD are for trusted proxies only: the application may
        # turn them on per connection (before EHLO), e.g. after a PROXY header.
        self.xclient = xclient
        self.xforward = xforward
        self.rejected_count = 0
        proxy_protocol = options.proxy_protocol
        self._state = PROXY_HEADER if proxy_protocol else CONNECTED
        self._awaiting: Command | None = None if proxy_protocol else _GREETING
        self._proxy: ProxyHeader | None = None  # the connection's: no session restart forgets it
        self._chunk: _Chunk | None = None
        self._buffer = ReceiveBuffer()
        self._input = self._buffer.data  # the same bytearray: receive_data appends here
        self._eof = False
        self._data_reader: DataReader | None = None
        self._closed_event: ConnectionClosed | None = None
        self._remote_error: RemoteProtocolError | None = None
        self._final_reply_sent = False
        self._mechanism: Mechanism | None = None  # the SASL exchange under way
        # What the session has learnt, and the mail transaction (None outside
        # one): each replaced whole, never cleared field by field (_session.py).
        # RFC 8314 3: on a port with implicit TLS (465) the session is under TLS
        # from its first octet: no STARTTLS, and plaintext mechanisms may run.
        self._session = Session(options.implicit_tls)
        self._transaction: Transaction | None = None

    # -- public state -------------------------------------------------------

    @property
    def options(self) -> Options:
        """The limits and policies given at construction (frozen)."""
        return self._options

    @property
    def extensions(self) -> Extensions:
        """The extensions offered after EHLO, given at construction (frozen)."""
        return self._extensions

    @property
    def hostname(self) -> str:
        """The server's name, given at construction (CRAM-MD5 challenges use it)."""
        return self._hostname

    @property
    def state(self) -> State:
        return self._state

    @property
    def awaiting_reply(self) -> Command | None:
        """The command owed a reply (the greeting stands as a ``Command`` too)."""
        return self._awaiting

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """The bytes received but not yet processed, and whether EOF was seen."""
        return bytes(self._buffer), self._eof

    @property
    def proxy(self) -> ProxyHeader | None:
        """The PROXY header read before the session, when ``proxy_protocol``."""
        return self._proxy

    @property
    def tls_active(self) -> bool:
        """Whether ``tls_established()`` was called: the session runs over TLS."""
        return self._session.tls_active

    @property
    def authenticated(self) -> str | None:
        """The identity AUTH established (authorization identity, else the
        user name), or None."""
        return self._session.authenticated

    @property
    def recipients(self) -> int:
        """Recipients accepted in the current transaction."""
        transaction = self._transaction
        return len(transaction.recipients) if transaction is not None else 0

    # -- receiving ------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; ``b""`` means the client closed its side.

        Between the 220 to STARTTLS and ``tls_established()`` (TLS_PENDING)
        only ``b""`` is taken: the client closed during the handshake, and
        ``next_event()`` returns ``ConnectionClosed``. Bytes then raise
        ``LocalProtocolError`` and change nothing: decrypted bytes come after
        ``tls_established()``, and plaintext read ahead of the handshake is
        for the adapter to discard (RFC 3207 4.2; CVE-2011-0411). Plaintext
        already buffered when the 220 is sent is discarded by ``send()``.
        """
        if data:
            if self._eof:
                raise RuntimeError("received data after the end of the stream")
            if self._state is TLS_PENDING:
                raise LocalProtocolError(
                    "receive_data() in TLS_PENDING: call tls_established() before passing "
                    "decrypted bytes; plaintext read ahead of the handshake must be "
                    "discarded by the adapter"
                )
            self._input += data
        else:
            self._eof = True

    def next_event(self) -> Event | Sentinel:
        """The next event, or NEED_DATA, or PAUSED while a reply is owed."""
        if self._awaiting is not None:
            if self._state is ERROR:  # send() refused a reply (LocalProtocolError)
                raise LocalProtocolError("the connection is in the ERROR state")
            return PAUSED
        try:
            return _READERS[self._state](self)
        except RemoteProtocolError as error:
            self._state = ERROR
            self._remote_error = error
            raise

    # -- the readers: what the next input is, by state (_READERS) -------------

    def _next_tls_pending(self) -> Event | Sentinel:
        """TLS_PENDING: nothing to read until tls_established(), unless the
        client closed during the handshake."""
        return self._client_closed() if self._eof else PAUSED

    def _next_closed(self) -> ConnectionClosed:
        assert self._closed_event is not None  # set whenever the state becomes CLOSED
        return self._closed_event

    def _next_error(self) -> NoReturn:
        if self._remote_error is not None:
            raise self._remote_error
        raise LocalProtocolError("the connection is in the ERROR state")

    def _next_proxy_event(self) -> Event | Sentinel:
        """The PROXY header, before anything else (HAProxy specification 2)."""
        try:
            header = read_proxy_header(self._buffer.data)
        except ProxyError as error:
            raise RemoteProtocolError(str(error), REPLY_BAD_PROXY) from None
        if header is None:
            if self._eof:
                raise RemoteProtocolError("closed before the PROXY header ended", REPLY_BAD_PROXY)
            return NEED_DATA
        self._proxy = header
        self._state = _state.next_state(self._state, EndOfProxyHeader, ACCEPT)
        self._awaiting = _GREETING
        return header

    def _next_chunk_event(self, chunk: _Chunk) -> Event | Sentinel:
        """The octets of a BDAT chunk (binary, exactly as counted), then the
        event that answers it (RFC 3030 2)."""
        data = self._buffer.data
        # None for a chunk refused outside a transaction; an accepted chunk is
        # in sequence, so inside one.
        transaction = self._transaction
        while chunk.remaining:
            if not data:
                return self._client_closed() if self._eof else NEED_DATA
            take = min(chunk.remaining, len(data))
            piece = bytes(data[:take])
            del data[:take]
            chunk.remaining -= take
            if chunk.refusal is None:
                assert transaction is not None
                size = self._extensions.size
                room = size - transaction.bdat_size if size else take
                transaction.bdat_size += take
                if room > 0:
                    return MessageData(data=piece[:room])
        self._chunk = None
        if chunk.refusal is not None:
            return self._owe(chunk.refusal)
        assert transaction is not None
        oversized = bool(self._extensions.size) and transaction.bdat_size > (
            self._extensions.size or 0
        )
        if chunk.last:
            return self._owe(
                EndOfMessage(
                    size=transaction.bdat_size,
                    oversized=oversized,
                    reply=REPLY_OVERSIZED if oversized else None,
                    recipients=tuple(transaction.recipients) if self._options.lmtp else (),
                )
            )
        return self._owe(EndOfChunk(size=chunk.size, reply=REPLY_OVERSIZED if oversized else None))

    def _next_command_event(self) -> Event | Sentinel:
        if self._chunk is not None:  # a BDAT line's octets come before the next command
            return self._next_chunk_event(self._chunk)
        max_errors = self._options.max_errors
        if max_errors is not None and self.rejected_count >= max_errors:
            raise RemoteProtocolError("too many errors", _rules.REPLY_TOO_MANY_ERRORS)
        # An empty buffer is the usual case after a reply: no search needed.
        line = self._buffer.extract_line(self._longest_line) if self._input else None
        if line is None:
            return self._client_closed() if self._eof else NEED_DATA
        limit = self._options.max_command_line
        if line is LINE_TOO_LONG or (
            len(line) + 2 > limit
            and len(line) + 2
            > limit + self._extensions.line_allowance(line[:5].upper().decode("latin-1").strip())
        ):
            # RFC 5321 4.5.3.1.4 and 4.5.3.1.9: 500 for a line too long.
            event: Command | _Chunk = _rules.LINE_TOO_LONG.refuse("")
        else:
            event = self._command(line)
        if isinstance(event, _Chunk):
            self._chunk = event
            return self._next_chunk_event(event)
        return self._owe(event)

    def _next_auth_event(self) -> Event | Sentinel:
        """A line of the SASL exchange: it has its own, longer limit (RFC 4954 4)."""
        mechanism = self._mechanism
        assert mechanism is not None  # set whenever a 334 enters AUTH_EXCHANGE
        line = self._buffer.extract_line(_auth.MAX_AUTH_LINE)
        if line is None:
            return self._client_closed() if self._eof else NEED_DATA
        event, self._mechanism = _auth.respond(mechanism, line)
        return self._owe(event)

    def _next_body_event(self) -> Event | Sentinel:
        reader = self._data_reader
        assert reader is not None  # set whenever a 354 enters IN_DATA
        while True:
            piece = reader.read(self._buffer)
            if piece is None:
                return self._client_closed() if self._eof else NEED_DATA
            if piece is END:
                event = reader.end_event()
                if self._options.lmtp:
                    assert self._transaction is not None  # IN_DATA is inside a transaction
                    event = replace(event, recipients=tuple(self._transaction.recipients))
                return self._owe(event)
            if piece:
                return MessageData(data=piece)

    def _client_closed(self) -> ConnectionClosed:
        previous = self._state
        self._state = CLOSED
        self._close(previous, mid_body=previous is IN_DATA or self._in_chunk())
        self._buffer.clear()
        assert self._closed_event is not None
        return self._closed_event

    def _command(self, line: bytes) -> Command | _Chunk:
        """One command line to its event, through the checks of ``_rules.STEPS``
        that apply to its verb under this configuration, in their order."""
        split = split_line(line)
        if isinstance(split, RejectedCommand):
            return split
        verb, argument = split
        plan = self._plan
        checks = plan.before[self._state].get(verb)
        if checks is None:
            checks = plan.unknown[self._state]
        for check in checks:
            answer = check(self, verb, argument)
            if answer is not None:
                return answer  # type: ignore[no-any-return]
        event = parse_arguments(verb, argument)
        if type(event) is RejectedCommand:
            return event
        for check in plan.after[verb] if line.isascii() else plan.after_utf8[verb]:
            refusal = check(self, verb, event)
            if refusal is not None:
                return refusal  # type: ignore[no-any-return]
        return event

    def _bdat_command(
        self, argument: str, refusal: RejectedCommand | None = None
    ) -> Command | _Chunk:
        """BDAT size [LAST] (RFC 3030 2). Its octets follow at once, so they are
        read even when the command is refused: they are never taken as commands.

        The octets the engine reads and drops unseen are bounded: those of a
        refused chunk, or those of an accepted one past the SIZE limit, may
        number at most SIZE (MAX_DISCARDED_CHUNK without a limit); a chunk with
        more ends the session with 552 5.3.4 before any of its octets is read.
        A count of up to 20 digits would otherwise hold the session for ever."""
        parsed = parse_bdat(argument)
        if isinstance(parsed, RejectedCommand):
            return refusal or parsed
        size, last = parsed
        if refusal is None and not self._extensions.chunking:
            refusal = _rules.NOT_IMPLEMENTED.refuse("BDAT")
        elif refusal is None and not _state.allowed(self._state, EndOfChunk):
            refusal = _rules.out_of_sequence(self, "BDAT", EndOfChunk)
        limit = self._extensions.size
        if refusal is not None:
            discarded = size
        else:  # an accepted chunk (so inside a transaction): delivered up to the SIZE limit
            assert self._transaction is not None
            discarded = size - max(0, limit - self._transaction.bdat_size) if limit else 0
        if discarded > (limit or MAX_DISCARDED_CHUNK):
            raise RemoteProtocolError(
                f"BDAT chunk of {size} octets: over the limit of what is read unseen",
                _rules.REPLY_CHUNK_TOO_BIG,
            )
        return _Chunk(size, last, refusal)

    # -- sending --------------------------------------------------------------

    def send(self, reply: Reply) -> bytes:
        """The bytes of ``reply``, the answer to the command owed one."""
        if type(reply) is not Reply and not isinstance(reply, Reply):
            raise LocalProtocolError(f"send() takes a Reply, not {type(reply).__name__}")
        command = self._awaiting
        if command is None or self._state is ERROR:
            return self._send_unowed(reply)
        kind = type(command)
        if reply.code in _state.ACCEPT_CODES[kind]:
            outcome: Outcome | None = ACCEPT
            if kind in _VERDICTS:
                self._check_verdict(command, reply.code)
        else:
            outcome = self._refusal(command, reply.code)
        if kind in _HELLO_LIKE:
            data = self._hello_like_bytes(command, reply, outcome)
        else:
            data = reply.to_bytes(self._extensions.enhanced_status_codes)
        if kind is EndOfMessage and outcome is not None:
            transaction = self._transaction
            assert transaction is not None  # the end of data is inside its transaction
            if transaction.replies_owed > 1:
                # RFC 2033 4.2: one reply per accepted recipient; the last moves on.
                transaction.replies_owed -= 1
                return data
        self._awaiting = None
        self._apply(command, outcome)
        return data

    def _check_verdict(self, command: Command, code: int) -> None:
        """A body that broke a rule cannot be accepted: part of it was not delivered."""
        assert isinstance(command, (EndOfMessage, EndOfChunk))
        if command.reply is not None:
            self._fail(f"{code} cannot accept a message that broke a rule: {command.reply}")

    def _hello_like_bytes(self, command: Command, reply: Reply, outcome: Outcome | None) -> bytes:
        """The greeting and the HELO/EHLO replies carry no enhanced code (RFC
        2034 4); an accepted EHLO lists the extensions (RFC 5321 4.1.1.1)."""
        if outcome is ACCEPT:  # a greeting (XCLIENT's too) or a 250 to HELO/EHLO/LHLO
            self._check_server_name(command, reply)
        enhanced = self._extensions.enhanced_status_codes and not _is_hello(command, outcome)
        if isinstance(command, Hello) and command.extended and outcome is ACCEPT:
            return reply.to_bytes(enhanced, self._ehlo_keywords())
        return reply.to_bytes(enhanced)

    def _check_server_name(self, command: Command, reply: Reply) -> None:
        """The 220 greeting and the 250 to HELO/EHLO/LHLO start with the server's
        name: a Domain or an address literal (RFC 5321 4.2 Greeting, 4.1.1.1
        ehlo-ok-rsp). "OK" is a Domain too, so a one-label name must be the
        connection's ``hostname``; a name with a dot, or a literal, may be any."""
        name = reply._server_name()  # cached in the Reply: sending a constant costs one call
        if name and ("." in name or name[0] == "[" or name.lower() == self._hostname.lower()):
            return
        word = reply.lines[0].partition(" ")[0]
        what = "a 250 to HELO/EHLO" if type(command) is Hello else "a 220 greeting"
        section = "4.1.1.1" if type(command) is Hello else "4.2"
        self._fail(
            f"{what} must start with the server's name (RFC 5321 {section}): a domain "
            f"with a dot, an address literal, or the hostname {self._hostname!r}; "
            f"not {word!r}"
        )

    def _send_unowed(self, reply: Reply) -> bytes:
        """A reply when no command is owed one: the last words after a protocol
        error, or a 421 that closes the session."""
        if self._state is ERROR:
            return self._send_final(reply)
        if reply.code in _SESSION_REPLY_CODES and self._state is not CLOSED:
            # RFC 5321 3.8: the server may close with 421 at any time (a
            # timeout, a shutdown), even when no command is waiting.
            data = reply.to_bytes(self._extensions.enhanced_status_codes)
            self._apply(None, None)
            return data
        self._fail("no reply is owed: no command is waiting for one")

    def _ehlo_keywords(self) -> tuple[str, ...]:
        tls_active = self._session.tls_active
        keywords = self._extensions._ehlo_lines[tls_active]
        if self._options.require_tls and not tls_active:
            # RFC 3207 4.2 lets the list differ before TLS: AUTH would only get 530.
            keywords = tuple(line for line in keywords if not line.startswith("AUTH "))
        if self.xclient:
            keywords += ("XCLIENT " + " ".join(XCLIENT_ATTRIBUTES),)
        if self.xforward:
            keywords += ("XFORWARD " + " ".join(XFORWARD_ATTRIBUTES),)
        return keywords

    def _send_final(self, reply: Reply) -> bytes:
        """After a RemoteProtocolError, one closing reply may still go out."""
        if self._remote_error is None or self._final_reply_sent:
            raise LocalProtocolError("the connection is in the ERROR state")
        if reply.code // 100 not in (4, 5):
            raise LocalProtocolError("after a protocol error, only a 4xx or 5xx reply may go out")
        self._final_reply_sent = True
        return reply.to_bytes(self._extensions.enhanced_status_codes)

    def _fail(self, message: str) -> NoReturn:
        self._state = ERROR
        raise LocalProtocolError(message)

    def _owe(self, event: Command) -> Command:
        kind = type(event)
        if kind is RejectedCommand or kind is UnknownCommand:
            self.rejected_count += 1
        elif isinstance(event, EndOfMessage):
            assert self._transaction is not None  # the end of data is inside its transaction
            self._transaction.replies_owed = len(event.recipients)
        self._awaiting = event
        return event

    def _refusal(self, command: Command, code: int) -> Outcome | None:
        """REJECT, or None for a 421 (close), for a code that does not accept
        ``command``; LocalProtocolError for one that cannot answer it (RFC 5321 4.3.2)."""
        if code in _SESSION_REPLY_CODES:
            return None
        if code // 100 in (4, 5) and type(command) not in _state.MUST_ACCEPT:
            if isinstance(command, Greeting) and code not in _state.GREETING_REJECT_CODES:
                self._fail(f"the greeting must be 220, 554 or 421, not {code}")
            return REJECT
        self._fail(f"{code} is not a valid reply to {_describe(command)}")

    def default_reply(self) -> Reply:
        """The conventional answer to the command owed a reply (``awaiting_reply``):
        the engine's suggested reply where the event carries one, else the code
        that accepts the command, with ``hostname`` where a reply names the
        server. Decisions only the application can make are refused: AUTH
        credentials get 535. Nothing is sent and nothing changes: pass the
        result to ``send()``, or answer something else.

        LocalProtocolError when no reply is owed (or in the ERROR state)."""
        command = self._awaiting
        if command is None or self._state is ERROR:
            raise LocalProtocolError(
                "no reply is owed" if command is None else "the connection is in the ERROR state"
            )
        reply = _DEFAULT_REPLIES.get(type(command))
        if reply is not None:
            return reply
        return _DEFAULT_MAKERS[type(command)](self, command)

    def _default_greeting(self, command: Command) -> Reply:
        """The greeting, and XCLIENT's new one (RFC 5321 4.2)."""
        return Reply(220, f"{self._hostname} {'LMTP' if self._options.lmtp else 'ESMTP'}")

    def _default_hello(self, command: Hello) -> Reply:
        """RFC 5321 4.1.1.1: the server's name; EHLO's keyword lines follow in send()."""
        return Reply(250, self._hostname)

    def _default_quit(self, command: Quit) -> Reply:
        return Reply(221, f"{self._hostname} closing connection")

    def _default_suggested(
        self, command: RejectedCommand | UnknownCommand | AuthenticationChallenge
    ) -> Reply:
        return command.reply  # the engine's refusal, or the mechanism's next 334

    def _default_chunk(self, command: EndOfChunk) -> Reply:
        return command.reply or REPLY_DEFAULT_OK

    def _default_end(self, command: EndOfMessage) -> Reply:
        """250, or the suggested rejection of a body that broke a rule; in LMTP
        mode the recipient this reply answers is named (RFC 2033 4.2)."""
        if command.reply is not None:
            return command.reply
        recipients = command.recipients
        if not recipients:
            return REPLY_DEFAULT_OK
        assert self._transaction is not None  # the end of data is inside its transaction
        mailbox = recipients[len(recipients) - self._transaction.replies_owed]
        return Reply(250, f"<{mailbox.address}> OK", "2.0.0")

    def tls_established(self) -> None:
        """The adapter finished the TLS handshake after the 220 to STARTTLS.
        The session starts again and forgets all it learnt (RFC 3207 4.2)."""
        if self._state is not TLS_PENDING:
            raise LocalProtocolError(
                f"tls_established() in state {self._state.name}, not TLS_PENDING"
            )
        self._apply(Handshake(), ACCEPT)

    def _apply(self, command: Command | None, outcome: Outcome | None) -> None:
        """Move along the table and keep the session's bookkeeping."""
        previous = self._state
        if command is None or outcome is None:  # 421: the server closes (RFC 5321 3.8)
            # Only an unsolicited 421 can cut a body off: a reply to the end of a
            # body answers a complete one.
            mid_body = command is None and (previous is IN_DATA or self._in_chunk())
            self._state = CLOSED
            self._close(previous, mid_body)
            return
        state = self._state = _state.next_state(previous, type(command), outcome)
        if state is CLOSED:
            # QUIT inside a transaction abandons it; a reply to the end of a
            # body answers a complete body.
            self._close(previous, mid_body=False)
            return
        learn = _LEARN.get(type(command))
        if learn is not None:
            learn(self, command, outcome is ACCEPT)
        if state is not AUTH_EXCHANGE:
            self._mechanism = None
        if state in _IDLE_STATES and self._transaction is not None:
            # RSET, HELO/EHLO, the reply to the end of the data or to a failed
            # chunk (RFC 5321 4.1.4, RFC 3030 2): the transaction is over.
            self._transaction = None

    def _in_chunk(self) -> bool:
        """Whether the octets of an accepted BDAT chunk are being read."""
        return self._chunk is not None and self._chunk.refusal is None

    def _close(self, previous: State, mid_body: bool) -> None:
        self._closed_event = ConnectionClosed(
            mid_transaction=previous in _TRANSACTION_STATES, mid_body=mid_body
        )
        self._data_reader = None
        self._mechanism = None
        self._chunk = None

    # -- what each answer teaches the session (_LEARN) --------------------------

    def _learn_hello(self, command: Hello, accepted: bool) -> None:
        if accepted:
            self._session.extended = command.extended

    def _learn_mail(self, command: Mail, accepted: bool) -> None:
        if accepted:
            self._transaction = Transaction(command)

    def _learn_rcpt(self, command: Recipient, accepted: bool) -> None:
        transaction = self._transaction
        assert transaction is not None  # RCPT out of sequence is a RejectedCommand
        if accepted:
            transaction.recipients.append(command.forward_path)
        else:
            transaction.rejected_recipients += 1

    def _learn_rejected(self, command: RejectedCommand, accepted: bool) -> None:
        if command.verb == "RCPT" and self._transaction is not None:
            # For the 554 to DATA: no RCPT was accepted (RFC 5321 3.3).
            self._transaction.rejected_recipients += 1

    def _learn_data(self, command: DataStart, accepted: bool) -> None:
        if accepted:
            options = self._options
            self._data_reader = DataReader(
                max_size=self._extensions.size or 0,
                max_line=options.max_text_line,
                bad_line_endings=options.bad_line_endings,
                long_lines=options.long_lines,
            )

    def _learn_end(self, command: EndOfMessage, accepted: bool) -> None:
        self._data_reader = None

    def _learn_starttls(self, command: StartTLS, accepted: bool) -> None:
        if accepted:
            self._buffer.clear()  # plaintext sent ahead of the handshake is never parsed

    def _learn_xclient(self, command: XClient, accepted: bool) -> None:
        if accepted:
            # Postfix: the session starts again as the client XCLIENT names.
            login = command.attributes.get("LOGIN")
            self._session = Session(
                self._session.tls_active,
                login if login and not login.startswith("[") else None,
            )

    def _learn_handshake(self, command: Handshake, accepted: bool) -> None:
        # RFC 3207 4.2: the server discards all it learnt from the client.
        self._session = Session(tls_active=True)

    def _learn_auth(self, command: Authentication, accepted: bool) -> None:
        if accepted:
            self._session.authenticated = command.authorization_id or command.username
        else:
            self.rejected_count += 1  # a failed AUTH counts against the error budget


# What an answer to each kind of command teaches the session (the others teach nothing).
_LEARN: dict[type[Command], Callable[[ServerConnection, Any, bool], None]] = {
    Hello: ServerConnection._learn_hello,
    Mail: ServerConnection._learn_mail,
    Recipient: ServerConnection._learn_rcpt,
    RejectedCommand: ServerConnection._learn_rejected,
    DataStart: ServerConnection._learn_data,
    EndOfMessage: ServerConnection._learn_end,
    StartTLS: ServerConnection._learn_starttls,
    XClient: ServerConnection._learn_xclient,
    Handshake: ServerConnection._learn_handshake,
    Authentication: ServerConnection._learn_auth,
}

# default_reply(): the conventional answers that are the same for every
# connection (RFC 5321 4.2, 4.3.2; RFC 3463 for the enhanced codes)...
REPLY_DEFAULT_OK = Reply(250, "OK")
_DEFAULT_REPLIES: dict[type[Command], Reply] = {
    Mail: Reply(250, "OK", "2.1.0"),
    Recipient: Reply(250, "OK", "2.1.5"),
    DataStart: Reply(354, "Start mail input; end with <CRLF>.<CRLF>"),
    Reset: REPLY_DEFAULT_OK,
    Noop: REPLY_DEFAULT_OK,
    XForward: REPLY_DEFAULT_OK,
    Verify: Reply(252, "Cannot VRFY user, but will accept message and attempt delivery"),
    Expand: Reply(252, "Cannot EXPN list, but will accept message and attempt delivery"),
    Help: Reply(214, "See RFC 5321 for the commands"),
    StartTLS: Reply(220, "Ready to start TLS"),
    # RFC 4954 6: the engine cannot check credentials; only the application may
    # accept them, so the default refuses.
    Authentication: Reply(535, "Authentication credentials invalid", "5.7.8"),
}
# ... and those that depend on the connection or on the event.
_DEFAULT_MAKERS: dict[type[Command], Callable[[ServerConnection, Any], Reply]] = {
    Greeting: ServerConnection._default_greeting,
    XClient: ServerConnection._default_greeting,
    Hello: ServerConnection._default_hello,
    Quit: ServerConnection._default_quit,
    RejectedCommand: ServerConnection._default_suggested,
    UnknownCommand: ServerConnection._default_suggested,
    AuthenticationChallenge: ServerConnection._default_suggested,
    EndOfChunk: ServerConnection._default_chunk,
    EndOfMessage: ServerConnection._default_end,
}
assert set(_DEFAULT_REPLIES) | set(_DEFAULT_MAKERS) == set(_state.ACCEPT_CODES) - {
    _state.EndOfProxyHeader,
    Handshake,
}

# What reads the next input in each state (a reply owed comes first: PAUSED).
_READERS: dict[State, Callable[[ServerConnection], Event | Sentinel]] = {
    State.PROXY_HEADER: ServerConnection._next_proxy_event,
    State.CONNECTED: ServerConnection._next_command_event,  # never: the greeting is owed
    State.REFUSED: ServerConnection._next_command_event,
    State.AWAIT_HELLO: ServerConnection._next_command_event,
    State.READY: ServerConnection._next_command_event,
    State.IN_MAIL: ServerConnection._next_command_event,
    State.HAS_RCPT: ServerConnection._next_command_event,
    State.IN_DATA: ServerConnection._next_body_event,
    State.IN_BDAT: ServerConnection._next_command_event,
    State.AUTH_EXCHANGE: ServerConnection._next_auth_event,
    State.TLS_PENDING: ServerConnection._next_tls_pending,
    State.CLOSED: ServerConnection._next_closed,
    State.ERROR: ServerConnection._next_error,
}
assert set(_READERS) == set(State)


def _is_hello(command: Command, outcome: Outcome | None) -> bool:
    """RFC 2034 4: the greeting and replies to HELO/EHLO carry no enhanced code."""
    if isinstance(command, RejectedCommand):
        return command.verb in ("HELO", "EHLO", "LHLO")  # LHLO: EHLO's LMTP form
    if type(command) is XClient:
        return outcome is ACCEPT  # XCLIENT's 220 is a greeting; a refusal is not
    return type(command) in (Hello, Greeting)


def _describe(command: Command) -> str:
    if isinstance(command, Greeting):
        return "the greeting"
    if isinstance(command, RejectedCommand):
        return f"a rejected command ({command.reason})"
    return type(command).__name__
