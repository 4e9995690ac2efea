"""Hypothesis strategies for fuzzing an SMTP application with smtpstate.

What each strategy generates, and what it promises about it:

- ``paths()``: RFC 5321 4.1.2 paths for MAIL FROM and RCPT TO, valid and
  invalid, ASCII and UTF-8 (RFC 6531), as ``GeneratedPath`` values that say
  whether they are valid.
- ``commands()``: single command lines (bytes ending in CRLF), well-formed or
  malformed.
- ``bodies()``: message contents (not dot-stuffed), clean or hostile;
  ``dot_stuff()`` and ``data_octets()`` turn one into what a client sends.
- ``splits(data)``: the ways a byte string can arrive in pieces.
- ``client_sessions()``: whole sessions as a client writes them, mistakes
  included.

Every value is built directly (no filtering), so generation is cheap and
shrinks towards the plainest case: ASCII, well-formed, short, all at once.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hypothesis import strategies as st

from smtpstate import Extensions

if TYPE_CHECKING:  # annotations only: DrawFn is missing from early hypothesis 6 releases
    from hypothesis.strategies import DrawFn, SearchStrategy

__all__ = [
    "KNOWN_VERBS",
    "UNKNOWN_VERBS",
    "GeneratedPath",
    "bodies",
    "client_sessions",
    "commands",
    "data_octets",
    "dot_stuff",
    "paths",
    "splits",
]

# -- characters -------------------------------------------------------------------

_ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LET_DIG = _ALPHA + "0123456789"
# RFC 5322 3.2.3 atext, which RFC 5321's Atom uses.
_ATEXT = _LET_DIG + "!#$%&'*+/=?^_`{|}~-"
# RFC 5321 qtextSMTP (%d32-33 / %d35-91 / %d93-126) and what quoted-pairSMTP quotes.
_QTEXT = "".join(chr(c) for c in range(32, 127) if chr(c) not in '"\\')
_QUOTABLE = "".join(chr(c) for c in range(32, 127))
# Lower-case letters that are PVALID in IDNA (RFC 5890), two octets in UTF-8:
# they fit both a local part and a U-label.
_UTF8_LETTERS = (
    "àáâäçèéêëìíîïñòóôöùúûüýÿßøåæœ"
    "αβγδεζηθικλμνξοπρστυφχψω"
    "абвгдежзийклмнопрстуфхцчшщыэюя"
)
# Three and four octets: CJK fits a U-label; an emoji only a local part.
_UTF8_WIDE = "中文日本語例子测试"
_UTF8_LOCAL = _UTF8_LETTERS + _UTF8_WIDE + "😀📧"
_UTF8_DOMAIN = _UTF8_LETTERS + _UTF8_WIDE
# RFC 5321 4.1.3 dcontent: printable ASCII but "[", "\\" and "]".
_DCONTENT = "".join(chr(c) for c in range(33, 127) if chr(c) not in "[\\]")
# Not allowed in a Dot-string local part (RFC 5322 specials, less the dot).
_SPECIALS = '(),:;<>@[\\]"'
# C0 controls and DEL, CR and LF left out (they are line endings, below).
_CONTROLS = "".join(chr(c) for c in (*range(0, 10), 11, 12, *range(14, 32), 127))

# RFC 5321 4.5.3.1.1-3, in octets.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256


def _chance(draw: DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws; shrinks to False."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


def _octets(text: str) -> int:
    return len(text.encode())


def _insert(draw: DrawFn, text: str, piece: str, start: int = 0) -> str:
    """``text`` with ``piece`` put at a drawn position from ``start`` on."""
    at = draw(st.integers(start, len(text)))
    return text[:at] + piece + text[at:]


# -- paths ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedPath:
    """A path from ``paths()``.

    ``text`` is what follows ``FROM:`` or ``TO:``, angle brackets included
    (``"<user@example.org>"``; an invalid one may lack them). ``valid`` says
    whether RFC 5321 4.1.2 and 4.5.3.1 (extended by RFC 6531 3.3 when the text
    is not ASCII) allow it in its role; ``flaw`` names what makes it invalid
    (``""`` when valid). ``utf8`` says whether the text holds non-ASCII
    characters: such a path is acceptable only in an SMTPUTF8 transaction.
    """

    text: str
    valid: bool
    utf8: bool
    flaw: str = ""

    @property
    def octets(self) -> bytes:
        """``text`` as it goes on the wire (UTF-8)."""
        return self.text.encode()

    def acceptable(self, smtputf8: bool) -> bool:
        """Whether a server must take this path's syntax: it is valid, and
        ASCII unless the transaction uses SMTPUTF8."""
        return self.valid and (smtputf8 or not self.utf8)


def _dot_string(draw: DrawFn, utf8: bool) -> str:
    """A Dot-string of 1 to 3 atoms of at most 5 characters: at most 62
    octets even in UTF-8, so under the 64-octet limit."""
    alphabet = _ATEXT + (_UTF8_LOCAL if utf8 else "")
    atoms = draw(st.lists(st.text(alphabet, min_size=1, max_size=5), min_size=1, max_size=3))
    if utf8 and "".join(atoms).isascii():
        atoms[0] = atoms[0][:-1] + draw(st.sampled_from(_UTF8_LOCAL))
    return ".".join(atoms)


def _quoted_string(draw: DrawFn, utf8: bool) -> str:
    """A Quoted-string of at most 14 items (qtextSMTP or quoted pairs): at
    most 58 octets with its quotes."""
    item = st.one_of(
        st.sampled_from(_QTEXT),
        st.sampled_from(_QUOTABLE).map(lambda char: "\\" + char),
        *([st.sampled_from(_UTF8_LOCAL)] if utf8 else []),
    )
    items = draw(st.lists(item, max_size=13))
    if utf8 and "".join(items).isascii():
        items.append(draw(st.sampled_from(_UTF8_LOCAL)))
    return '"' + "".join(items) + '"'


def _local_part(draw: DrawFn, utf8: bool) -> str:
    if draw(st.integers(0, 3)) < 3:
        return _dot_string(draw, utf8)
    return _quoted_string(draw, utf8)


def _label(draw: DrawFn, utf8: bool) -> str:
    """A sub-domain of 1 to 10 characters: Let-dig [Ldh-str]; in UTF-8 a
    U-label of letters and digits (no hyphen, so no "--" in positions 3-4)."""
    if utf8:
        return draw(st.text(_UTF8_DOMAIN + "0123456789", min_size=1, max_size=10))
    first = draw(st.sampled_from(_LET_DIG))
    middle = draw(st.text(_LET_DIG + "-", max_size=8))
    return first + middle + draw(st.sampled_from(_LET_DIG)) if middle else first


def _domain_name(draw: DrawFn, utf8: bool = False) -> str:
    """A Domain of 1 to 4 labels: at most 43 characters (123 octets in UTF-8)."""
    labels = [_label(draw, False) for _ in range(draw(st.integers(1, 4)))]
    if utf8:
        labels[0] = _label(draw, True)
        if labels[0].isascii():
            labels[0] = draw(st.sampled_from(_UTF8_DOMAIN)) + labels[0][1:]
    return ".".join(labels)


def _snum(draw: DrawFn) -> str:
    """RFC 5321 4.1.3 Snum: 1*3DIGIT from 0 to 255, leading zeros allowed."""
    value = draw(st.integers(0, 255))
    return str(value).zfill(draw(st.integers(1, 3)))


def _ipv4(draw: DrawFn) -> str:
    return ".".join(_snum(draw) for _ in range(4))


def _hex_groups(draw: DrawFn, count: int) -> list[str]:
    """``count`` IPv6-hex groups (1*4HEXDIG), in either case."""
    group = st.text("0123456789abcdefABCDEF", min_size=1, max_size=4)
    return [draw(group) for _ in range(count)]


def _ipv6(draw: DrawFn) -> str:
    """RFC 5321 4.1.3 IPv6-addr in each of its four forms. In the compressed
    forms "::" stands for at least two groups (at most 6 groups, or 4 before an
    IPv4 address, besides it)."""
    form = draw(st.sampled_from(["comp", "full", "v4-comp", "v4-full"]))
    if form == "full":
        return ":".join(_hex_groups(draw, 8))
    if form == "v4-full":
        return ":".join([*_hex_groups(draw, 6), _ipv4(draw)])
    most = 6 if form == "comp" else 4
    before = draw(st.integers(0, most))
    after = draw(st.integers(0, most - before))
    head = ":".join(_hex_groups(draw, before))
    tail = _hex_groups(draw, after)
    if form == "v4-comp":
        tail.append(_ipv4(draw))
    return f"{head}::{':'.join(tail)}"


def _address_literal(draw: DrawFn) -> str:
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        return f"[{_ipv4(draw)}]"
    if kind <= 3:
        tag = draw(st.sampled_from(["IPv6", "IPV6", "ipv6"]))
        return f"[{tag}:{_ipv6(draw)}]"
    # General-address-literal = Standardized-tag ":" 1*dcontent
    content = draw(st.text(_DCONTENT, min_size=1, max_size=12))
    return f"[X-{_label(draw, False)}:{content}]"


def _mailbox_parts(draw: DrawFn, utf8: bool) -> tuple[str, str]:
    """A valid local part and domain; with ``utf8``, at least one of them
    holds a non-ASCII character."""
    where = draw(st.sampled_from(["local", "domain", "both"])) if utf8 else ""
    local = _local_part(draw, where in ("local", "both"))
    if where in ("domain", "both"):
        domain = _domain_name(draw, utf8=True)
    elif _chance(draw, 5):
        domain = _address_literal(draw)
    else:
        domain = _domain_name(draw)
    return local, domain


def _source_route(draw: DrawFn) -> str:
    """A-d-l: one or two "@" Domain hops of at most 3 short ASCII labels."""
    hops = draw(st.integers(1, 2))
    return ",".join("@" + ".".join(_label(draw, False) for _ in range(3)) for _ in range(hops))


def _exact_domain(draw: DrawFn, octets: int) -> str:
    """An ASCII Domain of exactly ``octets`` octets, labels of at most 63."""
    letter = draw(st.sampled_from(_LET_DIG))
    labels: list[str] = []
    remaining = octets
    while remaining > 63:
        take = 62 if remaining == 64 else 63  # leave at least one octet after the dot
        labels.append(letter * take)
        remaining -= take + 1
    labels.append(letter * remaining)
    return ".".join(labels)


def _exact_local(draw: DrawFn, octets: int, utf8: bool) -> str:
    """A Dot-string local part of exactly ``octets`` octets; in UTF-8, two
    octets a character as far as it goes (so fewer characters than octets)."""
    if not utf8:
        return draw(st.sampled_from(_ATEXT.replace(".", ""))) * octets
    wide = draw(st.sampled_from(_UTF8_LETTERS))
    return wide * (octets // 2) + "a" * (octets % 2)


@st.composite
def _valid_path(draw: DrawFn, utf8: bool, role: str) -> GeneratedPath:
    shape = draw(st.integers(0, 15))
    if shape >= 14 and not utf8:
        # The two paths without a mailbox: "<>" only as a reverse-path
        # (4.1.2), "<Postmaster>" (any case) only as a forward-path (4.1.1.3).
        if role == "reverse":
            return GeneratedPath("<>", valid=True, utf8=False)
        name = draw(st.sampled_from(["Postmaster", "postmaster", "POSTMASTER", "PostMaster"]))
        return GeneratedPath(f"<{name}>", valid=True, utf8=False)
    if shape >= 12:
        # At the limits: a local part of 64 octets in a path of 256.
        local = _exact_local(draw, MAX_LOCAL_PART, utf8)
        domain = _exact_domain(draw, MAX_PATH - 3 - _octets(local))
        return GeneratedPath(f"<{local}@{domain}>", valid=True, utf8=utf8)
    local, domain = _mailbox_parts(draw, utf8)
    route = _source_route(draw) + ":" if _chance(draw, 6) else ""
    text = f"<{route}{local}@{domain}>"
    return GeneratedPath(text, valid=True, utf8=not text.isascii())


# Each flaw makes a path invalid whatever the rest of it is; the first ones
# are the plainest, so a failing example shrinks towards them.
_FLAWS = (
    "no angle brackets",
    "space in the path",
    "special character in a dot-atom local part",
    "misplaced dot in the local part",
    "unbalanced quote",
    "control character",
    "bare CR or LF",
    "bad domain",
    "bad address literal",
    "local part over 64 octets",
    "domain over 255 octets",
    "path over 256 octets",
    "bad source route",
    "path of the other role",
)
_UTF8_FLAWS = ("non-ASCII character in an address literal",)


def _bad_domain(draw: DrawFn, utf8: bool) -> str:
    good = _domain_name(draw, utf8)
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return "-" + good  # a label starts with a hyphen
    if kind == 1:
        labels = good.split(".")
        labels[-1] += "-"  # a label ends with a hyphen
        return ".".join(labels)
    if kind == 2:
        return _insert(draw, good, "_", 1)  # underscore (4.1.2: letters, digits, hyphen)
    if kind == 3:
        return _insert(draw, good, "..", 1) if len(good) > 1 else good + ".." + good
    if kind == 4:
        return good + "."  # a trailing dot
    if kind == 5:
        return "." + good
    return ""  # nothing after the "@"


_BAD_LITERALS = (
    "[256.0.0.1]",
    "[192.0.2]",
    "[192.0.2.1.5]",
    "[192.0.2.0001]",
    "[]",
    "[192.0.2.1",
    "[IPv6:1:2:3:4:5:6:7:8:9]",
    "[IPv6:12345::1]",
    "[IPv6:1::2::3]",
    "[IPv6:1:::2]",
    "[IPv6:fe80::1%eth0]",
    "[IPv6:g::1]",
    "[IPv6:192.0.2.1]",
    "[IPv6:]",
    "[X-tag:]",
    "[tag-:value]",
)
# RFC 5321 4.1.3: in IPv6-comp and IPv6v4-comp, "::" stands for at least two
# groups, so seven groups (or five before an IPv4 address) leave no room for it.
_ONE_GROUP_COMPRESSIONS = (
    "[IPv6:1:2:3:4:5:6:7::]",
    "[IPv6:::2:3:4:5:6:7:8]",
    "[IPv6:1:2:3::5:6:7:8]",
    "[IPv6:1:2:3:4:5::192.0.2.1]",
)


def _invalid_mailbox(draw: DrawFn, flaw: str, utf8: bool) -> str:
    """The text of a path with ``flaw``; the rest of it is valid, and with
    ``utf8`` its local part holds a non-ASCII character."""
    local = _dot_string(draw, utf8)
    domain = _domain_name(draw)
    if flaw == "no angle brackets":
        mailbox = f"{local}@{domain}"
        return draw(st.sampled_from([mailbox, "<" + mailbox, mailbox + ">"]))
    if flaw == "space in the path":
        at = draw(st.sampled_from(["<", "local", "@", ">"]))
        if at == "<":
            return f"< {local}@{domain}>"
        if at == ">":
            return f"<{local}@{domain} >"
        if at == "@":
            return f"<{local} @ {domain}>"
        return f"<{_insert(draw, local, ' ', 1)}@{domain}>"
    if flaw == "special character in a dot-atom local part":
        special = draw(st.sampled_from(_SPECIALS))
        return f"<{_insert(draw, local, special, 1)}@{domain}>"
    if flaw == "misplaced dot in the local part":
        bad = draw(st.sampled_from(["." + local, local + ".", _insert(draw, local, "..", 1)]))
        return f"<{bad}@{domain}>"
    if flaw == "unbalanced quote":
        content = local.replace(".", "")
        bad = draw(
            st.sampled_from(
                ['"' + content, content + '"', f'"{content}"{content}"', f'"{content}\\"']
            )
        )
        return f"<{bad}@{domain}>"
    if flaw == "control character":
        control = draw(st.sampled_from(_CONTROLS))
        if draw(st.booleans()):
            return f'<"{_insert(draw, local, control)}"@{domain}>'  # no control in qtextSMTP
        return f"<{_insert(draw, local, control)}@{domain}>"
    if flaw == "bare CR or LF":
        ending = draw(st.sampled_from(["\r", "\n"]))
        return f"<{_insert(draw, local, ending)}@{domain}>"
    if flaw == "bad domain":
        return f"<{local}@{_bad_domain(draw, False)}>"
    if flaw == "bad address literal":
        return f"<{local}@{draw(st.sampled_from(_BAD_LITERALS + _ONE_GROUP_COMPRESSIONS))}>"
    if flaw == "local part over 64 octets":
        return f"<{_exact_local(draw, draw(st.integers(65, 100)), utf8)}@{domain}>"
    if flaw == "domain over 255 octets":
        return f"<{local}@{_exact_domain(draw, draw(st.integers(256, 300)))}>"
    if flaw == "path over 256 octets":
        long_local = _exact_local(draw, MAX_LOCAL_PART, utf8)
        room = MAX_PATH - 3 - _octets(long_local)  # the domain that would just fit
        return f"<{long_local}@{_exact_domain(draw, draw(st.integers(room + 1, room + 20)))}>"
    if flaw == "bad source route":
        hop = "@" + _domain_name(draw)
        forms = [f"<{hop},{local}@{domain}>", f"<@:{local}@{domain}>"]
        return draw(st.sampled_from([*forms, f"<{hop[1:]}:{local}@{domain}>"]))
    if flaw == "non-ASCII character in an address literal":
        # Digits that are not ASCII: Arabic-Indic one, fullwidth two, superscript three.
        digit = draw(st.sampled_from(["\u0661", "\uff12", "\u00b3"]))
        return f"<{local}@[192.0.2.{digit}]>"
    raise AssertionError(flaw)  # pragma: no cover - every flaw is handled above


@st.composite
def _invalid_path(draw: DrawFn, utf8: bool, role: str) -> GeneratedPath:
    # "<>" and "<Postmaster>" are ASCII: no UTF-8 path has the other role's form.
    flaws = _FLAWS[:-1] + _UTF8_FLAWS if utf8 else _FLAWS
    flaw = draw(st.sampled_from(flaws))
    if flaw == "path of the other role":
        text = "<>" if role == "forward" else "<Postmaster>"
    else:
        text = _invalid_mailbox(draw, flaw, utf8)
    return GeneratedPath(text, valid=False, utf8=not text.isascii(), flaw=flaw)


def paths(
    *,
    valid: bool | None = None,
    utf8: bool | None = None,
    role: Literal["forward", "reverse"] = "forward",
) -> SearchStrategy[GeneratedPath]:
    """Paths for RCPT TO (``role="forward"``) or MAIL FROM (``"reverse"``),
    as ``GeneratedPath`` values.

    ``valid``: True for valid paths only, False for invalid ones only, None
    for both. ``utf8``: True for paths with non-ASCII characters only (valid
    ones follow RFC 6531 3.3 and are acceptable only with SMTPUTF8), False for
    ASCII only, None for both.

    Valid paths: dot-atom and quoted local parts (quoted pairs, spaces, "@" and
    ">" inside quotes, the empty ``""``), domains of 1 to 4 labels, IPv4,
    IPv6 (full, compressed, with an IPv4 tail) and general address literals,
    source routes, a local part of 64 octets in a path of 256; ``<>`` as a
    reverse-path and ``<Postmaster>`` in any case as a forward-path. Invalid
    ones have one ``flaw`` each (missing brackets, spaces, specials or
    controls in a dot-atom, misplaced dots, unbalanced quotes, bad domains and
    address literals, over-long parts measured in octets, bad source routes,
    and ``<>``/``<Postmaster>`` in the wrong role).

    >>> from hypothesis import given
    >>> @given(paths(role="reverse", utf8=False))
    ... def test_mail_from(path):
    ...     line = b"MAIL FROM:" + path.octets + b"\\r\\n"
    ...     assert line.endswith(b"\\r\\n") and path.valid == (path.flaw == "")
    >>> test_mail_from()
    """
    if role not in ("forward", "reverse"):
        raise ValueError(f"role must be 'forward' or 'reverse': {role!r}")
    utf8_choices = [False, True] if utf8 is None else [utf8]
    valid_choices = [True, False] if valid is None else [valid]
    return st.one_of(
        *(
            (_valid_path(flag, role) if good else _invalid_path(flag, role))
            for good in valid_choices
            for flag in utf8_choices
        )
    )


# -- commands -------------------------------------------------------------------------

KNOWN_VERBS = (
    "HELO",
    "EHLO",
    "MAIL",
    "RCPT",
    "DATA",
    "RSET",
    "NOOP",
    "QUIT",
    "VRFY",
    "EXPN",
    "HELP",
    "STARTTLS",
    "AUTH",
    "BDAT",
)
# Verbs no smtpstate server knows (obsolete or made up). HTTP methods are left
# out: they end the session at once (see docs/security.md).
UNKNOWN_VERBS = ("ETRN", "TURN", "SEND", "SOML", "SAML", "XEXCH50", "X-FOO", "XYZZY")


def _cased(draw: DrawFn, word: str) -> str:
    """``word`` in a drawn case: SMTP verbs and keywords ignore case (RFC 5321 2.4)."""
    how = draw(st.sampled_from(["upper", "lower", "title", "mixed"]))
    if how == "upper":
        return word.upper()
    if how == "lower":
        return word.lower()
    if how == "title":
        return word.title()
    return "".join(c.lower() if i % 2 else c.upper() for i, c in enumerate(word))


def _xtext(draw: DrawFn, max_size: int = 30) -> str:
    """RFC 3461 4 xtext: printable ASCII but "+" and "=", or "+" HEX HEX."""
    plain = "".join(chr(c) for c in range(33, 127) if chr(c) not in "+=")
    item = st.one_of(
        st.sampled_from(plain), st.sampled_from(["+2B", "+3D", "+20"])
    )
    return "".join(draw(st.lists(item, min_size=1, max_size=max_size)))


def _mechanism_names(extensions: Extensions) -> list[str]:
    names = [m if isinstance(m, str) else m.name for m in extensions.auth]
    return [name.upper() for name in names] or ["PLAIN", "LOGIN", "CRAM-MD5"]


def _mail_params(draw: DrawFn, extensions: Extensions, utf8_path: bool) -> list[str]:
    """Well-formed MAIL parameters that ``extensions`` define, each at most once."""
    options: list[str] = []
    if extensions.size is not None:
        options.append(f"{_cased(draw, 'SIZE')}={draw(st.integers(0, extensions.size or 10**9))}")
    bodies = ["7BIT"] + ["8BITMIME"] * extensions.eightbitmime
    bodies += ["BINARYMIME"] * extensions.binarymime
    if extensions.eightbitmime or extensions.binarymime:
        options.append(f"BODY={_cased(draw, draw(st.sampled_from(bodies)))}")
    if extensions.dsn:
        options.append(f"RET={draw(st.sampled_from(['FULL', 'HDRS', 'hdrs']))}")
        options.append(f"ENVID={_xtext(draw)}")
    if extensions.auth:
        options.append("AUTH=" + draw(st.sampled_from(["<>", "user+40example.org"])))
    if extensions.mt_priority:
        options.append(f"MT-PRIORITY={draw(st.integers(-9, 9))}")
    if extensions.requiretls:
        options.append("REQUIRETLS")  # accepted under TLS only (RFC 8689)
    options.extend(f"{name}=1" for name in extensions.extra_mail_params)
    chosen = draw(st.lists(st.sampled_from(options), unique=True)) if options else []
    if extensions.smtputf8 and (utf8_path or draw(st.booleans())):
        chosen.append(_cased(draw, "SMTPUTF8"))
    return chosen


def _rcpt_params(draw: DrawFn, extensions: Extensions) -> list[str]:
    options: list[str] = []
    if extensions.dsn:
        notify = draw(
            st.sampled_from(["NEVER", "SUCCESS", "FAILURE,DELAY", "SUCCESS,FAILURE,DELAY"])
        )
        options += [f"NOTIFY={notify}", f"ORCPT=rfc822;{_xtext(draw)}"]
    options.extend(f"{name}=1" for name in extensions.extra_rcpt_params)
    return draw(st.lists(st.sampled_from(options), unique=True)) if options else []


def _path_text(draw: DrawFn, role: Literal["forward", "reverse"], utf8: bool) -> str:
    return draw(paths(valid=True, utf8=utf8, role=role)).text


@st.composite
def _well_formed(draw: DrawFn, verb: str, extensions: Extensions) -> bytes:
    """One well-formed line for ``verb`` (as RFC 5321 4.1.1 and the
    extensions spell it), at most 512 octets plus what the extensions allow."""
    utf8 = extensions.smtputf8 and _chance(draw, 4)
    name = _cased(draw, verb)
    if verb in ("HELO", "EHLO"):
        literal = verb == "EHLO" and _chance(draw, 5)
        argument = _address_literal(draw) if literal else _domain_name(draw, utf8)
        line = f"{name} {argument}"
    elif verb == "MAIL":
        path = _path_text(draw, "reverse", utf8)
        params = _mail_params(draw, extensions, not path.isascii())
        line = " ".join([f"{name} {_cased(draw, 'FROM')}:{path}", *params])
    elif verb == "RCPT":
        path = _path_text(draw, "forward", utf8)
        line = " ".join([f"{name} {_cased(draw, 'TO')}:{path}", *_rcpt_params(draw, extensions)])
    elif verb in ("DATA", "RSET", "QUIT", "STARTTLS"):
        line = name
    elif verb in ("NOOP", "HELP"):
        line = name + draw(st.sampled_from(["", " MAIL", " something"]))
    elif verb in ("VRFY", "EXPN"):
        argument = draw(st.sampled_from(["postmaster", "Smith", "<user@example.org>"]))
        if utf8:
            argument = draw(st.text(_UTF8_LETTERS, min_size=1, max_size=8))
        line = f"{name} {argument}"
    elif verb == "AUTH":
        mechanism = draw(st.sampled_from(_mechanism_names(extensions)))
        line = f"{name} {mechanism}"
        if mechanism == "PLAIN" and draw(st.booleans()):
            line += " " + base64.b64encode(b"\0user\0secret").decode()
        elif mechanism == "LOGIN" and draw(st.booleans()):
            line += " " + base64.b64encode(b"user").decode()
    elif verb == "BDAT":
        last = f" {_cased(draw, 'LAST')}" if draw(st.booleans()) else ""
        line = f"{name} {draw(st.integers(0, 64))}{last}"
    else:
        line = name + draw(st.sampled_from(["", " argument", " example.org"]))
    return line.encode() + b"\r\n"


# Per verb: lines that break its syntax (RFC 5321 4.1.1, 4.1.2, RFC 3030 2,
# RFC 4954 4), each refused whatever the server's extensions.
_VERB_MALFORMATIONS: dict[str, tuple[str, ...]] = {
    "HELO": ("HELO", "HELO ", "HELO -bad.example", "HELO a_b.example", "HELO [192.0.2.1]"),
    "EHLO": ("EHLO", "EHLO  ", "EHLO bad..example", "EHLO [300.1.1.1]", "EHLO [IPv6:g::1]"),
    "MAIL": (
        "MAIL FROM<user@example.org>",
        "MAIL FROM <user@example.org>",
        "MAIL FROM :<user@example.org>",
        "MAIL  FROM:<user@example.org>",
        "MAIL TO:<user@example.org>",
        "MAIL",
        "MAIL FROM:",
        "MAIL FROM:<user@example.org>SIZE=10",
        "MAIL FROM:<user@example.org> SIZE=",
        "MAIL FROM:<user@example.org> =10",
        "MAIL FROM:<user@example.org> BODY=7BIT BODY=7BIT",
        "MAIL FROM:<user@example.org> XNOSUCHPARAM=1",
    ),
    "RCPT": (
        "RCPT TO<user@example.org>",
        "RCPT TO <user@example.org>",
        "RCPT  TO:<user@example.org>",
        "RCPT FROM:<user@example.org>",
        "RCPT",
        "RCPT TO:",
        "RCPT TO:<>",
        "RCPT TO:<user@example.org> =1",
        "RCPT TO:<user@example.org> XNOSUCHPARAM=1",
    ),
    "DATA": ("DATA now", "DATA 10"),
    "RSET": ("RSET all",),
    "QUIT": ("QUIT now",),
    "STARTTLS": ("STARTTLS now",),
    "VRFY": ("VRFY", "VRFY   "),
    "EXPN": ("EXPN",),
    "AUTH": ("AUTH", "AUTH PL@IN", "AUTH " + "X" * 21, "AUTH PLAIN abc def"),
    "BDAT": ("BDAT", "BDAT x", "BDAT -1", "BDAT 10 NOTLAST", "BDAT 10 LAST x", "BDAT " + "9" * 21),
}


@st.composite
def _malformed(draw: DrawFn, verb: str) -> bytes:
    """A line with ``verb`` that a server must refuse (when the verb is in
    sequence): its own malformations, or one any line can have."""
    own = _VERB_MALFORMATIONS.get(verb, ())
    kinds = ["too long", "control character", "bare CR or LF", "not UTF-8"]
    kind = draw(st.sampled_from([*(["own"] if own else []), *kinds]))
    if kind == "own":
        line = draw(st.sampled_from(own))
        return (_cased(draw, verb) + line[len(verb) :]).encode() + b"\r\n"
    base = draw(_well_formed(verb, Extensions())).removesuffix(b"\r\n")
    if kind == "too long":
        # RFC 5321 4.5.3.1.4: 512 octets with the CRLF. MAIL and RCPT may
        # grow by what their extensions allow (up to 694 octets), so theirs
        # are longer than any server allows without raising the limit.
        least = 1300 if verb in ("MAIL", "RCPT") else 513
        length = draw(st.integers(least, least + 600))
        if verb in ("MAIL", "RCPT"):
            keyword = b"FROM:<" if verb == "MAIL" else b"TO:<"
            filler = b"a" * (length - len(verb) - len(keyword) - 16)
            return verb.encode() + b" " + keyword + filler + b"@example.org>\r\n"
        return base + b" " + b"x" * (length - len(base) - 3) + b"\r\n"
    if kind == "control character":
        piece = draw(st.sampled_from(_CONTROLS)).encode()
    elif kind == "bare CR or LF":
        piece = draw(st.sampled_from([b"\r", b"\n"]))
    else:
        piece = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"]))
    at = draw(st.integers(0, len(base)))
    return base[:at] + piece + base[at:] + b"\r\n"


def commands(
    *,
    verbs: Iterable[str] | None = None,
    malformed: bool | None = None,
    extensions: Extensions | None = None,
) -> SearchStrategy[bytes]:
    """Single command lines, each ending in its only CRLF.

    ``verbs``: the verbs to use (any case); the default is every verb of
    ``KNOWN_VERBS`` (HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY,
    EXPN, HELP, STARTTLS, AUTH, BDAT) and of ``UNKNOWN_VERBS``. A verb the
    strategy does not know gets a plain argument or none.
    ``malformed``: False for well-formed lines only, True for malformed ones
    only, None for both.
    ``extensions``: the server's ``Extensions``; well-formed MAIL and RCPT
    lines carry only parameters they define (SIZE, BODY, SMTPUTF8, DSN's, AUTH=,
    MT-PRIORITY, REQUIRETLS, which is valid under TLS only, and the extra ones),
    AUTH names their mechanisms, and with ``smtputf8`` some lines hold UTF-8.

    Well-formed lines use every case of verb and keyword, valid paths from
    ``paths()``, address literals after EHLO, AUTH with and without an initial
    response, ``BDAT n [LAST]`` (the line only: the n octets that follow it
    are not part of it). Malformed lines are refused by a server that has the
    verb in sequence: a missing or misplaced colon, spaces where none may be,
    a missing or extra argument, an invalid domain, path or parameter, a line
    over 512 octets (for MAIL and RCPT over 1300, past any extension's
    allowance), a control character, a bare CR or LF, octets that are not
    UTF-8. Note that STARTTLS, AUTH, BDAT and DATA change how a server reads
    the bytes that follow them.

    >>> from hypothesis import given
    >>> @given(commands(verbs=["MAIL", "RCPT"], malformed=False))
    ... def test_line(line):
    ...     assert line.endswith(b"\\r\\n") and line.count(b"\\r\\n") == 1
    >>> test_line()
    """
    extensions = Extensions() if extensions is None else extensions
    chosen = [v.upper() for v in verbs] if verbs is not None else [*KNOWN_VERBS, *UNKNOWN_VERBS]
    if not chosen:
        raise ValueError("verbs must name at least one verb")
    makers: list[SearchStrategy[bytes]] = []
    for verb in chosen:
        if malformed is not True:
            makers.append(_well_formed(verb, extensions))
        if malformed is not False:
            makers.append(_malformed(verb))
    return st.one_of(*makers)


# -- bodies ---------------------------------------------------------------------------

_PRINTABLE = "".join(chr(c) for c in range(32, 127))


def _repeated(length: int) -> SearchStrategy[bytes]:
    """``length`` octets of one repeated printable character: long lines are
    cheap to make and shrink in one step."""
    return st.sampled_from(_PRINTABLE.replace(".", "x")).map(lambda c: c.encode() * length)


def _clean_lines(eight_bit: bool) -> list[SearchStrategy[bytes]]:
    lines = [
        st.text(_PRINTABLE, max_size=78).map(str.encode),
        st.just(b""),
        st.sampled_from([b".", b"..", b". ", b".x", b"...", b".\t"]),
        st.text(_PRINTABLE, max_size=20).map(lambda t: b"." + t.encode()),
        st.text(_PRINTABLE, max_size=40).map(lambda t: b"Subject: " + t.encode()),
        st.integers(990, 998).flatmap(_repeated),  # up to the limit: 998 + CRLF
    ]
    if eight_bit:
        lines += [
            st.text(_PRINTABLE + _UTF8_LOCAL, max_size=40).map(str.encode),
            st.lists(st.integers(0x80, 0xFF), min_size=1, max_size=20).map(bytes),
        ]
    return lines


_HOSTILE_LINES = [
    st.integers(999, 2100).flatmap(_repeated),  # over 1000 with its CRLF (4.5.3.1.6)
    st.tuples(st.text(_PRINTABLE, max_size=10), st.sampled_from(["\r", "\n", "\0"]))
    .map(lambda pair: (pair[0] + pair[1] + pair[0]).encode()),
    # End-of-data look-alikes that are not CRLF "." CRLF (SMTP smuggling).
    st.sampled_from([b"x\n.\nx", b"x\n.\r\nx", b"x\r.\r\nx", b"\r\n.\nx", b"x\r\n.\r", b"\n."]),
    st.binary(max_size=40),
]


@st.composite
def _body(draw: DrawFn, hostile: bool, eight_bit: bool, max_lines: int) -> bytes:
    kinds = _clean_lines(eight_bit) + (_HOSTILE_LINES if hostile else [])
    lines = draw(st.lists(st.one_of(kinds), max_size=max_lines))
    if not lines:
        return b""
    ending = b"\r\n"
    if hostile:
        ending = draw(st.sampled_from([b"\r\n", b"", b"\n", b"\r"]))
    return b"\r\n".join(lines) + ending


def bodies(
    *, hostile: bool = False, eight_bit: bool = True, max_lines: int = 20
) -> SearchStrategy[bytes]:
    """Message contents as the server should receive them: NOT dot-stuffed
    (use ``data_octets()`` for what the client sends after the 354).

    A clean body (``hostile=False``) is what a well-behaved client sends: empty,
    or up to ``max_lines`` lines each ended by CRLF, of at most 998 octets (RFC
    5321 4.5.3.1.6), some of them starting with a dot, one maybe a lone ".",
    header-like lines, lines at the length limit; with ``eight_bit`` (8BITMIME)
    also UTF-8 text and other 8-bit octets, never NUL. ``hostile=True`` adds
    lines that a server must flag or cope with: over 998 octets, bare CR, bare
    LF, NUL, end-of-data look-alikes (``\\n.\\n``, ``\\r.\\r\\n``...) and any
    octets, and bodies that do not end with CRLF.

    >>> from hypothesis import given
    >>> @given(bodies())
    ... def test_body(body):
    ...     assert body == b"" or body.endswith(b"\\r\\n")
    ...     assert data_octets(body).endswith(b".\\r\\n")
    >>> test_body()
    """
    if max_lines < 0:
        raise ValueError("max_lines must be at least 0")
    return _body(hostile, eight_bit, max_lines)


def dot_stuff(body: bytes) -> bytes:
    """``body`` with a dot added before each line that starts with one (RFC
    5321 4.5.2), lines being ended by CRLF only, as a server unstuffs them.

    >>> dot_stuff(b".hidden\\r\\n.\\r\\nend\\r\\n")
    b'..hidden\\r\\n..\\r\\nend\\r\\n'
    """
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def data_octets(body: bytes) -> bytes:
    """What a client writes after the 354 to send ``body``: the body
    dot-stuffed, a CRLF if it does not end with one (the server then receives
    ``body + b"\\r\\n"``), and the end-of-data line ``.`` CRLF (RFC 5321 4.1.1.4).

    >>> data_octets(b"Hi\\r\\n.\\r\\n")
    b'Hi\\r\\n..\\r\\n.\\r\\n'
    >>> data_octets(b"")
    b'.\\r\\n'
    """
    ending = b"\r\n" if body and not body.endswith(b"\r\n") else b""
    return dot_stuff(body) + ending + b".\r\n"


# -- splits -----------------------------------------------------------------------------


def _cuts_that_matter(data: bytes) -> list[int]:
    """Offsets between the CR and LF of each CRLF, and inside each CRLF "." CRLF."""
    offsets: set[int] = set()
    at = data.find(b"\r\n")
    while at >= 0:
        offsets.add(at + 1)
        at = data.find(b"\r\n", at + 1)
    at = data.find(b"\r\n.\r\n")
    while at >= 0:
        offsets.update(range(at + 1, at + 5))
        at = data.find(b"\r\n.\r\n", at + 1)
    return sorted(offsets)


def splits(data: bytes) -> SearchStrategy[list[bytes]]:
    """Ways ``data`` can arrive: lists of non-empty chunks whose concatenation
    is ``data`` (``[]`` for ``b""``: an empty chunk would mean EOF to
    ``ServerConnection.receive_data``).

    All at once, one octet at a time, or cut at random offsets mixed with the
    offsets that matter to a line reader: between CR and LF, and inside
    CRLF "." CRLF. Shrinks towards ``[data]``.

    >>> from hypothesis import given
    >>> @given(splits(b"DATA\\r\\n"))
    ... def test_chunks(chunks):
    ...     assert b"".join(chunks) == b"DATA\\r\\n" and all(chunks)
    >>> test_chunks()
    """
    if not data:
        return st.just([])
    if len(data) == 1:
        return st.just([data])
    matter = _cuts_that_matter(data)
    random_cuts = st.sets(st.integers(1, len(data) - 1))
    nothing: set[int] = set()
    chosen_cuts = st.sets(st.sampled_from(matter)) if matter else st.just(nothing)
    cut_lists = st.tuples(random_cuts, chosen_cuts).map(
        lambda pair: _cut(data, sorted(pair[0] | pair[1]))
    )
    # Built when drawn, not here: a long ``data`` makes a long list.
    one_by_one = st.just(data).map(lambda whole: [whole[i : i + 1] for i in range(len(whole))])
    return st.one_of(st.just([data]), cut_lists, one_by_one)


def _cut(data: bytes, offsets: list[int]) -> list[bytes]:
    bounds = [0, *offsets, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


# -- client sessions ------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """Octets the client sends as a unit, and how they may share a write."""

    octets: bytes
    ends_group: bool = False  # RFC 2920 3.1: the client must wait after it
    starts_write: bool = False  # message content after DATA, sent after the 354


_GROUP_ENDERS = frozenset({"EHLO", "HELO", "DATA", "VRFY", "EXPN", "NOOP", "HELP", "QUIT"})


def _command(line: str) -> _Piece:
    return _Piece(line.encode() + b"\r\n", ends_group=line.split(" ")[0].upper() in _GROUP_ENDERS)


def _mistake(draw: DrawFn) -> _Piece:
    """A command a careless client sends: malformed, unknown or out of place."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return _Piece(draw(commands(malformed=True)), ends_group=True)
    if kind == 1:
        return _command(draw(st.sampled_from(["RCPT TO:<early@example.org>", "DATA", "XYZZY"])))
    if kind == 2:
        return _command(f"RCPT TO:{draw(paths(valid=False, utf8=False)).text}")
    return _command(f"MAIL FROM:{draw(paths(valid=False, utf8=False, role='reverse')).text}")


