"""The SASL mechanisms: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), the
Mechanism base class (RFC 4422) and strict base64 (RFC 4954 4)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from smtpstate import (
    Authentication,
    AuthenticationChallenge,
    Event,
    Extensions,
    RejectedCommand,
    Reply,
    ServerConnection,
)
from smtpstate._sasl import BUILT_IN, CramMD5, Login, Mechanism, Plain, SaslError, decode_base64

from .helpers import codes, default_answer, drive, new_conn

EHLO = b"EHLO client.example\r\n"


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def conn_with(*mechanisms: str | type[Mechanism]) -> ServerConnection:
    conn = new_conn(extensions=Extensions(auth=mechanisms, auth_without_tls=True))
    drive(conn, EHLO)
    return conn


def plain(message: bytes) -> Authentication | bytes:
    return Plain("mx.example.org").start(message)


# -- strict base64 (RFC 4954 4) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data"), [("", b""), ("AA==", b"\0"), ("AAA=", b"\0\0"), ("dGVzdA==", b"test")]
)
def test_decode_base64_accepts_the_canonical_form(text: str, data: bytes) -> None:
    assert decode_base64(text) == data


@pytest.mark.parametrize(
    "text", ["=", "=AAA", "AAA=BBB", "AAAA====", "AB==", "AAB=", "AAA", "A", "AA=A", "é", "A A="]
)
def test_decode_base64_refuses_anything_else(text: str) -> None:
    """Characters outside the alphabet, misplaced or surplus padding, and
    non-zero bits before the padding (RFC 4648 3.5) are all refused."""
    with pytest.raises(SaslError) as info:
        decode_base64(text)
    assert (info.value.code, info.value.enhanced) == (501, "5.5.2")


# -- RFC 4616 PLAIN ---------------------------------------------------------------


def test_rfc4616_2_message_is_authzid_nul_authcid_nul_passwd() -> None:
    """message = [authzid] UTF8NUL authcid UTF8NUL passwd."""
    result = plain(b"\0tim\0tanstaaftanstaaf")
    assert result == Authentication(
        mechanism="PLAIN", username="tim", authorization_id="", password="tanstaaftanstaaf"
    )
    result = plain(b"Ursel\0Kurt\0xipj3plmq")
    assert isinstance(result, Authentication)
    assert (result.authorization_id, result.username) == ("Ursel", "Kurt")


def test_rfc4616_2_password_is_checked_in_the_event() -> None:
    result = plain(b"\0tim\0tanstaaftanstaaf")
    assert isinstance(result, Authentication)
    assert result.check_password("tanstaaftanstaaf")
    assert not result.check_password("tanstaaftanstaa")
    assert not result.check_password("")


@pytest.mark.parametrize(
    "message", [b"", b"user", b"\0user", b"\0user\0pass\0", b"a\0b\0c\0d", b"\0\0\0"]
)
def test_rfc4616_2_wrong_number_of_nuls_gets_501(message: bytes) -> None:
    """Exactly two NULs: NUL MUST NOT appear in authzid, authcid or passwd."""
    with pytest.raises(SaslError) as info:
        plain(message)
    assert info.value.code == 501


@pytest.mark.parametrize("message", [b"\0\0pass", b"\0user\0", b"authz\0\0pass"])
def test_rfc4616_2_empty_authcid_or_passwd_gets_501(message: bytes) -> None:
    """authcid = 1*SAFE and passwd = 1*SAFE: neither may be empty."""
    with pytest.raises(SaslError):
        plain(message)


def test_rfc4616_2_fields_of_255_octets_are_accepted() -> None:
    """Servers MUST accept authzid, authcid and passwd of up to 255 octets;
    a UTF-8 character may take up to 4 of them."""
    z, c, p = "z" * 255, "é" * 127 + "c", "\U0001f600" * 63 + "ppp"
    result = plain(f"{z}\0{c}\0{p}".encode())
    assert isinstance(result, Authentication)
    assert (result.authorization_id, result.username, result.password) == (z, c, p)


@pytest.mark.parametrize(
    "message", [b"z" * 256 + b"\0c\0p", b"\0" + b"c" * 256 + b"\0p", b"\0c\0" + b"p" * 256]
)
def test_rfc4616_2_fields_over_255_octets_get_501(message: bytes) -> None:
    """The engine bounds each field at the RFC's 255 octets."""
    with pytest.raises(SaslError) as info:
        plain(message)
    assert "too long" in info.value.reason


