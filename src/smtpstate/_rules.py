"""What each command gets before the application sees it: the verb sets and
the engine's checks, in the order it makes them. The rest of the state
machine's rules (``_state.py`` holds the transition table).

``STEPS`` is the ordered list. A command line goes through it from the top,
and the first step that gives an answer decides: a refusal (``RejectedCommand``
with a ``Refusal`` code and a suggested reply), an ``UnknownCommand``, the
event itself (AUTH, XCLIENT, XFORWARD, BDAT), or the end of the session
(``RemoteProtocolError``). Each step names the verbs it concerns and, when it
can only fire under some configuration, when that is; each ``Rule`` it can
give names its reply, enhanced code, ``Refusal``, RFC section and reason.

The phases: "line" steps run before the verb is known (``_connection`` and
``_commands.split_line`` enforce them; they are listed for the table),
"command" steps before the arguments are parsed, "argument" steps on the
parsed event.

Under "TLS required", MAIL before EHLO gets 503 (the sequence step) and after
EHLO 530 (the TLS step, later in the list): docs/state-diagram.md shows the
whole order as its precedence table, generated from ``STEPS``.

A connection does not walk ``STEPS`` itself: ``plan()`` keeps, per verb, the
steps that can fire under one configuration, in order, once per ``Options``
and ``Extensions`` pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _auth, _state
from ._commands import (
    KNOWN_VERBS,
    XCLIENT_ATTRIBUTES,
    XFORWARD_ATTRIBUTES,
    parse_attributes,
    parse_bdat,
)
from ._errors import RemoteProtocolError
from ._events import (
    AuthenticationChallenge,
    Command,
    DataStart,
    EndOfChunk,
    Expand,
    Hello,
    Help,
    Mail,
    Noop,
    Quit,
    Recipient,
    Refusal,
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
from ._replies import Reply
from ._state import State

if TYPE_CHECKING:
    from ._connection import ServerConnection

__all__ = ["STEPS", "Plan", "Rule", "Step", "plan"]

# Plain globals for the checks (see _connection: enum attribute reads are slow).
REFUSED = State.REFUSED
AWAIT_HELLO = State.AWAIT_HELLO
IN_MAIL = State.IN_MAIL
IN_SEQUENCE = _state.IN_SEQUENCE

# -- the verb sets -------------------------------------------------------------

# The event class each verb becomes, for the sequence check before parsing.
VERB_EVENTS: dict[str, type[Command]] = {
    "HELO": Hello,
    "EHLO": Hello,
    "LHLO": Hello,  # LMTP's EHLO (RFC 2033 4.1), known only under Options(lmtp=True)
    "BDAT": EndOfChunk,  # or EndOfMessage for BDAT LAST: same states
    "XCLIENT": XClient,
    "XFORWARD": XForward,
    "MAIL": Mail,
    "RCPT": Recipient,
    "DATA": DataStart,
    "RSET": Reset,
    "NOOP": Noop,
    "QUIT": Quit,
    "VRFY": Verify,
    "EXPN": Expand,
    "HELP": Help,
    "STARTTLS": StartTLS,
    "AUTH": AuthenticationChallenge,  # or Authentication: both are in sequence in the same states
}
assert set(VERB_EVENTS) == KNOWN_VERBS

# Lines that show an HTTP client (or a proxy abuser) at the SMTP port.
HTTP_VERBS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "HOST:"}
)
# RFC 2920 3.1: commands that must end a group, whose input must not run ahead
# (RFC 3207 4 adds STARTTLS; AUTH is judged by its outcome, RFC 4954 4). LHLO
# is LMTP's EHLO, and XCLIENT is answered by a new greeting.
GROUP_ENDERS = frozenset(
    {"EHLO", "HELO", "LHLO", "DATA", "VRFY", "EXPN", "NOOP", "HELP", "QUIT", "STARTTLS", "XCLIENT"}
)
# The optional verbs, and the extension that offers each (502 otherwise).
OPTIONAL_VERBS: dict[str, Callable[[Extensions], bool]] = {
    "HELP": lambda ext: ext.help,
    "EXPN": lambda ext: ext.expn,
    "STARTTLS": lambda ext: ext.starttls,
    "AUTH": lambda ext: bool(ext.auth),
}
# RFC 3207 4: under "TLS required", 530 to every command but NOOP, EHLO,
# STARTTLS and QUIT. HELO and RSET still work (RSET must, RFC 5321 4.1.1.5);
# RCPT and DATA cannot come before an accepted MAIL.
NEED_TLS = frozenset({"MAIL", "AUTH", "VRFY", "EXPN", "HELP"})
# RFC 4954 6: under "authentication required", 530 to every command but AUTH,
# EHLO, HELO, NOOP, RSET and QUIT (and STARTTLS, which may have to come first).
NEED_AUTH = frozenset({"MAIL", "VRFY", "EXPN", "HELP"})

# -- rules and steps -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One answer the engine gives by itself, as a row of the precedence table."""

    looks_at: str  # what decides it, in words
    code: int
    enhanced: str  # "" when the code varies with the verb (see text)
    refusal: Refusal | None  # None: the session ends (RemoteProtocolError)
    rfc: str
    text: str  # the reply text (or a description of it)

    def refuse(self, verb: str, text: str | None = None) -> RejectedCommand:
        """The refusal of ``verb`` by this rule (with another ``text`` if given)."""
        text = self.text if text is None else text
        assert self.refusal is not None
        return RejectedCommand(
            verb=verb,
            reason=text,
            reply=Reply(self.code, text, self.enhanced),
            refusal=self.refusal,
        )


