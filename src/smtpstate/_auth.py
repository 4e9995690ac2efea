"""The AUTH command and its SASL exchange (RFC 4954 4), on top of the
mechanisms in ``_sasl``: each step turns one client line into the event that
answers it, and says which mechanism (if any) waits for the next line.

The connection keeps the session rules (503 before EHLO or after a successful
AUTH, 530 under "TLS required") and the line framing.
"""

from __future__ import annotations

import base64

from ._commands import parse_auth, reject
from ._events import Authentication, AuthenticationChallenge, Command, Refusal, RejectedCommand
from ._extensions import Extensions
from ._receivebuffer import LINE_TOO_LONG, _TooLong
from ._replies import Reply
from ._sasl import Mechanism, SaslError, decode_base64

__all__ = ["MAX_AUTH_LINE", "respond", "start"]

# RFC 4954 4: 12288 octets is enough for the responses of deployed mechanisms.
MAX_AUTH_LINE = 12288

Step = tuple[Command, Mechanism | None]


def start(argument: str, extensions: Extensions, tls_active: bool, hostname: str) -> Step:
    """``AUTH mechanism [initial-response]``."""
    parsed = parse_auth(argument)
    if isinstance(parsed, RejectedCommand):
        return parsed, None
    name, initial = parsed
    mechanism_type = extensions.mechanisms.get(name)
    if mechanism_type is None:
        return reject(
            "AUTH",
            504,
            "5.5.4",
            f"Unrecognized authentication type {name}",
            Refusal.UNKNOWN_MECHANISM,
        ), None
    if not extensions.usable(mechanism_type, tls_active):
        text = "Encryption required for requested authentication mechanism"
        return reject("AUTH", 538, "5.7.11", text, Refusal.ENCRYPTION_REQUIRED), None
    if initial is not None and not mechanism_type.client_first:
        return reject(
            "AUTH",
            501,
            "5.7.0",
            f"{name} does not take an initial response",
            Refusal.BAD_AUTH_RESPONSE,
        ), None
    mechanism = mechanism_type(hostname)
    try:
        # RFC 4954 4: "=" is an initial response of zero length.
        response = None if initial is None else b"" if initial == "=" else decode_base64(initial)
        return _event(mechanism, mechanism.start(response))
    except SaslError as error:
        return reject(
            "AUTH", error.code, error.enhanced, error.reason, Refusal.BAD_AUTH_RESPONSE
        ), None


def respond(mechanism: Mechanism, line: bytes | _TooLong) -> Step:
    """A line of the exchange: base64, or "*" to cancel."""
    if line is LINE_TOO_LONG:
        return reject(
            "AUTH", 500, "5.5.6", "Authentication line too long", Refusal.LINE_TOO_LONG
        ), None
    if line == b"*":
        return reject(
            "AUTH", 501, "5.0.0", "Authentication cancelled", Refusal.AUTH_CANCELLED
        ), None
    try:
        return _event(mechanism, mechanism.step(decode_base64(line.decode("latin-1"))))
    except SaslError as error:
        return reject(
            "AUTH", error.code, error.enhanced, error.reason, Refusal.BAD_AUTH_RESPONSE
        ), None


def _event(mechanism: Mechanism, result: bytes | Authentication) -> Step:
    """The credentials, or the next challenge as a 334 (RFC 4954 4)."""
    if isinstance(result, Authentication):
        return result, None
    challenge = base64.b64encode(result).decode("ascii")
    return AuthenticationChallenge(
        mechanism=mechanism.name, challenge=result, reply=Reply(334, challenge)
    ), mechanism