@pytest.mark.parametrize("message", [b"\xff\0user\0pass", b"\0us\xc3\0pass", b"\0user\0p\xe9"])
def test_rfc4616_2_invalid_utf8_gets_501(message: bytes) -> None:
    """The fields are UTF-8 strings; invalid UTF-8 is refused."""
    with pytest.raises(SaslError):
        plain(message)


@pytest.mark.parametrize(
    "message", [b"a\tb\0user\0pass", b"\0us\rer\0pass", b"\0user\x7f\0pass", b"\0user\x1b\0p"]
)
def test_rfc4616_2_control_characters_in_identities_get_501(message: bytes) -> None:
    """Identities with control characters are refused (they would reach logs
    and headers); passwords are form-free and may hold them."""
    with pytest.raises(SaslError) as info:
        plain(message)
    assert "Control character" in info.value.reason
    result = plain(b"\0user\0pa\tss\x7f")
    assert isinstance(result, Authentication)
    assert result.password == "pa\tss\x7f"


def test_rfc4616_plain_without_initial_response_gets_an_empty_challenge() -> None:
    """PLAIN is client-first; without the initial response the server sends an
    empty challenge (RFC 4422 5.1)."""
    assert Plain("h").start(None) == b""
    assert Plain.plaintext and Plain.client_first


def test_rfc4616_plain_over_the_wire() -> None:
    conn = conn_with("PLAIN")
    events, out = drive(conn, b"AUTH PLAIN " + b64(b"\0user\0secret") + b"\r\n")
    assert codes(out) == [235]
    assert isinstance(events[0], Authentication)
    assert events[0].check_password("secret")
    events, out = drive(conn_with("PLAIN"), b"AUTH PLAIN " + b64(b"\0\0secret") + b"\r\n")
    assert isinstance(events[0], RejectedCommand)
    assert out == b"501 5.5.2 PLAIN needs a user name and a password\r\n"


# -- LOGIN --------------------------------------------------------------------------