def _always(state: State, verb: str, options: Options, extensions: Extensions) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Step:
    """A check in the order: the verbs it concerns, when it can fire, and the rules it gives."""

    phase: str  # "line", "command" or "argument"
    verbs: frozenset[str] | None  # None: every verb (an unknown one too)
    rules: tuple[Rule, ...]
    check: Callable[..., Any] | None = None  # None: enforced elsewhere (see ``where``)
    applies: Callable[[State, str, Options, Extensions], bool] = _always
    when: str = ""  # when it applies, for the table
    where: str = ""  # who enforces a step without a check
    unknown_verbs: bool = False  # whether verbs the engine does not know go through it

    @property
    def checked_by(self) -> str:
        return self.check.__name__ if self.check is not None else self.where


# -- phase "line": before the verb is known ------------------------------------

TOO_MANY_ERRORS = Rule(
    "rejected_count reached Options.max_errors",
    421,
    "4.7.0",
    None,
    "RFC 5321 3.8",
    "Too many errors, closing connection",
)
LINE_TOO_LONG = Rule(
    "line length over max_command_line (+ the room of MAIL/RCPT parameters)",
    500,
    "5.5.2",
    Refusal.LINE_TOO_LONG,
    "RFC 5321 4.5.3.1.4",
    "Line too long",
)
BARE_CR_LF = Rule(
    "a CR or LF inside the line",
    500,
    "5.5.2",
    Refusal.BAD_LINE_ENDING,
    "RFC 5321 2.3.8",
    "Bare CR or LF in command line",
)
NOT_UTF8 = Rule(
    "octets that are neither ASCII nor UTF-8",
    500,
    "5.5.2",
    Refusal.INVALID_UTF8,
    "RFC 6531 3.3",
    "Command line is not valid UTF-8",
)
CONTROL_CHARACTER = Rule(
    "a control character (TAB included)",
    501,
    "5.5.2",
    Refusal.SYNTAX,
    "RFC 5321 4.1.2",
    "Control character in command line",
)

# -- phase "command": the verb is known, the arguments not yet parsed ----------

