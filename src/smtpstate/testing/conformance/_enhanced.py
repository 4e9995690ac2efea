"""RFC 2034 (with RFC 3463): once ENHANCEDSTATUSCODES is advertised, 2xx, 4xx and
5xx replies (other than the greeting and the replies to HELO/EHLO) carry an
enhanced code on every line, whose class matches the reply's first digit."""

from __future__ import annotations

import re
from collections.abc import Callable

from .._shared import ServerReply
from ._client import Client
from ._suite import Check, Level, case, message

MUST = Level.MUST
ESC = ("ENHANCEDSTATUSCODES",)
# RFC 3463 2: class "." subject "." detail; subject and detail 1-3 digits, no leading zeros
CODE = re.compile(r"([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")


def _check_enhanced(t: Check, reply: ServerReply, what: str) -> None:
    codes = {line.split(" ", 1)[0] for line in reply.lines}
    if len(codes) > 1:
        t.fail(f"{what}: the lines carry different codes {sorted(codes)} (RFC 2034 4)")
    for line in reply.lines:
        first = line.split(" ", 1)[0]
        m = CODE.fullmatch(first)
        if m is None:
            t.fail(f"{what}: {reply.code} line without an enhanced code: {line!r}")
        if m[1] != str(reply.code)[0]:
            t.fail(f"{what}: enhanced code {first} does not match reply class {reply.code}")


def _enhanced_case(name: str, what: str, get: Callable[[Check, Client], ServerReply]) -> None:
    @case(f"enhanced.{name}", "RFC 2034 4, RFC 3463 2", MUST,
          f"{what} carries a matching enhanced code", needs=ESC)  # fmt: skip
    def check(t: Check) -> None:
        client = t.session()
        _check_enhanced(t, get(t, client), what)


def _mail(t: Check, client: Client) -> ServerReply:
    return client.command(f"MAIL FROM:<{t.target.mail_from}>")


def _rcpt(t: Check, client: Client) -> ServerReply:
    t.mail(client)
    return client.command(f"RCPT TO:<{t.target.rcpt}>")


def _end(t: Check, client: Client) -> ServerReply:
    t.transaction(client)
    return t.data(client, message())


def _bad_mail(t: Check, client: Client) -> ServerReply:
    return client.command("MAIL")


def _sequence(t: Check, client: Client) -> ServerReply:
    return client.command(f"RCPT TO:<{t.target.rcpt}>")


_ENHANCED_CASES: dict[str, tuple[str, Callable[[Check, Client], ServerReply]]] = {
    "mail-250": ("the 250 to MAIL", _mail),
    "rcpt-250": ("the 250 to RCPT", _rcpt),
    "end-of-data-250": ("the 250 to the end of data", _end),
    "rset-250": ("the 250 to RSET", lambda t, c: c.command("RSET")),
    "noop-250": ("the 250 to NOOP", lambda t, c: c.command("NOOP")),
    "quit-221": ("the 221 to QUIT", lambda t, c: c.command("QUIT")),
    "syntax-501": ("the 5xx to MAIL without argument", _bad_mail),
    "sequence-503": ("the 503 to RCPT without MAIL", _sequence),
    "unknown-500": ("the 5xx to an unknown verb", lambda t, c: c.command("XNOSUCHVERB")),
    "vrfy": ("the reply to VRFY", lambda t, c: c.command("VRFY postmaster")),
}

for _name, (_what, _get) in _ENHANCED_CASES.items():
    _enhanced_case(_name, _what, _get)


@case("enhanced.not-on-354", "RFC 2034 4", MUST, "the 354 to DATA may carry none; any given fits",
      needs=ESC)  # fmt: skip
def not_on_354(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    reply = t.expect(client.command("DATA"), (354,), "DATA")
    first = reply.lines[0].split(" ", 1)[0] if reply.lines else ""
    m = CODE.fullmatch(first)
    if m is not None and m[1] != "3":  # RFC 3463 has no class 3; a 2/4/5 code on 354 is wrong
        t.fail(f"354 carries the enhanced code {first} of another class")
