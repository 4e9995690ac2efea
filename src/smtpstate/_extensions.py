"""Service extensions: what EHLO advertises, and the MAIL/RCPT parameters each
one allows (RFC 5321 4.1.1.1, 2.2.1; RFC 1870, 2034, 2920, 6152, 6531)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._abnf import ESMTP_KEYWORD, ORCPT, XTEXT, decode_xtext
from ._commands import reject
from ._events import Refusal, RejectedCommand
from ._sasl import BUILT_IN, MECHANISM_NAME, Mechanism

__all__ = ["Extensions"]

_CONTROL = re.compile("[\x00-\x1f\x7f]")
_PRIORITY = re.compile("[-+]?[0-9]")
# RFC 5321 4.1.1.1: ehlo-line = ehlo-keyword *( SP ehlo-param ), ehlo-param = 1*(%d33-126)
_EHLO_LINE = re.compile("[A-Za-z0-9][A-Za-z0-9-]*(?: [\x21-\x7e]+)*")


def _valid_xtext(value: str) -> bool:
    """xtext whose decoded octets hold no control character."""
    return bool(XTEXT.fullmatch(value)) and not _CONTROL.search(decode_xtext(value))


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

    ``chunking`` offers BDAT (RFC 3030) and ``binarymime`` BODY=BINARYMIME
    with it; ``dsn`` the RFC 3461 parameters; ``requiretls`` REQUIRETLS under
    TLS (RFC 8689); ``mt_priority`` MT-PRIORITY (RFC 6710). ``extra_keywords``
    adds EHLO lines, and ``extra_mail_params``/``extra_rcpt_params`` name
    parameters the application handles itself (any value is passed through),
    so that a new extension never gets a 555.
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
    chunking: bool = False
    binarymime: bool = False
    dsn: bool = False
    requiretls: bool = False
    mt_priority: bool = False
    extra_keywords: tuple[str, ...] = ()
    extra_mail_params: tuple[str, ...] = ()
    extra_rcpt_params: tuple[str, ...] = ()
    # The EHLO lines without and with TLS active, made once: every EHLO needs them.
    _ehlo_lines: tuple[tuple[str, ...], tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    # The most any command line may exceed the 512-octet limit by (MAIL or RCPT).
    _max_line_allowance: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size is not None and (type(self.size) is not int or self.size < 0):
            raise ValueError(f"size must be None or an int >= 0, not {self.size!r}")
        if self.smtputf8 and not self.eightbitmime:
            raise ValueError("SMTPUTF8 requires 8BITMIME (RFC 6531 3.1)")
        if self.binarymime and not self.chunking:
            raise ValueError("BINARYMIME requires CHUNKING (RFC 3030 3)")
        for line in self.extra_keywords:
            if not _EHLO_LINE.fullmatch(line):
                raise ValueError(f"not an EHLO keyword line: {line!r}")
        for name in (*self.extra_mail_params, *self.extra_rcpt_params):
            if not ESMTP_KEYWORD.fullmatch(name):
                raise ValueError(f"not an ESMTP parameter keyword: {name!r}")
        for mechanism in self.auth:
            if isinstance(mechanism, str):
                if mechanism.upper() not in BUILT_IN:
                    raise ValueError(f"unknown SASL mechanism {mechanism!r}: pass a Mechanism")
            elif not MECHANISM_NAME.fullmatch(getattr(mechanism, "name", "")):
                # It goes on the EHLO AUTH line as it is (RFC 4422 3.1).
                raise ValueError(f"{mechanism!r} needs a name of 1 to 20 of A-Z 0-9 - _")
        lines = (tuple(self._keywords(False)), tuple(self._keywords(True)))
        object.__setattr__(self, "_ehlo_lines", lines)
        allowance = max(self.line_allowance("MAIL"), self.line_allowance("RCPT"))
        object.__setattr__(self, "_max_line_allowance", allowance)

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
        return list(self._ehlo_lines[tls_active])

    def _keywords(self, tls_active: bool) -> list[str]:
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
        if self.chunking:
            keywords.append("CHUNKING")
        if self.binarymime:
            keywords.append("BINARYMIME")
        if self.dsn:
            keywords.append("DSN")
        if self.requiretls and tls_active:
            keywords.append("REQUIRETLS")  # RFC 8689 2: only after STARTTLS
        if self.mt_priority:
            keywords.append("MT-PRIORITY")
        keywords.extend(self.extra_keywords)
        return keywords

    def mail_line_allowance(self) -> int:
        """Octets by which a MAIL line may exceed the command-line limit: 26 for
        SIZE (RFC 1870 3, item 5), 10 for SMTPUTF8 (RFC 6531 3.1, item 5), 16
        for BODY=BINARYMIME (RFC 3030 3, item 8), 11 for REQUIRETLS (RFC 8689
        2, item 5), 116 for RET and ENVID (RFC 3461 5.4), 15 for
        " MT-PRIORITY=-9" and 500 for AUTH= (RFC 4954 3, item 5)."""
        return (
            (26 if self.size is not None else 0)
            + (10 if self.smtputf8 else 0)
            + (16 if self.binarymime else 0)
            + (11 if self.requiretls else 0)
            + (116 if self.dsn else 0)
            + (15 if self.mt_priority else 0)
            + (500 if self.auth else 0)
        )

    def check_mail_params(
        self, params: Mapping[str, str | None], tls_active: bool = False
    ) -> RejectedCommand | None:
        """Refuse a MAIL parameter that no enabled extension defines (555,
        RFC 5321 4.1.1.11) or whose value is wrong (501), and a declared SIZE
        over the limit (552, RFC 1870 6.1)."""
        for keyword, value in params.items():
            if keyword == "SIZE" and self.size is not None:
                if value is None or not _SIZE_VALUE.fullmatch(value):
                    return reject(
                        "MAIL",
                        501,
                        "5.5.4",
                        "SIZE needs a number of octets",
                        Refusal.INVALID_PARAMETER,
                    )
                if self.size and int(value) > self.size:
                    return reject(
                        "MAIL",
                        552,
                        "5.3.4",
                        "Message size exceeds fixed maximum message size",
                        Refusal.MESSAGE_TOO_BIG,
                    )
            elif keyword == "BODY" and (self.eightbitmime or self.binarymime):
                # RFC 6152 2 and RFC 3030 3 each define BODY with their own value.
                bodies = ("7BIT",) + ("8BITMIME",) * self.eightbitmime
                bodies += ("BINARYMIME",) * self.binarymime
                if value is None or value.upper() not in bodies:
                    return reject(
                        "MAIL",
                        501,
                        "5.5.4",
                        f"BODY must be one of {', '.join(bodies)}",
                        Refusal.INVALID_PARAMETER,
                    )
            elif keyword == "SMTPUTF8" and self.smtputf8:
                if value is not None:
                    return reject(
                        "MAIL", 501, "5.5.4", "SMTPUTF8 takes no value", Refusal.INVALID_PARAMETER
                    )
            elif keyword == "AUTH" and self.auth:
                # RFC 4954 5: AUTH=<xtext mailbox> or AUTH=<>, taken as given.
                # A <mailbox> (RFC 5321 4.1.2) is ASCII.
                if value is None or not _valid_xtext(value) or not decode_xtext(value).isascii():
                    return reject(
                        "MAIL",
                        501,
                        "5.5.4",
                        "AUTH needs an xtext identity or <>",
                        Refusal.INVALID_PARAMETER,
                    )
            elif keyword == "RET" and self.dsn:
                if value is None or value.upper() not in ("FULL", "HDRS"):
                    return reject(
                        "MAIL", 501, "5.5.4", "RET must be FULL or HDRS", Refusal.INVALID_PARAMETER
                    )
            elif keyword == "ENVID" and self.dsn:
                # RFC 3461 4.4: xtext, at most 100 characters, of printable US-ASCII.
                if (
                    value is None
                    or not _valid_xtext(value)
                    or len(value) > 100
                    or not decode_xtext(value).isascii()
                ):
                    return reject(
                        "MAIL",
                        501,
                        "5.5.4",
                        "ENVID needs xtext of at most 100 characters",
                        Refusal.INVALID_PARAMETER,
                    )
            elif keyword == "REQUIRETLS" and self.requiretls and tls_active:
                if value is not None:
                    return reject(
                        "MAIL", 501, "5.5.4", "REQUIRETLS takes no value", Refusal.INVALID_PARAMETER
                    )
            elif keyword == "MT-PRIORITY" and self.mt_priority:
                # RFC 6710: a priority from -9 to 9.
                if value is None or not _PRIORITY.fullmatch(value):
                    return reject(
                        "MAIL",
                        501,
                        "5.5.4",
                        "MT-PRIORITY must be from -9 to 9",
                        Refusal.INVALID_PARAMETER,
                    )
            elif keyword in (name.upper() for name in self.extra_mail_params):
                pass
            else:
                return reject(
                    "MAIL",
                    555,
                    "5.5.4",
                    f"Unsupported parameter {keyword}",
                    Refusal.UNKNOWN_PARAMETER,
                )
        return None

    def check_rcpt_params(self, params: Mapping[str, str | None]) -> RejectedCommand | None:
        """RCPT parameters: DSN's NOTIFY and ORCPT (RFC 3461 4.1, 4.2) and the
        application's own; any other gets 555."""
        for keyword, value in params.items():
            if keyword == "NOTIFY" and self.dsn:
                notify = value.upper().split(",") if value is not None else []
                if not notify or not (
                    notify == ["NEVER"]
                    or (
                        set(notify) <= {"SUCCESS", "FAILURE", "DELAY"}
                        and len(set(notify)) == len(notify)
                    )
                ):
                    return reject(
                        "RCPT",
                        501,
                        "5.5.4",
                        "NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY",
                        Refusal.INVALID_PARAMETER,
                    )
            elif keyword == "ORCPT" and self.dsn:
                # RFC 3461 4.2: addr-type ";" xtext (RFC 6533 3: UTF-8 too under
                # SMTPUTF8). Only this syntax is checked: what the address
                # decodes to is DSN information, never a reason to refuse the
                # recipient (5.1 (b)); Recipient.orcpt says whether it is usable.
                if value is None or not ORCPT.fullmatch(value):
                    return reject(
                        "RCPT",
                        501,
                        "5.5.4",
                        "ORCPT must be addr-type;xtext",
                        Refusal.INVALID_PARAMETER,
                    )
            elif keyword not in (name.upper() for name in self.extra_rcpt_params):
                return reject(
                    "RCPT",
                    555,
                    "5.5.4",
                    f"Unsupported parameter {keyword}",
                    Refusal.UNKNOWN_PARAMETER,
                )
        return None

    def line_allowance(self, verb: str) -> int:
        """Octets by which a MAIL or RCPT line may exceed the 512-octet command
        limit: SIZE 26 (RFC 1870 3), SMTPUTF8 10 (RFC 6531 3.1), REQUIRETLS 11
        (RFC 8689 2), DSN 116 on MAIL (RET and ENVID) and 530 on RCPT (RFC 3461 5.4)."""
        if verb == "MAIL":
            return self.mail_line_allowance()
        if verb == "RCPT" and self.dsn:
            return 530
        return 0