HTTP_REQUEST = Rule(
    "an HTTP request line",
    421,
    "4.7.0",
    None,
    "RFC 5321 3.8",
    "This is an SMTP server, not HTTP; closing connection",
)
EARLY_INPUT = Rule(
    "input after a group-ending command, or any pipelining without PIPELINING",
    554,
    "5.5.0",
    None,
    "RFC 2920 3.1",
    "Improper use of SMTP command pipelining",
)
NO_SERVICE = Rule(
    "state REFUSED (554 greeting)",
    503,
    "5.5.1",
    Refusal.NO_SERVICE,
    "RFC 5321 3.1",
    "No SMTP service here; only QUIT is allowed",
)
UNKNOWN = Rule(
    "a verb the engine does not know (LHLO without Options.lmtp)",
    500,
    "5.5.1",
    Refusal.UNKNOWN_COMMAND,
    "RFC 5321 4.2.4",
    "Command not recognized",
)
NOT_IMPLEMENTED = Rule(
    "the extension is not in Extensions (help, expn, starttls, auth, chunking)",
    502,
    "5.5.1",
    Refusal.NOT_IMPLEMENTED,
    "RFC 5321 4.2.4",
    "Command not implemented",
)
BDAT_SYNTAX = Rule(
    "BDAT's argument", 501, "5.5.4", Refusal.SYNTAX, "RFC 3030 2", "Syntax: BDAT chunk-size [LAST]"
)
BDAT_TOO_BIG = Rule(
    "a chunk whose unread octets would exceed SIZE (32 MiB without SIZE)",
    552,
    "5.3.4",
    None,
    "RFC 3030 2",
    "BDAT chunk too big to read, closing connection",
)
USE_LHLO = Rule(
    "Options.lmtp",
    500,
    "5.5.1",
    Refusal.USE_LHLO,
    "RFC 2033 4.1",
    "This is an LMTP server: use LHLO",
)
NOT_AUTHORIZED = Rule(
    "ServerConnection.xclient / .xforward off",
    550,
    "5.7.0",
    Refusal.NOT_AUTHORIZED,
    "Postfix XCLIENT_README",
    "Insufficient authorization",
)
TLS_ACTIVE = Rule(
    "TLS already active",
    503,
    "5.5.1",
    Refusal.OUT_OF_SEQUENCE,
    "RFC 3207 4",
    "TLS is already active",
)
NEED_HELLO = Rule(
    "state AWAIT_HELLO: no accepting row in TRANSITIONS",
    503,
    "5.5.1",
    Refusal.NEED_HELLO,
    "RFC 5321 4.1.4",
    "Send HELO or EHLO first",
)
NO_VALID_RECIPIENTS = Rule(
    "DATA in IN_MAIL after every RCPT was refused",
    554,
    "5.5.1",
    Refusal.NO_VALID_RECIPIENTS,
    "RFC 5321 3.3",
    "No valid recipients",
)
OUT_OF_SEQUENCE = Rule(
    "no accepting row in TRANSITIONS for the state",
    503,
    "5.5.1",
    Refusal.OUT_OF_SEQUENCE,
    "RFC 5321 4.1.4",
    "Nested MAIL command, Need MAIL before RCPT, ... (_state.sequence_error)",
)
TLS_REQUIRED = Rule(
    "TLS not active",
    530,
    "5.7.0",
    Refusal.TLS_REQUIRED,
    "RFC 3207 4",
    "Must issue a STARTTLS command first",
)
AUTH_NEEDS_EHLO = Rule(
    "the session said HELO, or nothing",
    503,
    "5.5.1",
    Refusal.NEED_EHLO,
    "RFC 4954 4",
    "Send EHLO first",
)
AUTH_TWICE = Rule(
    "AUTH already succeeded",
    503,
    "5.5.1",
    Refusal.OUT_OF_SEQUENCE,
    "RFC 4954 4",
    "Already authenticated",
)
AUTH_SYNTAX = Rule(
    "AUTH's argument",
    501,
    "5.5.4",
    Refusal.SYNTAX,
    "RFC 4954 4",
    "Syntax: AUTH mechanism [initial-response]",
)
AUTH_MECHANISM = Rule(
    "a mechanism not in Extensions.auth",
    504,
    "5.5.4",
    Refusal.UNKNOWN_MECHANISM,
    "RFC 4954 4",
    "Unrecognized authentication type",
)
AUTH_ENCRYPTION = Rule(
    "a plaintext mechanism without TLS (unless auth_without_tls)",
    538,
    "5.7.11",
    Refusal.ENCRYPTION_REQUIRED,
    "RFC 4954 6",
    "Encryption required for requested authentication mechanism",
)
AUTH_RESPONSE = Rule(
    "the initial response (a SaslError sets its own code)",
    501,
    "5.5.2",
    Refusal.BAD_AUTH_RESPONSE,
    "RFC 4954 4",
    "Invalid base64 data, ...",
)
ATTRIBUTES = Rule(
    "XCLIENT/XFORWARD name=value pairs",
    501,
    "5.5.4",
    Refusal.SYNTAX,
    "Postfix XCLIENT_README",
    "Bad XCLIENT attribute ...",
)
AUTH_REQUIRED = Rule(
    "no successful AUTH",
    530,
    "5.7.0",
    Refusal.AUTH_REQUIRED,
    "RFC 4954 6",
    "Authentication required",
)
ARGUMENT_SYNTAX = Rule(
    "the arguments (_commands.parse_arguments)",
    501,
    "",
    Refusal.SYNTAX,
    "RFC 5321 4.1.1, 4.1.2",
    "Syntax: MAIL FROM:<address>, ...",
)

