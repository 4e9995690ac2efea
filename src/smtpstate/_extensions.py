"""Service extensions: what EHLO advertises, and the MAIL/RCPT parameters each
one allows (RFC 5321 4.1.1.1, 2.2.1; RFC 1870, 2034, 2920, 6152, 6531)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._abnf import XTEXT, decode_xtext
from ._commands import reject
from ._events import CommandRejected
from ._sasl import BUILT_IN, Mechanism

__all__ = ["Extensions"]

_CONTROL = re.compile("[\x00-\x1f\x7f]")
# RFC 1870 4: size-value ::= 1*20DIGIT (ASCII digits: str.isdigit() also takes "²").
_SIZE_VALUE = re.compile("[0-9]{1,20}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Extensions:
    """Which SMTP extensions the connection offers after EHLO.

    ``size``: None to leave SIZE out; 0 to advertise SIZE with no fixed limit;
    a positive number of octets to advertise and enforce it (RFC 1870).
    ``smtputf8`` needs ``eightbitmime`` (RFC 6531 3.1). ``help`` and ``expn``
    enable those optional commands; when off they are answered 502.

    ``starttls`` offers STARTTLS until TLS is active (RFC 3207). ``auth`` lists
    the SASL mechanisms for AUTH (RFC 4954): names of the built-in ones
    ("PLAIN", "LOGIN", "CRAM-MD5") or ``Mechanism`` subclasses. Mechanisms that
    send a password in the clear are offered and accepted only under TLS,
    unless ``auth_without_tls`` allows them.
    """

    pipelining: bool = True
    size: int | None = None
    eightbitmime: bool = True
    smtputf8: bool = False
    enhanced_status_codes: bool = True
    help: bool = False
    expn: bool = False
    starttls: bool = False
    auth: tuple[str | type[Mechanism], ...] = ()
    auth_without_tls: bool = False

    def __post_init__(self) -> None:
        if self.size is not None and (type(self.size) is not int or self.size < 0):
            raise ValueError(f"size must be None or an int >= 0, not {self.size!r}")
        if self.smtputf8 and not self.eightbitmime:
            raise ValueError("SMTPUTF8 requires 8BITMIME (RFC 6531 3.1)")
        for mechanism in self.auth:
            if isinstance(mechanism, str) and mechanism.upper() not in BUILT_IN:
                raise ValueError(f"unknown SASL mechanism {mechanism!r}: pass a Mechanism class")

    @property
    def mechanisms(self) -> dict[str, type[Mechanism]]:
        """The AUTH mechanisms by upper-cased name, in the configured order."""
        found: dict[str, type[Mechanism]] = {}
        for mechanism in self.auth:
            cls = BUILT_IN[mechanism.upper()] if isinstance(mechanism, str) else mechanism
            found[cls.name.upper()] = cls
        return found

    def usable(self, mechanism: type[Mechanism], tls_active: bool) -> bool:
        """Whether ``mechanism`` may run now (RFC 4954 4, last paragraph)."""
        return tls_active or self.auth_without_tls or not mechanism.plaintext

    def ehlo_keywords(self, tls_active: bool = False) -> list[str]:
        """The EHLO reply lines after the greeting line, in a stable order."""
        keywords = []
        if self.starttls and not tls_active:
            keywords.append("STARTTLS")  # RFC 3207 4.2: not offered again under TLS
        usable = [name for name, m in self.mechanisms.items() if self.usable(m, tls_active)]
        if usable:
            keywords.append("AUTH " + " ".join(usable))
        if self.pipelining:
            keywords.append("PIPELINING")
        if self.size is not None:
            keywords.append(f"SIZE {self.size}" if self.size else "SIZE")
        if self.eightbitmime:
            keywords.append("8BITMIME")
        if self.smtputf8:
            keywords.append("SMTPUTF8")
        if self.enhanced_status_codes:
            keywords.append("ENHANCEDSTATUSCODES")
        if self.help:
            keywords.append("HELP")
        return keywords

    def mail_line_allowance(self) -> int:
        """Octets by which a MAIL line may exceed the command-line limit: 26 for
        SIZE (RFC 1870 3, item 5) and 10 for SMTPUTF8 (RFC 6531 3.1, item 5)."""
        return (26 if self.size is not None else 0) + (10 if self.smtputf8 else 0)

    def check_mail_params(self, params: Mapping[str, str | None]) -> CommandRejected | None:
        """Refuse a MAIL parameter that no enabled extension defines (555,
        RFC 5321 4.1.1.11) or whose value is wrong (501), and a declared SIZE
        over the limit (552, RFC 1870 6.1)."""
        for keyword, value in params.items():
            if keyword == "SIZE" and self.size is not None:
                if value is None or not _SIZE_VALUE.fullmatch(value):
                    return reject("MAIL", 501, "5.5.4", "SIZE needs a number of octets")
                if self.size and int(value) > self.size:
                    return reject(
                        "MAIL", 552, "5.3.4", "Message size exceeds fixed maximum message size"
                    )
            elif keyword == "BODY" and self.eightbitmime:
                if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                    return reject("MAIL", 501, "5.5.4", "BODY must be 7BIT or 8BITMIME")
            elif keyword == "SMTPUTF8" and self.smtputf8:
                if value is not None:
                    return reject("MAIL", 501, "5.5.4", "SMTPUTF8 takes no value")
            elif keyword == "AUTH" and self.auth:
                # RFC 4954 5: AUTH=<xtext mailbox> or AUTH=<>, taken as given.
                if (
                    value is None
                    or not XTEXT.fullmatch(value)
                    or _CONTROL.search(decode_xtext(value))
                ):
                    return reject("MAIL", 501, "5.5.4", "AUTH needs an xtext identity or <>")
            else:
                return reject("MAIL", 555, "5.5.4", f"Unsupported parameter {keyword}")
        return None

    def check_rcpt_params(self, params: Mapping[str, str | None]) -> CommandRejected | None:
        """No enabled extension defines RCPT parameters yet: each one gets 555."""
        for keyword in params:
            return reject("RCPT", 555, "5.5.4", f"Unsupported parameter {keyword}")
        return None
