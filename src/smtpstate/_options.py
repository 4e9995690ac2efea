"""Options: the limits and policies of a connection, fixed when it is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._data import BodyPolicy, LongLinePolicy

__all__ = ["Options"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """How a ``ServerConnection`` frames, limits and gates a session.

    Frozen and checked on construction (``ValueError``), so one instance can
    serve every connection and a value cannot half-apply mid-session.

    ``max_command_line`` (at least 512, RFC 5321 4.5.3.1.4; MAIL and RCPT get
    the room their enabled parameters need on top), ``max_text_line`` (at least
    1000, 4.5.3.1.6) and ``max_recipients`` (at least 100, 4.5.3.1.8) are the
    limits. ``bad_line_endings`` ("reject", "close" or "pass") and
    ``long_lines`` ("reject" or "pass") are the body policies. ``max_errors``
    refused commands end the session with 421 (None: no limit).
    ``require_tls`` (RFC 3207 4) and ``require_auth`` (RFC 4954 6) refuse mail
    with 530 until TLS or AUTH; ``strict_pipelining`` ends a session that
    sends ahead where it must wait (RFC 2920 3.1); ``implicit_tls`` starts the
    session under TLS (port 465, RFC 8314 3); ``lmtp`` speaks LMTP (RFC 2033);
    ``proxy_protocol`` reads a PROXY header before the greeting.
    """

    max_command_line: int = 512
    max_text_line: int = 1000
    max_recipients: int = 100
    bad_line_endings: BodyPolicy = "reject"
    long_lines: LongLinePolicy = "reject"
    max_errors: int | None = 20
    require_tls: bool = False
    require_auth: bool = False
    strict_pipelining: bool = False
    implicit_tls: bool = False
    lmtp: bool = False
    proxy_protocol: bool = False
    # The checks each verb goes through under these options, by the id of the
    # Extensions (see _rules.plan): made once, on the first connection.
    _plans: dict[int, tuple[Any, Any]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if self.max_command_line < 512:
            raise ValueError("max_command_line must be at least 512 (RFC 5321 4.5.3.1.4)")
        if self.max_text_line < 1000:
            raise ValueError("max_text_line must be at least 1000 (RFC 5321 4.5.3.1.6)")
        if self.max_recipients < 100:
            raise ValueError("max_recipients must be at least 100 (RFC 5321 4.5.3.1.8)")
        if self.bad_line_endings not in ("reject", "close", "pass"):
            raise ValueError(
                f"bad_line_endings must be reject, close or pass: {self.bad_line_endings!r}"
            )
        if self.long_lines not in ("reject", "pass"):
            raise ValueError(f"long_lines must be reject or pass: {self.long_lines!r}")
        if self.max_errors is not None and self.max_errors < 1:
            raise ValueError("max_errors must be None or at least 1")