# -- phase "argument": the parsed event ----------------------------------------

PARAMS_NEED_EHLO = Rule(
    "parameters after HELO",
    555,
    "5.5.4",
    Refusal.UNKNOWN_PARAMETER,
    "RFC 5321 4.1.1.11",
    "MAIL parameters need EHLO",
)
PARAMS = Rule(
    "each parameter against Extensions (unknown 555, bad value 501, SIZE 552)",
    555,
    "5.5.4",
    Refusal.UNKNOWN_PARAMETER,
    "RFC 5321 4.1.1.11; RFC 1870 6.1",
    "Unsupported parameter ...",
)
SENDER_UTF8 = Rule(
    "a non-ASCII line without SMTPUTF8",
    550,
    "5.6.7",
    Refusal.NEEDS_SMTPUTF8,
    "RFC 6531 3.5",
    "Non-ASCII address needs SMTPUTF8",
)
RECIPIENT_UTF8 = Rule(
    "a non-ASCII line in a transaction without SMTPUTF8",
    553,
    "5.6.7",
    Refusal.NEEDS_SMTPUTF8,
    "RFC 6531 3.5",
    "Non-ASCII address needs SMTPUTF8",
)
TOO_MANY_RECIPIENTS = Rule(
    "recipients accepted reached Options.max_recipients",
    452,
    "4.5.3",
    Refusal.TOO_MANY_RECIPIENTS,
    "RFC 5321 4.5.3.1.10",
    "Too many recipients",
)
BINARYMIME_DATA = Rule(
    "MAIL had BODY=BINARYMIME",
    503,
    "5.5.1",
    Refusal.OUT_OF_SEQUENCE,
    "RFC 3030 3",
    "BODY=BINARYMIME requires BDAT",
)
TEXT_UTF8 = Rule(
    "a non-ASCII line when SMTPUTF8 is not offered",
    501,
    "5.5.2",
    Refusal.NEEDS_SMTPUTF8,
    "RFC 6531 3.5",
    "Non-ASCII characters need SMTPUTF8",
)


# -- the checks ------------------------------------------------------------------
# "command" checks: (conn, verb, argument) -> an answer, or None to go on.


def http_request(conn: ServerConnection, verb: str, argument: str) -> None:
    if verb in HTTP_VERBS:
        raise RemoteProtocolError(f"HTTP request line at the SMTP port: {verb}", REPLY_HTTP)


