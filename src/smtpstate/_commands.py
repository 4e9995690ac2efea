"""Command lines to events (RFC 5321 4.1.1, 4.1.2, 4.1.3).

This module knows the syntax only. Which commands are enabled, which are in
sequence, and what the parameters mean is decided by the connection (with
``_state`` and ``_extensions``). A syntax error comes back as a
``RejectedCommand`` carrying the suggested reply.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from . import _abnf
from ._events import (
    Command,
    DataStart,
    Expand,
    Hello,
    Help,
    Mail,
    Mailbox,
    Noop,
    Quit,
    Recipient,
    Refusal,
    RejectedCommand,
    Reset,
    StartTLS,
    Verify,
)
from ._replies import Reply

__all__ = [
    "KNOWN_VERBS",
    "parse_arguments",
    "parse_attributes",
    "parse_auth",
    "parse_bdat",
    "reject",
    "split_line",
]

# RFC 5321 4.5.3.1.1-3: local-part 64, domain 255, path 256 octets (with brackets).
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

# C0 controls and DEL never reach the application (a TAB included).
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_POSTMASTER = re.compile("<postmaster>", re.IGNORECASE)
_FROM = re.compile("FROM: *", re.IGNORECASE)
_TO = re.compile("TO: *", re.IGNORECASE)
# RFC 4954 8: sasl-mech = 1*20mech-char; mech-char = UPPER-ALPHA / DIGIT / "-" / "_"
# (matched without regard to case, as SMTP verbs are).
_SASL_MECH = re.compile("[A-Za-z0-9_-]{1,20}")
_IPV4_LITERAL = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_IPV6_HEX = re.compile(r"[0-9A-Fa-f]{1,4}")

# Fast paths for the shapes nearly every client sends: a plain ASCII domain
# after HELO/EHLO, and "FROM:<local@domain>" or "TO:<local@domain>" with plain
# ASCII parts, then nothing or a space (and parameters). They match only what
# the full grammar accepts, with the same groups, so a match can become the
# event at once. Everything else, and every error, takes the full parser
# (tests/test_parse_fast_path.py checks that both give the same answer).
_SIMPLE_DOMAIN = re.compile(_abnf.SIMPLE_DOMAIN)
_SIMPLE_ADDRESS = f"<(({_abnf.SIMPLE_LOCAL_PART})@({_abnf.SIMPLE_DOMAIN}))>(?= |\\Z)"
_SIMPLE_MAIL = re.compile(f"(?i:FROM): *{_SIMPLE_ADDRESS}")
_SIMPLE_RCPT = re.compile(f"(?i:TO): *{_SIMPLE_ADDRESS}")


def reject(verb: str, code: int, enhanced: str, reason: str, refusal: Refusal) -> RejectedCommand:
    """A refused command with its suggested reply and the code saying why."""
    return RejectedCommand(
        verb=verb, reason=reason, reply=Reply(code, reason, enhanced), refusal=refusal
    )


def split_line(line: bytes) -> tuple[str, str] | RejectedCommand:
    """Cut a command line (without its CRLF) into an upper-cased verb and its
    argument, decoding strictly: ASCII, or UTF-8 (whether UTF-8 is allowed where
    it stands is checked later)."""
    if line.isascii():
        # The common case, checked at once: in ASCII, isprintable() is false
        # exactly for the C0 controls and DEL, CR and LF among them.
        text = line.decode("ascii")
        if text.isprintable():
            verb, _, argument = text.partition(" ")
            return verb.upper(), argument
    if b"\r" in line or b"\n" in line:
        # RFC 5321 2.3.8: only CRLF ends a line; a bare CR or LF is not text.
        return reject(
            _verb_hint(line), 500, "5.5.2", "Bare CR or LF in command line", Refusal.BAD_LINE_ENDING
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return reject(
            _verb_hint(line), 500, "5.5.2", "Command line is not valid UTF-8", Refusal.INVALID_UTF8
        )
    if _CONTROL.search(text):
        return reject(
            _verb_hint(line), 501, "5.5.2", "Control character in command line", Refusal.SYNTAX
        )
    verb, _, argument = text.partition(" ")
    return verb.upper(), argument


def _verb_hint(line: bytes) -> str:
    """The verb of a line refused before decoding, for RejectedCommand.verb."""
    verb = re.split(b"[ \r\n]", line, maxsplit=1)[0]
    return verb.decode("ascii").upper() if verb.isascii() else ""


def parse_arguments(verb: str, argument: str) -> Command:
    """The event for a known ``verb`` with ``argument``, or a RejectedCommand."""
    return _PARSERS[verb](verb, argument)


def _hello(verb: str, argument: str) -> Command:
    domain = argument.strip(" ")
    if _SIMPLE_DOMAIN.fullmatch(domain):
        return Hello(domain=domain, extended=verb != "HELO")
    if not domain:
        return reject(
            verb, 501, "5.5.4", f"{verb} needs a domain name or address literal", Refusal.SYNTAX
        )
    if not _abnf.HELLO_DOMAIN.fullmatch(domain) or (
        # RFC 5321 4.1.1.1: helo = "HELO" SP Domain; only EHLO may give a literal.
        domain.startswith("[") and (verb == "HELO" or not _valid_address_literal(domain))
    ):
        return reject(verb, 501, "5.5.2", f"Invalid domain in {verb}", Refusal.SYNTAX)
    return Hello(domain=domain, extended=verb != "HELO")


def _mail(verb: str, argument: str) -> Command:
    simple = _simple_path(verb, argument, _SIMPLE_MAIL.match(argument))
    if simple is not None:
        return Mail(reverse_path=simple[0], params=simple[1])
    prefix = _FROM.match(argument)
    if prefix is None:
        return reject(verb, 501, "5.5.2", "Syntax: MAIL FROM:<address>", Refusal.SYNTAX)
    parsed = _path_and_params(verb, argument[prefix.end() :], "5.1.7")
    if isinstance(parsed, RejectedCommand):
        return parsed
    path, match, params = parsed
    if path == "<>":
        return Mail(reverse_path=None, params=params)
    mailbox = _mailbox(verb, path, match, "5.1.7")
    if isinstance(mailbox, RejectedCommand):
        return mailbox
    return Mail(reverse_path=mailbox, params=params)


def _rcpt(verb: str, argument: str) -> Command:
    simple = _simple_path(verb, argument, _SIMPLE_RCPT.match(argument))
    if simple is not None:
        return Recipient(forward_path=simple[0], params=simple[1])
    prefix = _TO.match(argument)
    if prefix is None:
        return reject(verb, 501, "5.5.2", "Syntax: RCPT TO:<address>", Refusal.SYNTAX)
    parsed = _path_and_params(verb, argument[prefix.end() :], "5.1.3")
    if isinstance(parsed, RejectedCommand):
        return parsed
    path, match, params = parsed
    if _POSTMASTER.fullmatch(path):
        # RFC 5321 4.1.1.3: "<Postmaster>" without a domain is always accepted syntax.
        return Recipient(
            forward_path=Mailbox(local_part=path[1:-1], domain="", text=path[1:-1]),
            params=params,
        )
    mailbox = _mailbox(verb, path, match, "5.1.3")
    if isinstance(mailbox, RejectedCommand):
        return mailbox
    return Recipient(forward_path=mailbox, params=params)


def _simple_path(
    verb: str, argument: str, simple: re.Match[str] | None
) -> tuple[Mailbox, dict[str, str | None]] | None:
    """The mailbox and parameters of a fast-path match, or None when the full
    parser must decide (no match, a length over its limit, a bad parameter)."""
    if simple is None:
        return None
    text, local, domain = simple.groups()
    # ASCII: one octet a character. The path has its brackets around the text.
    if len(local) > MAX_LOCAL_PART or len(domain) > MAX_DOMAIN or len(text) + 2 > MAX_PATH:
        return None
    params = _parameters(verb, argument[simple.end() :])
    if isinstance(params, RejectedCommand):
        return None
    return Mailbox(local_part=local, domain=domain, text=text), params


def _path_and_params(
    verb: str, rest: str, enhanced: str
) -> tuple[str, re.Match[str] | None, dict[str, str | None]] | RejectedCommand:
    """Split ``<path> [SP params]`` and parse the parameters. A quoted local part
    may hold spaces and ">", so the path ends where the grammar says it does; the
    grammar's match comes back with the path (None when it did not match)."""
    match = _abnf.PATH.match(rest)
    end = match.end() if match else rest.find(">") + 1
    if not rest.startswith("<") or end == 0:
        return reject(verb, 501, enhanced, "Address must be in angle brackets", Refusal.SYNTAX)
    path, params_text = rest[:end], rest[end:]
    if params_text and not params_text.startswith(" "):
        return reject(verb, 501, enhanced, "Syntax error in mailbox address", Refusal.SYNTAX)
    params = _parameters(verb, params_text)
    if isinstance(params, RejectedCommand):
        return params
    return path, match, params