@st.composite
def _transaction(
    draw: DrawFn,
    extensions: Extensions,
    extended: bool,
    mistakes: bool,
    max_recipients: int,
    message_bodies: SearchStrategy[bytes],
) -> list[_Piece]:
    pieces: list[_Piece] = []
    if mistakes and _chance(draw, 6):
        pieces.append(_mistake(draw))
    if _chance(draw, 8):
        pieces.append(_command(draw(st.sampled_from(["NOOP", "RSET"]))))
    utf8 = extended and extensions.smtputf8 and _chance(draw, 3)
    body = draw(message_bodies)
    bdat = extended and extensions.chunking and draw(st.booleans())
    params: list[str] = []
    if extended:
        if extensions.size is not None and draw(st.booleans()):
            params.append(f"SIZE={len(body)}")
        if bdat and extensions.binarymime and draw(st.booleans()):
            params.append("BODY=BINARYMIME")
        elif extensions.eightbitmime and not body.isascii():
            params.append("BODY=8BITMIME")
        if utf8:
            params.append("SMTPUTF8")
    if mistakes and _chance(draw, 8):
        reverse = f"MAIL FROM:{draw(paths(valid=False, utf8=False, role='reverse')).text}"
    else:
        reverse = f"MAIL FROM:{draw(paths(valid=True, utf8=utf8, role='reverse')).text}"
    pieces.append(_command(" ".join([reverse, *params])))
    recipients = draw(st.integers(1, max_recipients))
    if mistakes and _chance(draw, 8):
        recipients = 0  # DATA with no recipient
    for _ in range(recipients):
        valid = not (mistakes and _chance(draw, 8))
        path = draw(paths(valid=valid, utf8=utf8 and valid, role="forward"))
        pieces.append(_command(f"RCPT TO:{path.text}"))
    if mistakes and _chance(draw, 10):
        pieces.append(_command(draw(st.sampled_from(["RSET", "MAIL FROM:<again@example.org>"]))))
    if bdat:
        inner = draw(st.sets(st.integers(1, len(body) - 1), max_size=2)) if len(body) > 1 else set()
        cuts = [0, *sorted(inner), len(body)]
        for index, (start, end) in enumerate(itertools.pairwise(cuts)):
            last = " LAST" if index == len(cuts) - 2 else ""
            chunk = f"BDAT {end - start}{last}\r\n".encode() + body[start:end]
            pieces.append(_Piece(chunk))
    else:
        pieces.append(_command("DATA"))
        pieces.append(_Piece(data_octets(body), starts_write=True))
    return pieces