def early_input(conn: ServerConnection, verb: str, argument: str) -> None:
    if len(conn._buffer) > _chunk_size(verb, argument) and (
        verb in GROUP_ENDERS or not (conn._session.extended and conn._extensions.pipelining)
    ):
        # The client sent ahead where it must wait for a reply.
        raise RemoteProtocolError(f"input sent ahead of the reply to {verb}", REPLY_EARLY_INPUT)


def no_service(conn: ServerConnection, verb: str, argument: str) -> Any:
    refusal = NO_SERVICE.refuse(verb)  # in the plan of state REFUSED only
    # A BDAT's octets are read (and dropped) all the same.
    return conn._bdat_command(argument, refusal) if verb == "BDAT" else refusal


def unknown_command(conn: ServerConnection, verb: str, argument: str) -> Command:
    return UnknownCommand(verb=verb, argument=argument, reply=REPLY_UNKNOWN)


def not_implemented(conn: ServerConnection, verb: str, argument: str) -> Command:
    return NOT_IMPLEMENTED.refuse(verb)  # in the plan only when the extension is off


def bdat(conn: ServerConnection, verb: str, argument: str) -> Any:
    return conn._bdat_command(argument)  # its rows: BDAT_SYNTAX ... BDAT_TOO_BIG


def use_lhlo(conn: ServerConnection, verb: str, argument: str) -> Command:
    return USE_LHLO.refuse(verb)  # in the plan only under Options(lmtp=True)


def not_authorized(conn: ServerConnection, verb: str, argument: str) -> Command | None:
    if (verb == "XCLIENT" and not conn.xclient) or (verb == "XFORWARD" and not conn.xforward):
        return NOT_AUTHORIZED.refuse(verb)
    return None


def tls_active(conn: ServerConnection, verb: str, argument: str) -> Command | None:
    return TLS_ACTIVE.refuse(verb) if conn._session.tls_active else None


def in_sequence(conn: ServerConnection, verb: str, argument: str) -> Command:
    # In the plan only of the states where TRANSITIONS has no accepting row.
    return out_of_sequence(conn, verb, VERB_EVENTS[verb])


def out_of_sequence(
    conn: ServerConnection, verb: str, command_type: type[Command]
) -> RejectedCommand:
    state = conn._state
    if state is AWAIT_HELLO:
        return NEED_HELLO.refuse(verb)
    transaction = conn._transaction
    if (
        command_type is DataStart
        and state is IN_MAIL
        and transaction is not None
        and transaction.rejected_recipients
    ):
        # RFC 5321 3.3: 554 only when every RCPT was refused; between BDAT
        # chunks (some recipient accepted) DATA is out of sequence (RFC 3030 2).
        return NO_VALID_RECIPIENTS.refuse(verb)
    return OUT_OF_SEQUENCE.refuse(verb, _state.sequence_error(state, command_type))


def tls_required(conn: ServerConnection, verb: str, argument: str) -> Command | None:
    return None if conn._session.tls_active else TLS_REQUIRED.refuse(verb)


def auth(conn: ServerConnection, verb: str, argument: str) -> Command:
    """AUTH: only after EHLO and once per session, then the mechanism's first step."""
    session = conn._session
    if not session.extended:
        return AUTH_NEEDS_EHLO.refuse(verb)
    if session.authenticated is not None:
        return AUTH_TWICE.refuse(verb)
    event, conn._mechanism = _auth.start(
        argument, conn._extensions, session.tls_active, conn._hostname
    )
    if (
        conn._options.strict_pipelining
        and len(conn._buffer)
        and type(event) is AuthenticationChallenge
    ):
        # RFC 4954 4: AUTH ends a group unless it completes in one round trip.
        raise RemoteProtocolError("input sent ahead of a 334 challenge", REPLY_EARLY_INPUT)
    return event