def _parameters(verb: str, text: str) -> dict[str, str | None] | RejectedCommand:
    """RFC 5321 4.1.2: Mail-parameters = esmtp-param *(SP esmtp-param),
    esmtp-param = esmtp-keyword ["=" esmtp-value]. Keywords are upper-cased."""
    params: dict[str, str | None] = {}
    if not text:  # the common case
        return params
    for item in text.split(" "):
        if not item:  # tolerate runs of spaces between parameters
            continue
        keyword, equals, value = item.partition("=")
        if not _abnf.ESMTP_KEYWORD.fullmatch(keyword) or (
            equals and not _abnf.ESMTP_VALUE.fullmatch(value)
        ):
            return reject(
                verb, 501, "5.5.4", f"Malformed parameter {item}", Refusal.INVALID_PARAMETER
            )
        keyword = keyword.upper()
        if keyword in params:
            return reject(
                verb, 501, "5.5.4", f"Duplicate parameter {keyword}", Refusal.INVALID_PARAMETER
            )
        params[keyword] = value if equals else None
    return params


def _mailbox(
    verb: str, path: str, match: re.Match[str] | None, enhanced: str
) -> Mailbox | RejectedCommand:
    if match is None:
        return reject(verb, 501, enhanced, "Syntax error in mailbox address", Refusal.SYNTAX)
    local, domain = match["local"], match["domain"]
    if domain.startswith("[") and not _valid_address_literal(domain):
        return reject(verb, 501, enhanced, "Invalid address literal", Refusal.SYNTAX)
    # RFC 5321 4.5.3.1.9: a path too long is answered 501.
    if (  # octets, not characters (RFC 6531); ASCII has one octet a character
        (len(local) if path.isascii() else len(local.encode())) > MAX_LOCAL_PART
        or (len(domain) if path.isascii() else len(domain.encode())) > MAX_DOMAIN
        or (len(path) if path.isascii() else len(path.encode())) > MAX_PATH
    ):
        return reject(verb, 501, enhanced, "Address too long", Refusal.SYNTAX)
    route = tuple(hop[1:] for hop in match["route"].split(",")) if match["route"] else ()
    return Mailbox(local_part=local, domain=domain, text=path[1:-1], source_route=route)


