"""Regular expressions for the RFC 5321 4.1.2 grammar, extended by RFC 6531 3.3
(SMTPUTF8) where it allows UTF-8. Each fragment quotes the rule it implements.

The patterns match ``str``; whether a non-ASCII match is allowed is the caller's
decision (only with SMTPUTF8), so one grammar serves both.
"""

from __future__ import annotations

import re

__all__ = [
    "DOMAIN",
    "ESMTP_KEYWORD",
    "ESMTP_VALUE",
    "LDH_STR",
    "PATH",
    "SIMPLE_DOMAIN",
    "SIMPLE_LOCAL_PART",
    "XTEXT",
    "decode_orcpt",
    "decode_xtext",
]

# RFC 6531 3.3: UTF8-non-ascii = UTF8-2 / UTF8-3 / UTF8-4
_NON_ASCII = "\u0080-\U0010ffff"

# RFC 5321: Let-dig = ALPHA / DIGIT
#           Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
#           sub-domain = Let-dig [Ldh-str]
# RFC 6531: sub-domain =/ U-label
_LET_DIG = f"[A-Za-z0-9{_NON_ASCII}]"
_LDH = f"[-A-Za-z0-9{_NON_ASCII}]"
_SUB_DOMAIN = f"{_LET_DIG}(?:{_LDH}*{_LET_DIG})?"
# Domain = sub-domain *("." sub-domain)
DOMAIN = f"{_SUB_DOMAIN}(?:\\.{_SUB_DOMAIN})*"
# Standardized-tag = Ldh-str (of an address literal)
LDH_STR = "[-A-Za-z0-9]*[A-Za-z0-9]"

# address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
#                         General-address-literal ) "]"
# dcontent = %d33-90 / %d94-126   (the three forms are told apart afterwards)
ADDRESS_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]+\]"

# RFC 5322 3.2.3: atext (RFC 6531: atext =/ UTF8-non-ascii)
#   Atom = 1*atext ; Dot-string = Atom *("." Atom)
_ATEXT = f"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~{_NON_ASCII}-]"
_DOT_STRING = f"{_ATEXT}+(?:\\.{_ATEXT}+)*"
# Quoted-string = DQUOTE *QcontentSMTP DQUOTE
# qtextSMTP = %d32-33 / %d35-91 / %d93-126   (RFC 6531: =/ UTF8-non-ascii)
# quoted-pairSMTP = %d92 %d32-126
_QUOTED_STRING = f'"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e{_NON_ASCII}]|\\\\[\\x20-\\x7e])*"'
# Local-part = Dot-string / Quoted-string
_LOCAL_PART = f"(?:{_DOT_STRING}|{_QUOTED_STRING})"

# Path = "<" [ A-d-l ":" ] Mailbox ">"
# A-d-l = At-domain *( "," At-domain ) ; At-domain = "@" Domain
# Mailbox = Local-part "@" ( Domain / address-literal )
PATH = re.compile(
    f"<(?:(?P<route>@{DOMAIN}(?:,@{DOMAIN})*):)?"
    f"(?P<local>{_LOCAL_PART})@(?P<domain>{DOMAIN}|{ADDRESS_LITERAL})>"
)
# EHLO/HELO argument: Domain / address-literal (HELO: Domain only)
HELLO_DOMAIN = re.compile(f"{DOMAIN}|{ADDRESS_LITERAL}")
# The server's name that starts its greeting and its EHLO reply (RFC 5321 4.2,
# 4.3.1: Greeting = "220 " (Domain / address-literal) [SP textstring];
# 4.1.1.1: ehlo-ok-rsp = "250" SP Domain [SP ehlo-greet]): the same two forms.
SERVER_NAME = HELLO_DOMAIN

# The common shapes, for the fast paths in _commands: each matches a subset of
# the rule it is named after, and is cheaper to run (fewer repeated groups).
# A Dot-string of ASCII atext only:
_ASCII_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
SIMPLE_LOCAL_PART = f"{_ASCII_ATEXT}+(?:\\.{_ASCII_ATEXT}+)*"
# An ASCII Domain whose labels hold no run of "-" (so not "xn--"): letters and
# digits with single "-" or "." between them.
SIMPLE_DOMAIN = "[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*"

# esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
ESMTP_KEYWORD = re.compile("[A-Za-z0-9][-A-Za-z0-9]*")
# esmtp-value = 1*(%d33-60 / %d62-126)   (RFC 6531: =/ UTF8-non-ascii)
ESMTP_VALUE = re.compile(f"[\\x21-\\x3c\\x3e-\\x7e{_NON_ASCII}]+")

# RFC 3461 4 / RFC 4954 5: xtext = *( xchar / hexchar ), hexchar = "+" 2(HEX)
# xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "=".
XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")
_HEXCHAR = re.compile(r"\+([0-9A-F]{2})")


def decode_xtext(text: str) -> str:
    """Decode xtext that ``XTEXT`` matched: each "+XX" stands for one octet."""
    return _HEXCHAR.sub(lambda match: chr(int(match[1], 16)), text)


# RFC 3461 4.2: original-recipient-address = addr-type ";" xtext, with
# addr-type = atom (RFC 5322 3.2.3, ASCII). RFC 6533 3 adds UTF-8 characters
# (utf-8-addr-unitext and utf-8-address) when SMTPUTF8 is in use; the command
# line holds non-ASCII only in an SMTPUTF8 transaction, so they are allowed here.
ORCPT = re.compile(
    "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+;"
    f"(?:[\\x21-\\x2a\\x2c-\\x3c\\x3e-\\x7e{_NON_ASCII}]|\\+[0-9A-F]{{2}})+"
)
# RFC 6533 3: EmbeddedUnicodeChar = %x5C.78 "{" HEXPOINT "}", HEXPOINT being 2
# to 6 hexadecimal digits (read in either case); a "\\" on its own is no escape.
_EMBEDDED_CHAR = re.compile(r"\\x\{([0-9A-Fa-f]{2,6})\}|\\")
# What an address handed to the application may not hold: C0, DEL and C1
# controls (RFC 3461 4.2: printable characters only).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _unescape(match: re.Match[str]) -> str:
    if match[1] is None:
        raise ValueError("a backslash that starts no \\x{HEX} escape")
    return chr(int(match[1], 16))  # ValueError past U+10FFFF


def decode_orcpt(address_type: str, text: str) -> str | None:
    """The original recipient address of an ORCPT that ``ORCPT`` matched, or
    None when it cannot be decoded to printable text.

    xtext "+HH" escapes give octets, read as UTF-8 (what MTAs send for a
    non-ASCII address in an SMTPUTF8 transaction); for the ``utf-8``
    addr-type, "\\x{HEX}" escapes then give code points (RFC 6533 3)."""
    octets = bytearray()
    for index, piece in enumerate(_HEXCHAR.split(text)):
        octets += piece.encode() if index % 2 == 0 else bytes.fromhex(piece)
    try:
        address = octets.decode()
        if address_type.lower() == "utf-8":
            address = _EMBEDDED_CHAR.sub(_unescape, address)
            address.encode()  # a surrogate code point cannot be encoded
    except ValueError:  # UnicodeError is a ValueError
        return None
    return None if _CONTROLS.search(address) else address
