"""Events: what the client said, as frozen dataclasses.

Every subclass of ``Command`` is owed exactly one reply through
``ServerConnection.send``; ``MessageData`` and ``ConnectionClosed`` are not.
Text fields are ``str`` decoded strictly (ASCII, or UTF-8 after SMTPUTF8).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._abnf import decode_orcpt, decode_xtext
from ._replies import Reply

__all__ = [
    "Authentication",
    "AuthenticationChallenge",
    "Command",
    "ConnectionClosed",
    "DataStart",
    "EndOfChunk",
    "EndOfMessage",
    "Event",
    "Expand",
    "Hello",
    "Help",
    "Mail",
    "Mailbox",
    "MessageData",
    "Noop",
    "ProxyHeader",
    "Quit",
    "Recipient",
    "Refusal",
    "RejectedCommand",
    "Reset",
    "StartTLS",
    "UnknownCommand",
    "Verify",
    "XClient",
    "XForward",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Mailbox:
    """A parsed path (RFC 5321 4.1.2): ``local_part@domain``.

    ``text`` is the path as the client wrote it, without the angle brackets;
    ``source_route`` holds the obsolete ``@a,@b:`` hops, which the RFC says to
    accept and ignore (4.1.1.3, appendix C). ``domain`` is a domain name or an
    address literal with its brackets (``[192.0.2.1]``). For RCPT TO:<Postmaster>
    the domain is empty.
    """

    local_part: str
    domain: str
    text: str
    source_route: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """``local_part@domain`` (just the local part when there is no domain)."""
        return f"{self.local_part}@{self.domain}" if self.domain else self.local_part

    def __str__(self) -> str:
        return self.address


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of all events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Event):
    """A client command: the application owes it exactly one reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Command):
    """HELO (``extended=False``) or EHLO (``extended=True``).

    Accepting it (250) clears any transaction (RFC 5321 4.1.4). For EHLO, the
    connection appends the enabled extensions to the application's 250 text.
    """

    domain: str
    extended: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Mail(Command):
    """MAIL FROM. ``reverse_path`` is None for the null path ``<>``.

    ``params`` maps upper-cased ESMTP keywords to their values (None for a keyword
    without ``=value``); every parameter in it has already been checked.
    """

    reverse_path: Mailbox | None
    params: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def size(self) -> int | None:
        """The SIZE= parameter (RFC 1870) as an int, or None."""
        value = self.params.get("SIZE")
        return int(value) if value is not None else None

    @property
    def smtputf8(self) -> bool:
        """Whether the client asked for SMTPUTF8 (RFC 6531)."""
        return "SMTPUTF8" in self.params

    @property
    def body(self) -> str | None:
        """The BODY= parameter upper-cased (7BIT, 8BITMIME, BINARYMIME), or None."""
        value = self.params.get("BODY")
        return value.upper() if value is not None else None

    @property
    def ret(self) -> str | None:
        """DSN RET= (RFC 3461 4.3): "FULL" or "HDRS", or None."""
        value = self.params.get("RET")
        return value.upper() if value is not None else None

    @property
    def envid(self) -> str | None:
        """DSN ENVID= (RFC 3461 4.4), xtext-decoded, or None."""
        value = self.params.get("ENVID")
        return decode_xtext(value) if value is not None else None

    @property
    def requiretls(self) -> bool:
        """Whether the client asked for REQUIRETLS handling (RFC 8689 4.1)."""
        return "REQUIRETLS" in self.params

    @property
    def mt_priority(self) -> int | None:
        """MT-PRIORITY= (RFC 6710), from -9 to 9, or None."""
        value = self.params.get("MT-PRIORITY")
        return int(value) if value is not None else None

    @property
    def auth(self) -> str | None:
        """The AUTH= parameter (RFC 4954 5), xtext-decoded: the identity that
        submitted the message, "<>" for unknown, or None when absent. It is
        only a claim: unless the client authenticated and is trusted to make
        it, treat it as "<>"."""
        value = self.params.get("AUTH")
        return decode_xtext(value) if value is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient(Command):
    """RCPT TO. Accepting it with 250 or 251 adds a recipient."""

    forward_path: Mailbox
    params: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def notify(self) -> tuple[str, ...] | None:
        """DSN NOTIFY= (RFC 3461 4.1): ("NEVER",) or some of SUCCESS, FAILURE,
        DELAY, upper-cased; None when absent."""
        value = self.params.get("NOTIFY")
        return tuple(value.upper().split(",")) if value is not None else None

    @property
    def orcpt(self) -> tuple[str, str] | None:
        """DSN ORCPT= (RFC 3461 4.2): (address type, decoded address), or None.

        The address is xtext-decoded, its octets read as UTF-8, and for the
        ``utf-8`` address type its ``\\x{HEX}`` escapes replaced (RFC 6533 3).
        None also when ORCPT was given but does not decode to printable text
        (octets that are not UTF-8, a control character, a broken escape):
        the recipient is still accepted, and ``params["ORCPT"]`` keeps the
        value as the client sent it, for a DSN to copy unaltered."""
        value = self.params.get("ORCPT")
        if value is None:
            return None
        address_type, _, address = value.partition(";")
        decoded = decode_orcpt(address_type, address)
        return None if decoded is None else (address_type, decoded)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataStart(Command):
    """DATA. Accept with 354 to start the body."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData(Event):
    """A piece of the message body, dot-unstuffed. Owed no reply."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfMessage(Command):
    """The end of the body (CRLF . CRLF after DATA, or the end of BDAT LAST).

    ``size`` counts the body octets after dot-unstuffing. When the body broke a
    rule, a flag says which and ``reply`` is the suggested rejection; the
    connection then refuses a 2xx answer, because part of the body was not
    delivered. The transaction ends whatever the answer.

    In LMTP mode ``recipients`` lists the accepted recipients in order, and
    each is owed its own reply (RFC 2033 4.2): call ``send`` once per recipient.
    """

    size: int
    oversized: bool = False
    bad_line_endings: bool = False
    long_lines: bool = False
    reply: Reply | None = None
    recipients: tuple[Mailbox, ...] = ()

    @property
    def acceptable(self) -> bool:
        """True when the body broke no rule and may be accepted."""
        return self.reply is None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfChunk(Command):
    """A BDAT chunk that is not the last one has arrived (RFC 3030 2); its
    octets came as MessageData. Answer 250, or a 4xx/5xx that fails the
    transaction. ``reply`` is set when the chunk broke the SIZE limit; the
    connection then refuses a 2xx."""

    size: int
    reply: Reply | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reset(Command):
    """RSET: answer 250; the transaction is cleared (RFC 5321 4.1.1.5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop(Command):
    """NOOP, with its optional (ignored) argument: answer 250."""

    argument: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit(Command):
    """QUIT: answer 221, then close."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verify(Command):
    """VRFY: 250/251/252, or 550/551/553 (RFC 5321 3.5, 7.3)."""

    argument: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Expand(Command):
    """EXPN (only when enabled): 250/252, or 550 and friends."""

    argument: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Help(Command):
    """HELP (only when enabled): 211 or 214."""

    argument: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLS(Command):
    """STARTTLS (RFC 3207). Answer 220 and start the TLS handshake, then call
    ``tls_established()``; or 454 to stay in plaintext."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationChallenge(Command):
    """The SASL mechanism needs another response from the client (RFC 4954 4).

    ``reply`` is the 334 with the base64 challenge; send it (or a 4xx/5xx to
    end the exchange). This is the engine's half of the AUTH dialogue, handed
    to the application so that every reply still goes through ``send``.
    """

    mechanism: str
    challenge: bytes
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class Authentication(Command):
    """The client finished a SASL exchange: check the credentials and answer
    235 (authenticated), or 535 (bad credentials), 454, 534...

    ``username`` is the authentication identity and ``authorization_id`` the
    identity to act as (empty: the same). A 235 grants both, and
    ``ServerConnection.authenticated`` then names the authorization identity:
    refuse (535) a user who may not act as it (RFC 4616 2). PLAIN and LOGIN carry ``password``;
    CRAM-MD5 carries ``challenge`` and ``digest``; ``check_password`` works for
    all three. Mechanisms added by the application may use ``extra``.
    """

    mechanism: str
    username: str
    authorization_id: str = ""
    password: str | None = field(default=None, repr=False)
    challenge: bytes | None = None
    digest: str | None = field(default=None, repr=False)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def check_password(self, password: str) -> bool:
        """Whether the client proved it knows ``password``, in constant time."""
        if self.password is not None:
            return hmac.compare_digest(self.password.encode(), password.encode())
        if self.challenge is not None and self.digest is not None:
            expected = hmac.new(password.encode(), self.challenge, hashlib.md5).hexdigest()
            return hmac.compare_digest(expected, self.digest)
        raise ValueError(f"{self.mechanism} carries no password proof to check")


@dataclass(frozen=True, slots=True, kw_only=True)
class XClient(Command):
    """Postfix XCLIENT from a trusted client: it speaks for the real client.
    ``attributes`` maps upper-cased names (NAME, ADDR, PORT, PROTO, HELO, LOGIN,
    DESTADDR, DESTPORT) to xtext-decoded values. Accept with a new 220 greeting:
    the session starts again."""

    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class XForward(Command):
    """Postfix XFORWARD from a trusted client: attributes (NAME, ADDR, PORT,
    PROTO, HELO, IDENT, SOURCE) for the next transaction. Accept with 250."""

    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyHeader(Event):
    """The PROXY protocol header (HAProxy v1 or v2) a load balancer sent before
    the session. Owed no reply; the greeting is owed next.

    ``command`` is "PROXY" or "LOCAL" (a health check: use the real peer);
    ``protocol`` is TCP4, TCP6, UDP4, UDP6, UNIX_STREAM, UNIX_DGRAM, UNKNOWN or
    UNSPEC (no address given). ``tlvs`` holds version 2 type-length-values.
    """

    version: int
    command: str
    protocol: str
    source_address: str | None = None
    source_port: int | None = None
    destination_address: str | None = None
    destination_port: int | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()


class Refusal(str, enum.Enum):
    """Why the engine refused a command: a stable code for the application to
    match instead of the reply text (``RejectedCommand.refusal``).

    docs/api.md lists the reply each one suggests; the precedence table in
    docs/state-diagram.md says which check gives which code, in which order.
    """

    __hash__ = object.__hash__  # see State: members are singletons

    LINE_TOO_LONG = "LINE_TOO_LONG"  # 500 (RFC 5321 4.5.3.1.4; RFC 4954 4)
    BAD_LINE_ENDING = "BAD_LINE_ENDING"  # 500: a bare CR or LF (RFC 5321 2.3.8)
    INVALID_UTF8 = "INVALID_UTF8"  # 500: neither ASCII nor UTF-8
    SYNTAX = "SYNTAX"  # 501: the verb's arguments (RFC 5321 4.1.1, 4.1.2)
    INVALID_PARAMETER = "INVALID_PARAMETER"  # 501: a MAIL/RCPT parameter's form or value
    UNKNOWN_PARAMETER = "UNKNOWN_PARAMETER"  # 555 (RFC 5321 4.1.1.11)
    MESSAGE_TOO_BIG = "MESSAGE_TOO_BIG"  # 552: SIZE= over the limit (RFC 1870 6.1)
    NO_SERVICE = "NO_SERVICE"  # 503 after a 554 greeting (RFC 5321 3.1)
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"  # 500 (UnknownCommand, RFC 5321 4.2.4)
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"  # 502: an extension's verb not offered
    USE_LHLO = "USE_LHLO"  # 500: HELO/EHLO to an LMTP server (RFC 2033 4.1)
    NOT_AUTHORIZED = "NOT_AUTHORIZED"  # 550: XCLIENT/XFORWARD not allowed
    NEED_HELLO = "NEED_HELLO"  # 503: no HELO/EHLO yet (RFC 5321 4.1.4)
    NEED_EHLO = "NEED_EHLO"  # 503: AUTH after HELO (RFC 4954 4)
    OUT_OF_SEQUENCE = "OUT_OF_SEQUENCE"  # 503 (RFC 5321 4.1.4)
    NO_VALID_RECIPIENTS = "NO_VALID_RECIPIENTS"  # 554: DATA after every RCPT failed (3.3)
    TLS_REQUIRED = "TLS_REQUIRED"  # 530 (RFC 3207 4)
    AUTH_REQUIRED = "AUTH_REQUIRED"  # 530 (RFC 4954 6)
    TOO_MANY_RECIPIENTS = "TOO_MANY_RECIPIENTS"  # 452 (RFC 5321 4.5.3.1.10)
    NEEDS_SMTPUTF8 = "NEEDS_SMTPUTF8"  # 550/553/501: non-ASCII text (RFC 6531 3.5)
    UNKNOWN_MECHANISM = "UNKNOWN_MECHANISM"  # 504 (RFC 4954 4)
    ENCRYPTION_REQUIRED = "ENCRYPTION_REQUIRED"  # 538: a plaintext mechanism (RFC 4954 6)
    AUTH_CANCELLED = "AUTH_CANCELLED"  # 501: "*" (RFC 4954 4)
    BAD_AUTH_RESPONSE = "BAD_AUTH_RESPONSE"  # 501, or a mechanism's SaslError code


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownCommand(Command):
    """A verb the connection does not know. ``reply`` is the suggested 500;
    ``refusal`` is always ``Refusal.UNKNOWN_COMMAND``."""

    verb: str
    argument: str
    reply: Reply
    refusal: Refusal = Refusal.UNKNOWN_COMMAND


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedCommand(Command):
    """A command the connection refused by itself (syntax, sequence, limits).

    Answer with ``reply`` or another 4xx/5xx; the state does not change.
    ``verb`` is the upper-cased verb (empty when the line had none),
    ``reason`` the reply's text and ``refusal`` the stable code for it.
    """

    verb: str
    reason: str
    reply: Reply
    refusal: Refusal


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The session is over: the client closed, or a closing reply was sent.

    ``mid_transaction`` says a mail transaction was open (its body, if any was
    streamed, is incomplete and must be dropped); ``mid_body`` says the close came
    inside the message body.
    """

    mid_transaction: bool = False
    mid_body: bool = False