def attributes(conn: ServerConnection, verb: str, argument: str) -> Command:
    """XCLIENT and XFORWARD name=value pairs."""
    names = XCLIENT_ATTRIBUTES if verb == "XCLIENT" else XFORWARD_ATTRIBUTES
    parsed = parse_attributes(verb, argument, names)
    if isinstance(parsed, RejectedCommand):
        return parsed
    if verb == "XCLIENT":
        return XClient(attributes=parsed)
    return XForward(attributes=parsed)


def auth_required(conn: ServerConnection, verb: str, argument: str) -> Command | None:
    return AUTH_REQUIRED.refuse(verb) if conn._session.authenticated is None else None


# "argument" checks: (conn, verb, event) -> a refusal, or None. The ``_utf8``
# variants run instead for a line that is not ASCII.


def mail_params(conn: ServerConnection, verb: str, event: Mail) -> RejectedCommand | None:
    if event.params:
        session = conn._session
        if not session.extended:
            return PARAMS_NEED_EHLO.refuse(verb)
        return conn._extensions.check_mail_params(event.params, session.tls_active)
    return None


def mail_utf8(conn: ServerConnection, verb: str, event: Mail) -> RejectedCommand | None:
    return mail_params(conn, verb, event) or (None if event.smtputf8 else SENDER_UTF8.refuse(verb))


def rcpt_params(conn: ServerConnection, verb: str, event: Recipient) -> RejectedCommand | None:
    if event.params:
        if not conn._session.extended:
            return PARAMS_NEED_EHLO.refuse(verb, "RCPT parameters need EHLO")
        return conn._extensions.check_rcpt_params(event.params)
    return None


def rcpt_utf8(conn: ServerConnection, verb: str, event: Recipient) -> RejectedCommand | None:
    # The argument checks run only where RCPT is in sequence: inside a transaction.
    transaction = conn._transaction
    return rcpt_params(conn, verb, event) or (
        None if transaction is not None and transaction.smtputf8 else RECIPIENT_UTF8.refuse(verb)
    )


def recipient_limit(conn: ServerConnection, verb: str, event: Recipient) -> RejectedCommand | None:
    transaction = conn._transaction
    if transaction is not None and len(transaction.recipients) >= conn._options.max_recipients:
        return TOO_MANY_RECIPIENTS.refuse(verb)
    return None


def binarymime_data(conn: ServerConnection, verb: str, event: DataStart) -> RejectedCommand | None:
    transaction = conn._transaction
    if transaction is not None and transaction.binarymime:
        return BINARYMIME_DATA.refuse(verb)
    return None


def text_utf8(conn: ServerConnection, verb: str, event: Command) -> RejectedCommand | None:
    return TEXT_UTF8.refuse(verb)  # in the plan only when SMTPUTF8 is not offered


# -- the order -----------------------------------------------------------------

_ANY = None
_MAIL, _RCPT, _DATA = frozenset({"MAIL"}), frozenset({"RCPT"}), frozenset({"DATA"})