def _valid_address_literal(literal: str) -> bool:
    """RFC 5321 4.1.3: IPv4 (four Snum of 0-255), "IPv6:" IPv6-addr, or a
    General-address-literal (Standardized-tag ":" 1*dcontent)."""
    inner = literal[1:-1]
    tag, colon, value = inner.partition(":")
    if not colon:
        return _valid_ipv4(inner)
    if tag.upper() == "IPV6":
        return _valid_ipv6(value)
    return re.fullmatch(_abnf.LDH_STR, tag) is not None and bool(value)


def _valid_ipv4(text: str) -> bool:
    """IPv4-address-literal: four Snum (1*3DIGIT, 0-255; leading zeros allowed)."""
    octets = _IPV4_LITERAL.fullmatch(text)
    return octets is not None and all(int(octet) <= 255 for octet in octets.groups())


def _valid_ipv6(text: str) -> bool:
    """IPv6-addr of RFC 5321 4.1.3, by its own grammar rather than by
    ``ipaddress`` (which refuses the leading zeros an IPv4 tail may have, and
    takes a "::" that stands for one group where the RFC wants at least two):
    IPv6-full has 8 groups, IPv6-comp at most 6 besides the "::"; with an IPv4
    tail, 6 groups, or at most 4 besides the "::"."""
    head = text
    full, compressed = 8, 6
    if "." in text:
        head, colon, tail = text.rpartition(":")
        if not colon or not _valid_ipv4(tail):
            return False
        if head.endswith(":"):  # "::" just before the IPv4 part
            head += ":"
        full, compressed = 6, 4
    if head.count("::") > 1:
        return False
    if "::" in head:
        left, _, right = head.partition("::")
        groups = _ipv6_groups(left) + _ipv6_groups(right)
        return None not in groups and len(groups) <= compressed
    groups = _ipv6_groups(head)
    return None not in groups and len(groups) == full


def _ipv6_groups(text: str) -> list[str | None]:
    """The IPv6-hex groups of ``text`` (None for a malformed one; [] for "")."""
    if not text:
        return []
    return [g if _IPV6_HEX.fullmatch(g) else None for g in text.split(":")]


def _no_argument(event: Command) -> Callable[[str, str], Command]:
    """RFC 5321 4.3.2: DATA, RSET and QUIT take no argument (501 otherwise).
    Their events have no fields, so one frozen instance serves every session."""

    def parse(verb: str, argument: str) -> Command:
        if argument.strip(" "):
            return reject(verb, 501, "5.5.4", f"{verb} takes no argument", Refusal.SYNTAX)
        return event

    return parse


_BARE_NOOP = Noop(argument="")