@st.composite
def _session(
    draw: DrawFn,
    extensions: Extensions,
    pipelining: bool | None,
    mistakes: bool,
    max_transactions: int,
    max_recipients: int,
    message_bodies: SearchStrategy[bytes],
) -> list[bytes]:
    pieces: list[_Piece] = []
    if mistakes and _chance(draw, 5):
        pieces.append(_mistake(draw))
    extended = not _chance(draw, 8)
    hello = "EHLO" if extended else "HELO"
    if mistakes and _chance(draw, 6):
        pieces.append(_Piece(draw(commands(verbs=[hello], malformed=True)), ends_group=True))
    literal = extended and _chance(draw, 6)
    pieces.append(_command(f"{hello} {_address_literal(draw) if literal else _domain_name(draw)}"))
    first_group = len(pieces)
    for _ in range(draw(st.integers(0, max_transactions))):
        pieces += draw(
            _transaction(extensions, extended, mistakes, max_recipients, message_bodies)
        )
    if _chance(draw, 5):
        tail = ["NOOP", "VRFY postmaster", "RSET"] + ["HELP"] * extensions.help
        pieces.append(_command(draw(st.sampled_from(tail))))
    if not _chance(draw, 8):
        pieces.append(_command("QUIT"))
    wanted = draw(st.booleans()) if pipelining is None else pipelining
    grouped = extended and extensions.pipelining and wanted
    return _writes(draw, pieces, first_group, grouped, mistakes)


