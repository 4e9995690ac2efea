"""SASL mechanisms for AUTH (RFC 4954 4, RFC 4422 3): the server side of PLAIN
(RFC 4616), LOGIN and CRAM-MD5 (RFC 2195), and the base class for adding others.

A mechanism turns the client's decoded responses into either the next challenge
(bytes, sent as ``334 base64``) or the finished credentials (an ``Authentication``
event for the application to check). It never decides whether the credentials
are good: that is the application's policy.
"""

from __future__ import annotations

import abc
import base64
import binascii
import re
import secrets
from typing import ClassVar

from ._events import Authentication

__all__ = ["MECHANISM_NAME", "CramMD5", "Login", "Mechanism", "Plain", "SaslError", "decode_base64"]

# RFC 4616 2: authzid, authcid and passwd are at most 255 octets each.
_MAX_FIELD = 255
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_HEX_DIGEST = re.compile("[0-9a-f]{32}")
# RFC 4422 3.1: a mechanism name is 1 to 20 upper-case letters, digits, "-" and "_".
MECHANISM_NAME = re.compile("[A-Z0-9_-]{1,20}")


class SaslError(Exception):
    """A malformed client response: the AUTH command fails with ``code``."""

    def __init__(self, reason: str, code: int = 501, enhanced: str = "5.5.2") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.enhanced = enhanced


def decode_base64(text: str) -> bytes:
    """RFC 4954 4: reject any character outside the BASE64 alphabet and any pad
    character that is not at the end. Only the canonical encoding passes (no
    surplus "=", no stray bits before the padding), the same on every Python
    version: b64decode(validate=True) alone lets "AAAA====" through on some."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SaslError("Invalid base64 data") from None
    if base64.b64encode(data) != text.encode("ascii"):
        raise SaslError("Invalid base64 data")
    return data


class Mechanism(abc.ABC):
    """One SASL exchange on the server. A new instance serves each AUTH command.

    Subclass it to add a mechanism (XOAUTH2, SCRAM...) and list the class in
    ``Extensions(auth=...)``. ``start`` gets the initial response (None when the
    client sent none), ``step`` each later response; both return the next
    challenge as bytes or the finished ``Authentication`` event, or raise
    ``SaslError`` for a malformed response.
    """

    name: ClassVar[str]
    # Sends a reusable secret in the clear: not offered or accepted before TLS
    # unless the application allows it (RFC 4954 4, last paragraph).
    plaintext: ClassVar[bool] = False
    # False for mechanisms in which the server speaks first (CRAM-MD5): an
    # initial response is then refused with 501 5.7.0 (RFC 4954 4).
    client_first: ClassVar[bool] = True

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname

    @abc.abstractmethod
    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        """Begin the exchange."""

    @abc.abstractmethod
    def step(self, response: bytes) -> bytes | Authentication:
        """Take the client's answer to the last challenge."""


def _text(data: bytes, what: str, *, identity: bool = True) -> str:
    """UTF-8 text from the client; identities may hold no control character."""
    if len(data) > _MAX_FIELD:
        raise SaslError(f"{what} too long")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"{what} is not valid UTF-8") from None
    if identity and _CONTROL.search(text):
        raise SaslError(f"Control character in {what}")
    return text


class Plain(Mechanism):
    """RFC 4616: message = [authzid] NUL authcid NUL passwd."""

    name = "PLAIN"
    plaintext = True

    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        if initial_response is None:
            return b""  # RFC 4954 4: an empty challenge, "334 "
        return self.step(initial_response)

    def step(self, response: bytes) -> bytes | Authentication:
        fields = response.split(b"\0")
        if len(fields) != 3:
            raise SaslError("PLAIN needs authzid NUL authcid NUL password")
        authzid, authcid, password = fields
        if not authcid or not password:
            raise SaslError("PLAIN needs a user name and a password")
        return Authentication(
            mechanism=self.name,
            authorization_id=_text(authzid, "authorization identity"),
            username=_text(authcid, "user name"),
            password=_text(password, "password", identity=False),
        )


class Login(Mechanism):
    """The LOGIN mechanism (never standardised, widely used): the server asks
    "Username:" then "Password:"; a client may send the user name up front."""

    name = "LOGIN"
    plaintext = True

    def __init__(self, hostname: str) -> None:
        super().__init__(hostname)
        self._username: str | None = None

    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        if initial_response is None:
            return b"Username:"
        return self.step(initial_response)

    def step(self, response: bytes) -> bytes | Authentication:
        if self._username is None:
            if not response:
                raise SaslError("LOGIN needs a user name")
            self._username = _text(response, "user name")
            return b"Password:"
        if not response:
            raise SaslError("LOGIN needs a password")
        return Authentication(
            mechanism=self.name,
            username=self._username,
            password=_text(response, "password", identity=False),
        )


class CramMD5(Mechanism):
    """RFC 2195: the server sends a unique challenge; the client answers
    ``user SP hex(HMAC-MD5(password, challenge))``."""

    name = "CRAM-MD5"
    client_first = False

    def __init__(self, hostname: str) -> None:
        super().__init__(hostname)
        # A msg-id-like string that is never repeated (RFC 2195 2).
        self.challenge = f"<{secrets.token_hex(16)}@{hostname}>".encode()

    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        return self.challenge

    def step(self, response: bytes) -> bytes | Authentication:
        username, _, digest = response.rpartition(b" ")
        if not username or not _HEX_DIGEST.fullmatch(digest.decode("ascii", "replace")):
            raise SaslError("CRAM-MD5 needs a user name and a hex digest")
        return Authentication(
            mechanism=self.name,
            username=_text(username, "user name"),
            challenge=self.challenge,
            digest=digest.decode("ascii"),
        )


BUILT_IN: dict[str, type[Mechanism]] = {m.name: m for m in (Plain, Login, CramMD5)}