STEPS: tuple[Step, ...] = (
    Step("line", _ANY, (TOO_MANY_ERRORS,), where="ServerConnection._next_command_event"),
    Step("line", _ANY, (LINE_TOO_LONG,), where="ServerConnection._next_command_event"),
    Step("line", _ANY, (BARE_CR_LF, NOT_UTF8, CONTROL_CHARACTER), where="_commands.split_line"),
    Step("command", HTTP_VERBS, (HTTP_REQUEST,), http_request, unknown_verbs=True),
    Step(
        "command",
        _ANY,
        (EARLY_INPUT,),
        early_input,
        lambda state, verb, options, ext: options.strict_pipelining,
        "Options.strict_pipelining",
        unknown_verbs=True,
    ),
    Step(
        "command",
        _ANY,
        (NO_SERVICE,),
        no_service,
        lambda state, verb, options, ext: state is REFUSED and verb != "QUIT",
        "state REFUSED",
        unknown_verbs=True,
    ),
    Step("command", frozenset(), (UNKNOWN,), unknown_command, unknown_verbs=True),
    Step(
        "command",
        frozenset(OPTIONAL_VERBS),
        (NOT_IMPLEMENTED,),
        not_implemented,
        lambda state, verb, options, ext: not OPTIONAL_VERBS[verb](ext),
        "the extension is off",
    ),
    Step(
        "command",
        frozenset({"BDAT"}),
        (BDAT_SYNTAX, NOT_IMPLEMENTED, OUT_OF_SEQUENCE, BDAT_TOO_BIG),
        bdat,
        when="its octets are read whatever the answer",
    ),
    Step(
        "command",
        frozenset({"HELO", "EHLO"}),
        (USE_LHLO,),
        use_lhlo,
        lambda state, verb, options, ext: options.lmtp,
        "Options.lmtp",
    ),
    Step("command", frozenset({"XCLIENT", "XFORWARD"}), (NOT_AUTHORIZED,), not_authorized),
    Step("command", frozenset({"STARTTLS"}), (TLS_ACTIVE,), tls_active),
    Step(
        "command",
        KNOWN_VERBS,
        (NEED_HELLO, NO_VALID_RECIPIENTS, OUT_OF_SEQUENCE),
        in_sequence,
        lambda state, verb, options, ext: VERB_EVENTS[verb] not in IN_SEQUENCE[state],
        "not in sequence in the state",
    ),
    Step(
        "command",
        NEED_TLS,
        (TLS_REQUIRED,),
        tls_required,
        lambda state, verb, options, ext: options.require_tls,
        "Options.require_tls",
    ),
    Step(
        "command",
        frozenset({"AUTH"}),
        (
            AUTH_NEEDS_EHLO,
            AUTH_TWICE,
            AUTH_SYNTAX,
            AUTH_MECHANISM,
            AUTH_ENCRYPTION,
            AUTH_RESPONSE,
            EARLY_INPUT,
        ),
        auth,
    ),
    Step("command", frozenset({"XCLIENT", "XFORWARD"}), (ATTRIBUTES,), attributes),
    Step(
        "command",
        NEED_AUTH,
        (AUTH_REQUIRED,),
        auth_required,
        lambda state, verb, options, ext: options.require_auth,
        "Options.require_auth",
    ),
    Step("argument", _ANY, (ARGUMENT_SYNTAX,), where="_commands.parse_arguments"),
    Step("argument", _MAIL, (PARAMS_NEED_EHLO, PARAMS), mail_params),
    Step("argument", _MAIL, (SENDER_UTF8,), mail_utf8, when="a non-ASCII line"),
    Step("argument", _RCPT, (PARAMS_NEED_EHLO, PARAMS), rcpt_params),
    Step("argument", _RCPT, (RECIPIENT_UTF8,), rcpt_utf8, when="a non-ASCII line"),
    Step("argument", _RCPT, (TOO_MANY_RECIPIENTS,), recipient_limit),
    Step("argument", _DATA, (BINARYMIME_DATA,), binarymime_data),
    Step(
        "argument",
        _ANY,
        (TEXT_UTF8,),
        text_utf8,
        lambda state, verb, options, ext: verb not in ("MAIL", "RCPT") and not ext.smtputf8,
        "a non-ASCII line, SMTPUTF8 off",
    ),
)

REPLY_HTTP = Reply(HTTP_REQUEST.code, HTTP_REQUEST.text, HTTP_REQUEST.enhanced)
REPLY_EARLY_INPUT = Reply(EARLY_INPUT.code, EARLY_INPUT.text, EARLY_INPUT.enhanced)
REPLY_TOO_MANY_ERRORS = Reply(TOO_MANY_ERRORS.code, TOO_MANY_ERRORS.text, TOO_MANY_ERRORS.enhanced)
REPLY_CHUNK_TOO_BIG = Reply(BDAT_TOO_BIG.code, BDAT_TOO_BIG.text, BDAT_TOO_BIG.enhanced)
REPLY_UNKNOWN = Reply(UNKNOWN.code, UNKNOWN.text, UNKNOWN.enhanced)


