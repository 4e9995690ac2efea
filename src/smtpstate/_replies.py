"""Replies: what the application answers, validated on construction.

RFC 5321 4.2 (reply format), 4.5.3.1.5 (512-octet reply lines), RFC 2034 and
RFC 3463 (enhanced status codes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._abnf import SERVER_NAME
from ._errors import LocalProtocolError

__all__ = ["Reply"]

# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the code and CRLF.
MAX_REPLY_LINE = 512

# RFC 3463 2: class "." subject "." detail; subject 1*3digit, detail 1*3digit, no
# leading zeros.
_ENHANCED = re.compile(r"([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")
# How many renderings of one Reply are kept (EHLO's differ with TLS and the
# extensions: a handful at most in practice).
_MAX_RENDERINGS = 8
# Control characters (C0 and DEL) never appear in reply text: CR and LF would let the
# application inject reply lines, NUL breaks clients.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: a code, its text (a string or a list of lines), and an
    optional enhanced status code (``"2.1.0"``).

    When the connection has ENHANCEDSTATUSCODES enabled and ``enhanced`` is None,
    the connection adds ``X.0.0`` (X the code's class) to 2xx, 4xx and 5xx replies
    (RFC 2034 4), except the greeting and the HELO/EHLO replies.
    """

    code: int
    text: str | Sequence[str] = ""
    enhanced: str | None = None
    lines: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # The wire bytes, made on first use and kept by (enhanced codes, extra lines):
    # applications send the same Reply constants again and again, EHLO's too.
    _wire: dict[bool | tuple[bool, tuple[str, ...]], bytes] = field(
        init=False, repr=False, compare=False
    )
    # The first word of the text when it is a Domain or an address literal, else
    # "" (None until asked): what names the server in a greeting or EHLO reply.
    _name: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # RFC 5321 4.2: the first digit is 2 to 5 and the second 0 to 5.
        if type(self.code) is not int or not 200 <= self.code <= 599 or self.code // 10 % 10 > 5:
            raise LocalProtocolError(
                f"reply code must be an int from 200 to 559, not {self.code!r}"
            )
        lines = (self.text,) if isinstance(self.text, str) else tuple(self.text)
        if not lines:
            lines = ("",)
        for line in lines:
            if not isinstance(line, str):
                raise LocalProtocolError(f"reply text must be str, not {type(line).__name__}")
            if _CONTROL.search(line):
                raise LocalProtocolError(f"reply text has a control character: {line!r}")
        if self.enhanced is not None:
            match = _ENHANCED.fullmatch(self.enhanced)
            if match is None:
                raise LocalProtocolError(f"malformed enhanced status code {self.enhanced!r}")
            if match[1] != str(self.code)[0]:
                raise LocalProtocolError(
                    f"enhanced status code {self.enhanced} does not match reply code {self.code}"
                )
        object.__setattr__(self, "lines", lines)
        object.__setattr__(self, "_wire", {})
        object.__setattr__(self, "_name", None)

    @property
    def reply_class(self) -> int:
        """The first digit: 2 success, 3 intermediate, 4 transient, 5 permanent."""
        return self.code // 100

    def _server_name(self) -> str:
        """The first word of the first line when it is a Domain or an address
        literal (RFC 5321 4.1.2), the way a greeting or an EHLO reply names the
        server (4.2, 4.1.1.1); else ``""``."""
        name = self._name
        if name is None:
            word = self.lines[0].partition(" ")[0]
            name = word if SERVER_NAME.fullmatch(word) else ""
            object.__setattr__(self, "_name", name)
        return name

    def to_bytes(self, enhanced_codes: bool = False, extra_lines: Sequence[str] = ()) -> bytes:
        """The reply as it goes on the wire.

        ``enhanced_codes`` puts the enhanced status code (or its X.0.0 default) at the
        start of every line; ``extra_lines`` come after the text (EHLO keywords).
        Lines too long for 512 octets are split at spaces where possible.
        """
        # Keyed by the flag alone when there are no extra lines: the usual case.
        key = (enhanced_codes, tuple(extra_lines)) if extra_lines else enhanced_codes
        wire = self._wire.get(key)
        if wire is None:
            wire = self._render(bool(enhanced_codes), extra_lines)
            if len(self._wire) < _MAX_RENDERINGS:
                self._wire[key] = wire
        return wire

    def _render(self, enhanced_codes: bool, extra_lines: Sequence[str]) -> bytes:
        prefix = ""
        if enhanced_codes and self.code // 100 != 3:
            prefix = (self.enhanced or f"{self.code // 100}.0.0") + " "
        room = MAX_REPLY_LINE - 4 - 2 - len(prefix.encode())
        texts: list[str] = []
        for line in (*self.lines, *extra_lines):
            # RFC 4954 4: a 334 challenge is one line of base64, however long.
            texts.extend([line] if self.code == 334 else _split_line(line, room))
        code = str(self.code)
        lines = []
        for text in texts:
            content = f"{prefix}{text}" if text else prefix.rstrip()
            lines.append(f"{code}-{content}\r\n")
        # RFC 5321 4.2: Reply-code [ SP textstring ] CRLF ends the reply; RFC 4954 4
        # still wants "334 " for an empty challenge.
        lines[-1] = f"{code} {content}\r\n" if content or self.code == 334 else f"{code}\r\n"
        return "".join(lines).encode()


def _split_line(line: str, room: int) -> list[str]:
    """Cut one text line into pieces of at most ``room`` octets (UTF-8), at a
    space when there is one, else anywhere between characters."""
    pieces: list[str] = []
    while len(line.encode()) > room:
        cut = room
        while len(line[:cut].encode()) > room:
            cut -= 1
        space = line.rfind(" ", 1, cut + 1)
        if space > 0:
            pieces.append(line[:space])
            line = line[space + 1 :]
        else:
            pieces.append(line[:cut])
            line = line[cut:]
    pieces.append(line)
    return pieces