def _writes(
    draw: DrawFn, pieces: list[_Piece], first_group: int, grouped: bool, mistakes: bool
) -> list[bytes]:
    """Pieces into writes: one each, or, from ``pieces[first_group]`` on (after
    the EHLO), as RFC 2920 3.1 groups them: a command that ends a group ends
    its write, and content after DATA starts one. A careless client sometimes
    sends ahead where it must wait."""
    writes: list[bytearray] = []
    for index, piece in enumerate(pieces):
        join = grouped and index >= first_group and not piece.starts_write
        if join and pieces[index - 1].ends_group:
            join = mistakes and _chance(draw, 10)  # sending ahead
        if join and draw(st.integers(0, 3)) > 0:
            writes[-1] += piece.octets
        else:
            writes.append(bytearray(piece.octets))
    return [bytes(write) for write in writes]


def client_sessions(
    *,
    extensions: Extensions | None = None,
    pipelining: bool | None = None,
    mistakes: bool = True,
    max_transactions: int = 3,
    max_recipients: int = 3,
    message_bodies: SearchStrategy[bytes] | None = None,
) -> SearchStrategy[list[bytes]]:
    """Whole client sessions, as the list of writes a client makes after the
    greeting (no empty write: close the connection after the last one).

    A session is EHLO (sometimes HELO, sometimes an address literal), up to
    ``max_transactions`` mail transactions (MAIL, 1 to ``max_recipients``
    RCPT, then DATA and the dot-stuffed body from ``message_bodies``, default
    ``bodies()``, or BDAT chunks when ``extensions.chunking``), now and then
    NOOP, RSET, VRFY (or HELP when ``extensions.help``), and mostly QUIT at
    the end. MAIL carries SIZE, BODY and SMTPUTF8 (with UTF-8 paths) when
    ``extensions`` offer them.

    ``mistakes=True`` mixes in what careless clients do: commands before EHLO,
    malformed lines, unknown verbs, invalid paths, RCPT or DATA out of order,
    a transaction with no recipient, a second MAIL, RSET mid-transaction, and
    (when pipelining) commands sent ahead of a reply the client must wait for.

    ``pipelining``: after an EHLO, when ``extensions.pipelining``, the client
    groups commands in one write as RFC 2920 3.1 allows (EHLO, DATA, VRFY,
    EXPN, NOOP, HELP and QUIT end a group; the content after DATA starts
    one, and the next transaction may follow it); True always, False never,
    None for either. Without mistakes, such a session passes a server with
    ``Options(strict_pipelining=True)`` that accepts its commands.

    The writes are precomputed, so they are what a client that never changes
    course on a reply would send: it waits for the replies to one write before
    the next (feed a write, answer what it holds, then feed the next), but
    whatever the replies say, it goes on. So when the server refuses DATA, the
    next write, the message content, is read as commands, line by line, as a
    real server reads it from such a client; the engine must cope (unknown
    commands, the error budget, a 421).

    >>> from hypothesis import given
    >>> @given(client_sessions(mistakes=False, pipelining=False))
    ... def test_session(writes):
    ...     assert writes[0].upper().startswith((b"EHLO ", b"HELO "))
    >>> test_session()
    """
    if max_transactions < 0 or max_recipients < 1:
        raise ValueError("max_transactions must be at least 0 and max_recipients at least 1")
    return _session(
        Extensions() if extensions is None else extensions,
        pipelining,
        mistakes,
        max_transactions,
        max_recipients,
        bodies() if message_bodies is None else message_bodies,
    )