def _chunk_size(verb: str, argument: str) -> int:
    """The octets that follow a BDAT line as part of it (RFC 3030 2), else 0."""
    parsed = parse_bdat(argument) if verb == "BDAT" else None
    return parsed[0] if isinstance(parsed, tuple) else 0


# -- plans: the steps of each verb under one configuration ---------------------

Check = Callable[[Any, str, Any], Any]


class Plan:
    """The checks each verb goes through under one ``Options`` and ``Extensions``,
    by state: a step that cannot fire in a state is left out of its plan.

    ``before[state][verb]`` runs before parsing (``unknown[state]`` for a verb
    not in it, and it always answers); ``after[verb]`` runs on the parsed event
    of an ASCII line, ``after_utf8[verb]`` on that of any other line.
    """

    __slots__ = ("after", "after_utf8", "before", "longest_line", "unknown")

    def __init__(self, options: Options, extensions: Extensions) -> None:
        known = KNOWN_VERBS if options.lmtp else KNOWN_VERBS - {"LHLO"}
        self.before = {
            state: {verb: _checks("command", state, verb, options, extensions) for verb in known}
            for state in State
        }
        self.unknown = {
            state: _checks("command", state, None, options, extensions) for state in State
        }
        # The argument checks look at no state (READY stands for any).
        self.after = {
            verb: _checks("argument", State.READY, verb, options, extensions) for verb in known
        }
        self.after_utf8 = {
            verb: _checks("argument", State.READY, verb, options, extensions, utf8=True)
            for verb in known
        }
        # The longest command line any verb may send (MAIL and RCPT get more).
        self.longest_line = options.max_command_line + extensions._max_line_allowance


def _checks(
    phase: str,
    state: State,
    verb: str | None,
    options: Options,
    extensions: Extensions,
    utf8: bool = False,
) -> tuple[Check, ...]:
    """The checks of ``verb`` (None: a verb the engine does not know) in
    ``state``, in order."""
    checks: list[Check] = []
    for step in STEPS:
        if step.phase != phase or step.check is None:
            continue
        if verb is None:
            if not step.unknown_verbs or not step.applies(state, "", options, extensions):
                continue
        elif (step.verbs is not None and verb not in step.verbs) or not step.applies(
            state, verb, options, extensions
        ):
            continue
        if step.check in (_UTF8_ONLY if not utf8 else _ASCII_ONLY):
            continue
        checks.append(step.check)
        if step.check in _FINAL:
            break
    return tuple(checks)


# Checks that always answer: nothing after them runs.
_FINAL = frozenset(
    {no_service, unknown_command, not_implemented, bdat, use_lhlo, in_sequence, auth, attributes}
)
# For a non-ASCII line, mail_utf8 and rcpt_utf8 do what mail_params and rcpt_params do, and more.
_ASCII_ONLY = frozenset({mail_params, rcpt_params})
_UTF8_ONLY = frozenset({mail_utf8, rcpt_utf8, text_utf8})


def plan(options: Options, extensions: Extensions) -> Plan:
    """The plan for one configuration, made on first use. Kept on ``options``
    by the identity of ``extensions`` (the look-up each connection makes), and
    here by value, for an application that makes equal objects per connection."""
    entry = options._plans.get(id(extensions))
    if entry is not None and entry[0] is extensions:
        return entry[1]  # type: ignore[no-any-return]
    key = (options, extensions)
    found = _PLANS.get(key)
    if found is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        found = _PLANS[key] = Plan(options, extensions)
    if len(options._plans) >= _MAX_PLANS:
        options._plans.clear()
    options._plans[id(extensions)] = (extensions, found)
    return found


# Plans by configuration (bounded: an application has few configurations).
_PLANS: dict[tuple[Options, Extensions], Plan] = {}
_MAX_PLANS = 64