def test_login_asks_for_username_then_password() -> None:
    """The LOGIN mechanism: "Username:" then "Password:", each answered in base64."""
    conn = conn_with("LOGIN")
    data = b"AUTH LOGIN\r\n" + b64(b"user") + b"\r\n" + b64(b"secret") + b"\r\n"
    events, out = drive(conn, data)
    assert [e.challenge for e in events if isinstance(e, AuthenticationChallenge)] == [
        b"Username:",
        b"Password:",
    ]
    assert out.startswith(b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ")
    assert isinstance(events[2], Authentication)
    assert events[2].mechanism == "LOGIN"
    assert events[2].check_password("secret")
    assert conn.authenticated == "user"


def test_login_takes_the_username_as_initial_response() -> None:
    """Clients may send the user name with the command (AUTH LOGIN dXNlcg==)."""
    conn = conn_with("LOGIN")
    _, out = drive(conn, b"AUTH LOGIN " + b64(b"user") + b"\r\n" + b64(b"nope") + b"\r\n")
    assert codes(out) == [334, 535]
    assert out.startswith(b"334 UGFzc3dvcmQ6\r\n")


@pytest.mark.parametrize(
    ("responses", "reason"),
    [([b""], "user name"), ([b"user", b""], "password"), ([b"us\0er"], "Control")],
)
def test_login_refuses_empty_fields(responses: list[bytes], reason: str) -> None:
    mechanism = Login("h")
    assert mechanism.start(None) == b"Username:"
    with pytest.raises(SaslError) as info:
        for response in responses:
            mechanism.step(response)
    assert reason in info.value.reason


# -- RFC 2195 CRAM-MD5 --------------------------------------------------------------


def test_rfc2195_2_example_digest() -> None:
    """The RFC's example: challenge <1896.697170952@postoffice.reston.mci.net>,
    secret tanstaaftanstaaf, response "tim b913a602c7eda7a495b4e6e7334d3890"."""
    mechanism = CramMD5("postoffice.reston.mci.net")
    mechanism.challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    result = mechanism.step(b"tim b913a602c7eda7a495b4e6e7334d3890")
    assert isinstance(result, Authentication)
    assert result.username == "tim"
    assert result.password is None
    assert result.check_password("tanstaaftanstaaf")
    assert not result.check_password("tanstaaftanstaag")


def test_rfc2195_2_challenge_is_a_unique_msg_id() -> None:
    """The challenge has the syntax of a msg-id, names the server's host, and
    is never repeated."""
    first = CramMD5("mx.example.org").start(None)
    second = CramMD5("mx.example.org").start(None)
    assert isinstance(first, bytes)
    assert first.startswith(b"<") and first.endswith(b"@mx.example.org>")
    assert first != second
    assert not CramMD5.plaintext and not CramMD5.client_first


def test_rfc2195_2_over_the_wire() -> None:
    """The client answers the 334 challenge with user SP hex(HMAC-MD5)."""
    conn = conn_with("CRAM-MD5")
    events, out = drive(conn, b"AUTH CRAM-MD5\r\n")
    assert isinstance(events[0], AuthenticationChallenge)
    challenge = base64.b64decode(out[4:-2])
    assert challenge == events[0].challenge
    digest = hmac.new(b"secret", challenge, hashlib.md5).hexdigest().encode()
    events, out = drive(conn, b64(b"user " + digest) + b"\r\n")
    assert out == b"235 2.7.0 Authentication succeeded\r\n"
    assert isinstance(events[0], Authentication)
    assert events[0].challenge == challenge
    assert conn.authenticated == "user"


def test_rfc2195_2_wrong_secret_gets_535() -> None:
    conn = conn_with("CRAM-MD5")
    _, out = drive(conn, b"AUTH CRAM-MD5\r\n")
    challenge = base64.b64decode(out[4:-2])
    digest = hmac.new(b"guess", challenge, hashlib.md5).hexdigest().encode()
    _, out = drive(conn, b64(b"user " + digest) + b"\r\n")
    assert codes(out) == [535]
    assert conn.authenticated is None


@pytest.mark.parametrize(
    "response",
    [b"user", b" " + b"0" * 32, b"user " + b"0" * 31, b"user " + b"A" * 32, b"user " + b"g" * 32,
     b"user " + b"0" * 33, b"us\0er " + b"0" * 32, b"user \xff" + b"0" * 31],
)  # fmt: skip
def test_rfc2195_2_malformed_response_gets_501(response: bytes) -> None:
    """user SP digest, the digest 32 lower-case hex digits."""
    mechanism = CramMD5("h")
    mechanism.start(None)
    with pytest.raises(SaslError):
        mechanism.step(response)


def test_rfc2195_user_name_may_hold_spaces() -> None:
    mechanism = CramMD5("h")
    result = mechanism.step(b"John Doe " + b"0" * 32)
    assert isinstance(result, Authentication)
    assert result.username == "John Doe"


# -- RFC 4422: adding a mechanism -----------------------------------------------------


class XToken(Mechanism):
    """A tiny XOAUTH2-like mechanism: one client message "user=U^Aauth=Bearer T^A^A",
    and on a bad token the server sends an error challenge the client must answer
    with an empty response before the failure."""

    name = "X-TOKEN"

    def __init__(self, hostname: str) -> None:
        super().__init__(hostname)
        self.failed = False

    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        if initial_response is None:
            return b""
        return self.step(initial_response)

    def step(self, response: bytes) -> bytes | Authentication:
        if self.failed:
            return Authentication(mechanism=self.name, username="", extra={"error": "1"})
        fields = dict(f.split("=", 1) for f in response.decode().split("\x01") if "=" in f)
        if "user" not in fields or not fields.get("auth", "").startswith("Bearer "):
            raise SaslError("X-TOKEN needs user and auth")
        if fields["auth"] != "Bearer good":
            self.failed = True
            return b'{"status":"401"}'
        return Authentication(mechanism=self.name, username=fields["user"], extra={"token": "good"})


def token_answer(event: Event) -> Reply:
    if isinstance(event, Authentication) and event.mechanism == "X-TOKEN":
        if event.extra.get("token") == "good":
            return Reply(235, "ok", "2.7.0")
        return Reply(535, "bad token", "5.7.8")
    return default_answer(event)


def test_rfc4422_custom_mechanism_without_touching_the_engine() -> None:
    """A Mechanism subclass listed in Extensions(auth=...) is advertised and
    runs through the same 334 loop; the application checks what it returns."""
    conn = new_conn(extensions=Extensions(auth=("PLAIN", XToken), auth_without_tls=True))
    _, out = drive(conn, EHLO)
    assert b"250-AUTH PLAIN X-TOKEN\r\n" in out
    good = b64(b"user=alice\x01auth=Bearer good\x01\x01")
    events, out = drive(conn, b"AUTH X-TOKEN " + good + b"\r\n", token_answer)
    assert out == b"235 2.7.0 ok\r\n"
    assert conn.authenticated == "alice"
    with pytest.raises(ValueError, match="no password proof"):
        assert isinstance(events[0], Authentication)
        events[0].check_password("x")


def test_rfc4422_custom_mechanism_error_challenge() -> None:
    conn = new_conn(extensions=Extensions(auth=(XToken,)))  # not plaintext: usable without TLS
    drive(conn, EHLO)
    bad = b64(b"user=alice\x01auth=Bearer bad\x01\x01")
    _, out = drive(conn, b"AUTH x-token " + bad + b"\r\n\r\n", token_answer)
    assert out == b"334 " + b64(b'{"status":"401"}') + b"\r\n535 5.7.8 bad token\r\n"
    assert conn.authenticated is None
    _, out = drive(conn, b"AUTH X-TOKEN\r\n" + b64(b"nonsense") + b"\r\n", token_answer)
    assert out == b"334 \r\n501 5.5.2 X-TOKEN needs user and auth\r\n"


def test_extensions_validate_mechanism_names() -> None:
    with pytest.raises(ValueError, match="unknown SASL mechanism"):
        Extensions(auth=("SCRAM-SHA-1",))
    ext = Extensions(auth=("plain", "LOGIN", Plain, XToken))
    assert list(ext.mechanisms) == ["PLAIN", "LOGIN", "X-TOKEN"]
    assert set(BUILT_IN) == {"PLAIN", "LOGIN", "CRAM-MD5"}


class Lower(XToken):
    name = "x-token"


class NoName(Mechanism):
    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        raise NotImplementedError

    def step(self, response: bytes) -> bytes | Authentication:
        raise NotImplementedError


@pytest.mark.parametrize("mechanism", [Lower, NoName])
def test_rfc4422_3_1_mechanism_names_are_checked(mechanism: type[Mechanism]) -> None:
    """A mechanism name is 1 to 20 of A-Z, 0-9, "-" and "_" (upper case only):
    it goes on the EHLO AUTH line as it is."""
    with pytest.raises(ValueError, match="needs a name"):
        Extensions(auth=(mechanism,))