def _noop(verb: str, argument: str) -> Command:
    """NOOP's argument is ignored (RFC 5321 4.1.1.9); most clients send none,
    and then one frozen instance serves every session."""
    argument = argument.strip(" ")
    return Noop(argument=argument) if argument else _BARE_NOOP


def _needs_argument(verb: str, argument: str) -> Command:
    """VRFY and EXPN need a string (RFC 5321 4.1.1.6, 4.1.1.7)."""
    argument = argument.strip(" ")
    if not argument:
        return reject(verb, 501, "5.5.4", f"{verb} needs an argument", Refusal.SYNTAX)
    if verb == "VRFY":
        return Verify(argument=argument)
    return Expand(argument=argument)


_PARSERS: dict[str, Callable[[str, str], Command]] = {
    "HELO": _hello,
    "EHLO": _hello,
    "LHLO": _hello,  # RFC 2033 4.1, in LMTP mode only
    "MAIL": _mail,
    "RCPT": _rcpt,
    "DATA": _no_argument(DataStart()),
    "RSET": _no_argument(Reset()),
    "QUIT": _no_argument(Quit()),
    "STARTTLS": _no_argument(StartTLS()),  # RFC 3207 4: 501 for an argument
    "NOOP": _noop,
    "HELP": lambda verb, argument: Help(argument=argument.strip(" ")),
    "VRFY": _needs_argument,
    "EXPN": _needs_argument,
}

# AUTH, BDAT, XCLIENT and XFORWARD are parsed by the functions below: what
# they become depends on the session.
KNOWN_VERBS = frozenset(_PARSERS) | {"AUTH", "BDAT", "XCLIENT", "XFORWARD"}

# RFC 3030 2: bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ]; chunk-size ::= 1*DIGIT
_BDAT = re.compile("([0-9]{1,20})(?: (LAST))?", re.IGNORECASE)


def parse_bdat(argument: str) -> tuple[int, bool] | RejectedCommand:
    """The chunk size and whether it is the LAST one."""
    match = _BDAT.fullmatch(argument.strip(" "))
    if match is None:
        return reject("BDAT", 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]", Refusal.SYNTAX)
    return int(match[1]), match[2] is not None


# Postfix XCLIENT and XFORWARD: the attributes each takes, and the forms of
# their values (after xtext decoding). "[UNAVAILABLE]" and "[TEMPUNAVAIL]"
# stand for a value the proxy does not know.
XCLIENT_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT")
XFORWARD_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
_UNKNOWN_VALUES = ("[UNAVAILABLE]", "[TEMPUNAVAIL]")


def parse_attributes(
    verb: str, argument: str, names: tuple[str, ...]
) -> dict[str, str] | RejectedCommand:
    """``name=xtext`` pairs for XCLIENT/XFORWARD, names upper-cased, values
    decoded and checked: addresses are IP addresses, ports numbers."""
    attributes: dict[str, str] = {}
    for item in argument.split():
        name, equals, value = item.partition("=")
        name = name.upper()
        if not equals or name not in names or not _abnf.XTEXT.fullmatch(value):
            return reject(verb, 501, "5.5.4", f"Bad {verb} attribute {item}", Refusal.SYNTAX)
        value = _abnf.decode_xtext(value)
        if _CONTROL.search(value) or not _valid_attribute(name, value):
            return reject(verb, 501, "5.5.4", f"Bad {verb} value for {name}", Refusal.SYNTAX)
        attributes[name] = value
    if not attributes:
        return reject(verb, 501, "5.5.4", f"{verb} needs attribute=value pairs", Refusal.SYNTAX)
    return attributes


def _valid_attribute(name: str, value: str) -> bool:
    if value.upper() in _UNKNOWN_VALUES:
        return True
    if name in ("ADDR", "DESTADDR"):
        ipv6 = value.upper().startswith("IPV6:")
        address = value[5:] if ipv6 else value
        if "%" in address:  # a zone index means nothing to another host
            return False
        try:
            return ipaddress.ip_address(address).version == 6 or not ipv6
        except ValueError:
            return False
    if name in ("PORT", "DESTPORT"):
        return value.isascii() and value.isdigit() and int(value) <= 65535
    if name == "SOURCE":
        return value.upper() in ("LOCAL", "REMOTE")
    return bool(value)


def parse_auth(argument: str) -> tuple[str, str | None] | RejectedCommand:
    """RFC 4954 4: ``AUTH mechanism [initial-response]``; the mechanism name
    upper-cased, the initial response still base64 (or "=")."""
    mechanism, _, initial = argument.strip(" ").partition(" ")
    if not _SASL_MECH.fullmatch(mechanism) or " " in initial.strip(" "):
        return reject(
            "AUTH", 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]", Refusal.SYNTAX
        )
    return mechanism.upper(), initial.strip(" ") or None
