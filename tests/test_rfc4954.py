"""RFC 4954 (AUTH), one test per rule the engine owns. The mechanisms
themselves (RFC 4616, RFC 2195) are in test_sasl.py."""

from __future__ import annotations

import base64

import pytest

from smtpstate import (
    Authentication,
    AuthenticationChallenge,
    ConnectionClosed,
    Event,
    Extensions,
    Hello,
    Mail,
    Noop,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    Reset,
    ServerConnection,
    State,
)
from smtpstate._sasl import Mechanism

from .helpers import codes, default_answer, drive, new_conn

EHLO = b"EHLO client.example\r\n"
ALL = ("PLAIN", "LOGIN", "CRAM-MD5")


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


PLAIN_OK = b"AUTH PLAIN " + b64(b"\0user\0secret") + b"\r\n"
PLAIN_BAD = b"AUTH PLAIN " + b64(b"\0user\0wrong") + b"\r\n"


def rejections(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.verb, e.reply.code) for e in events if isinstance(e, RejectedCommand)]


def authed(
    mechanisms: tuple[str | type[Mechanism], ...] = ALL, **kwargs: object
) -> ServerConnection:
    """A connection with AUTH on, as if under TLS (plaintext mechanisms usable), after EHLO."""
    conn = new_conn(extensions=Extensions(auth=mechanisms, auth_without_tls=True), **kwargs)
    drive(conn, EHLO)
    return conn


class Echo(Mechanism):
    """A client-first test mechanism: finishes with whatever the client sent
    (so an empty initial response can be told from none)."""

    name = "X-ECHO"

    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        if initial_response is None:
            return b""
        return self.step(initial_response)

    def step(self, response: bytes) -> bytes | Authentication:
        return Authentication(mechanism=self.name, username="echo", extra={"data": response.hex()})


def echo_answer(event: Event) -> Reply:
    if isinstance(event, Authentication):
        return Reply(235, "ok", "2.7.0")
    return default_answer(event)


class Big(Mechanism):
    """A test mechanism whose first challenge is 1000 octets."""

    name = "X-BIG"

    def start(self, initial_response: bytes | None) -> bytes | Authentication:
        return b"\xff" * 1000

    def step(self, response: bytes) -> bytes | Authentication:
        return Authentication(mechanism=self.name, username="big")


# -- 3: the extension --------------------------------------------------------------


def test_3_auth_keyword_lists_the_mechanisms() -> None:
    """The AUTH EHLO keyword carries a space-separated list of the available
    SASL mechanisms."""
    conn = new_conn(extensions=Extensions(auth=ALL, auth_without_tls=True))
    _, out = drive(conn, EHLO)
    assert b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n" in out


def test_3_mechanisms_may_change_after_starttls() -> None:
    """The list MAY change after STARTTLS: plaintext-password mechanisms are
    offered only under TLS (4, last paragraph), so only CRAM-MD5 before it."""
    conn = new_conn(extensions=Extensions(starttls=True, auth=ALL))
    _, out = drive(conn, EHLO)
    assert b"250-AUTH CRAM-MD5\r\n" in out
    drive(conn, b"STARTTLS\r\n")
    conn.tls_established()
    _, out = drive(conn, EHLO)
    assert b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n" in out


def test_3_no_auth_keyword_when_nothing_is_usable() -> None:
    """With only plaintext mechanisms and no TLS, AUTH is not advertised."""
    conn = new_conn(extensions=Extensions(auth=("PLAIN", "LOGIN")))
    _, out = drive(conn, EHLO)
    assert b"AUTH" not in out


def test_3_5_auth_parameter_extends_the_mail_line_by_500() -> None:
    """The AUTH parameter extends the maximum length of MAIL FROM by 500
    characters."""
    identity = b"u" * 60 + b"@" + b"d" * 400 + b".example"
    line = b"MAIL FROM:<" + b"a" * 60 + b"@example.org> AUTH=" + identity + b"\r\n"
    assert 512 < len(line) <= 1012
    events, _ = drive(authed(), line)
    assert isinstance(events[0], Mail)
    assert events[0].auth == identity.decode()
    events, _ = drive(new_conn(), EHLO + line)
    assert rejections(events) == [("", 500)]


# -- 4: the AUTH command ----------------------------------------------------------


def test_4_challenge_response_loop() -> None:
    """The server sends each challenge as 334 and base64; the client answers
    each with one base64 line, until the mechanism is done."""
    conn = authed()
    data = b"AUTH LOGIN\r\n" + b64(b"user") + b"\r\n" + b64(b"secret") + b"\r\n"
    events, out = drive(conn, data)
    assert [type(e) for e in events] == [
        AuthenticationChallenge,
        AuthenticationChallenge,
        Authentication,
    ]
    assert out == (
        b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication succeeded\r\n"
    )
    assert events[0].challenge == b"Username:"
    assert isinstance(events[2], Authentication)
    assert events[2].username == "user"
    assert conn.state is State.READY


def test_4_a_response_line_is_not_a_command() -> None:
    """After a 334 the next line is the client's response, whatever it looks
    like: "QUIT" there is base64, not a command."""
    conn = authed((Echo,))
    drive(conn, b"AUTH X-ECHO\r\n", echo_answer)
    assert conn.state is State.AUTH_EXCHANGE
    events, _ = drive(conn, b"QUIT\r\n", echo_answer)
    assert isinstance(events[0], Authentication)
    assert events[0].extra == {"data": base64.b64decode(b"QUIT").hex()}
    assert conn.state is State.READY


def test_4_empty_challenge_is_334_space() -> None:
    """A challenge with no data is a 334 reply with no text part, but with the
    space: "334 "."""
    conn = authed()
    _, out = drive(conn, b"AUTH PLAIN\r\n" + b64(b"\0user\0secret") + b"\r\n")
    assert out == b"334 \r\n235 2.7.0 Authentication succeeded\r\n"


def test_4_challenge_has_no_enhanced_code() -> None:
    """A 334 challenge holds nothing but the base64 text, even with
    ENHANCEDSTATUSCODES."""
    conn = authed()
    drive(conn, b"")
    conn.receive_data(b"AUTH LOGIN\r\n")
    event = conn.next_event()
    assert isinstance(event, AuthenticationChallenge)
    assert conn.send(event.reply) == b"334 VXNlcm5hbWU6\r\n"


def test_4_long_challenge_is_one_line() -> None:
    """Challenges can be much longer than normal replies: one 334 line, never
    cut at 512 octets."""
    conn = authed((Big,))
    _, out = drive(conn, b"AUTH X-BIG\r\n")
    assert out == b"334 " + b64(b"\xff" * 1000) + b"\r\n"
    assert out.count(b"\r\n") == 1


@pytest.mark.parametrize(
    "bad",
    [b"=AAA", b"AAA=BBB", b"dGVzdA=", b"dGVz!A==", b"dGVzdA== ", b" dGVzdA==", b"AAAA====",
     b"AB==", b"dGVz\xc3\xa9", b"dG\tVz", b"===="],
)  # fmt: skip
def test_4_bad_base64_gets_501_5_5_2(bad: bytes) -> None:
    """Any character outside the BASE64 alphabet, and a pad character anywhere
    but at the end, MUST be rejected with 501 5.5.2: in a response line and in
    an initial response."""
    conn = authed()
    events, out = drive(conn, b"AUTH LOGIN\r\n" + bad + b"\r\n")
    assert rejections(events) == [("AUTH", 501)]
    assert out.endswith(b"501 5.5.2 Invalid base64 data\r\n")
    assert conn.state is State.READY
    if b" " not in bad:
        events, out = drive(conn, b"AUTH PLAIN " + bad + b"\r\n")
        assert rejections(events) == [("AUTH", 501)]
        assert out.startswith(b"501 5.5.2 ")


def test_4_star_cancels_with_501() -> None:
    """A response of "*" cancels the exchange; the server MUST reject the AUTH
    command with 501. The session goes on, and AUTH may be tried again."""
    conn = authed()
    events, out = drive(conn, b"AUTH LOGIN\r\n*\r\n" + PLAIN_OK)
    assert rejections(events) == [("AUTH", 501)]
    assert codes(out) == [334, 501, 235]
    assert conn.authenticated == "user"


def test_4_equals_is_an_empty_initial_response() -> None:
    """An initial response of zero length is sent as "=": present, but empty
    (unlike no initial response at all, which gets an empty challenge)."""
    conn = authed((Echo,))
    events, out = drive(conn, b"AUTH X-ECHO =\r\n", echo_answer)
    assert isinstance(events[0], Authentication)
    assert events[0].extra == {"data": ""}
    conn = authed((Echo,))
    events, out = drive(conn, b"AUTH X-ECHO\r\n\r\n", echo_answer)
    assert [type(e) for e in events] == [AuthenticationChallenge, Authentication]
    assert out.startswith(b"334 \r\n")


def test_4_initial_response_to_server_first_mechanism_gets_501_5_7_0() -> None:
    """An initial response with a mechanism in which the client does not speak
    first MUST be rejected with 501, enhanced code 5.7.0."""
    conn = authed()
    events, out = drive(conn, b"AUTH CRAM-MD5 " + b64(b"user 0123") + b"\r\n")
    assert rejections(events) == [("AUTH", 501)]
    assert out.startswith(b"501 5.7.0 ")


def test_4_before_ehlo_gets_503() -> None:
    """AUTH is an EHLO extension: before EHLO it is out of sequence."""
    conn = new_conn(extensions=Extensions(auth=ALL, auth_without_tls=True))
    events, _ = drive(conn, PLAIN_OK)
    assert rejections(events) == [("AUTH", 503)]


def test_4_after_helo_only_gets_503() -> None:
    """A client that said HELO did not see the AUTH keyword: 503."""
    conn = new_conn(extensions=Extensions(auth=ALL, auth_without_tls=True))
    events, out = drive(conn, b"HELO client.example\r\n" + PLAIN_OK)
    assert rejections(events) == [("AUTH", 503)]
    assert b"503 5.5.1 Send EHLO first" in out


def test_4_during_a_transaction_gets_503() -> None:
    """AUTH during a mail transaction MUST be rejected with 503; the
    transaction goes on."""
    conn = authed()
    events, _ = drive(conn, b"MAIL FROM:<a@b>\r\n" + PLAIN_OK + b"RCPT TO:<c@d>\r\n")
    assert rejections(events) == [("AUTH", 503)]
    assert conn.state is State.HAS_RCPT
    assert conn.authenticated is None


def test_4_after_success_gets_503() -> None:
    """After a successful AUTH, the server MUST reject any further AUTH with 503."""
    conn = authed()
    _, out = drive(conn, PLAIN_OK + PLAIN_OK + b"AUTH LOGIN\r\n")
    assert codes(out) == [235, 503, 503]
    assert b"503 5.5.1 Already authenticated" in out


def test_4_unknown_mechanism_gets_504_5_5_4() -> None:
    """A mechanism the server does not support: 504, enhanced code 5.5.4."""
    conn = authed(("PLAIN",))
    events, out = drive(conn, b"AUTH LOGIN\r\nAUTH GSSAPI\r\n")
    assert rejections(events) == [("AUTH", 504), ("AUTH", 504)]
    assert out.startswith(b"504 5.5.4 ")


@pytest.mark.parametrize(
    "line", [b"AUTH\r\n", b"AUTH  \r\n", b"AUTH PL/AIN\r\n", b"AUTH " + b"X" * 21 + b"\r\n",
             b"AUTH PLAIN a b\r\n"],
)  # fmt: skip
def test_4_malformed_command_gets_501(line: bytes) -> None:
    """AUTH needs a mechanism name (sasl-mech, 8: 1 to 20 of A-Z 0-9 - _) and
    at most one initial response."""
    events, _ = drive(authed(), line)
    assert rejections(events) == [("AUTH", 501)]


def test_4_mechanism_names_ignore_case() -> None:
    """Mechanism names are matched without regard to case, like verbs."""
    _, out = drive(authed(), b"auth plain " + b64(b"\0user\0secret") + b"\r\n")
    assert codes(out) == [235]


@pytest.mark.parametrize("mechanism", [b"PLAIN", b"LOGIN"])
def test_4_plaintext_mechanism_before_tls_gets_538(mechanism: bytes) -> None:
    """A server MUST be able to refuse plaintext-password mechanisms unless
    TLS is on: 538 5.7.11 before STARTTLS (this is the default)."""
    conn = new_conn(extensions=Extensions(starttls=True, auth=ALL))
    events, out = drive(conn, EHLO + b"AUTH " + mechanism + b"\r\n")
    assert rejections(events) == [("AUTH", 538)]
    assert b"538 5.7.11 Encryption required for requested authentication mechanism" in out
    drive(conn, b"STARTTLS\r\n")
    conn.tls_established()
    events, out = drive(conn, EHLO + b"AUTH " + mechanism + b"\r\n")
    assert [type(e) for e in events] == [Hello, AuthenticationChallenge]


def test_4_auth_without_tls_allows_plaintext_mechanisms() -> None:
    """The application may allow them anyway (a local submission socket)."""
    conn = new_conn(extensions=Extensions(auth=("PLAIN",), auth_without_tls=True))
    _, out = drive(conn, EHLO + PLAIN_OK)
    assert codes(out) == [250, 235]


def test_4_235_sets_authenticated() -> None:
    """The server answers 235 when the exchange succeeds: the session is
    authenticated as the authorization identity (else the user name)."""
    conn = authed()
    assert conn.authenticated is None
    drive(conn, PLAIN_OK)
    assert conn.authenticated == "user"
    conn = authed()
    drive(conn, b"AUTH PLAIN " + b64(b"boss\0user\0secret") + b"\r\n")
    assert conn.authenticated == "boss"


def test_4_535_does_not_authenticate_and_may_be_retried() -> None:
    """If the server cannot authenticate the client it SHOULD reply 535; the
    client MAY then try again, and each failure counts toward the error budget."""
    conn = authed()
    _, out = drive(conn, PLAIN_BAD)
    assert out == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert conn.authenticated is None
    assert conn.state is State.READY
    assert conn.rejected_count == 1
    _, out = drive(conn, PLAIN_OK)
    assert codes(out) == [235]


def test_4_failed_auth_uses_up_the_error_budget() -> None:
    """Guessing passwords ends the session after ``max_errors`` failures."""
    conn = authed(max_errors=3)
    with pytest.raises(RemoteProtocolError) as info:
        drive(conn, PLAIN_BAD * 4)
    assert info.value.reply.code == 421
    assert conn.state is State.ERROR


@pytest.mark.parametrize("code", [454, 534, 432])
def test_6_other_failure_codes(code: int) -> None:
    """454 (temporary), 534 (mechanism too weak), 432 (password transition)
    also end the exchange without authenticating."""
    conn = authed()

    def answer(event: Event) -> Reply:
        if isinstance(event, Authentication):
            return Reply(code, "no")
        return default_answer(event)

    data = b"AUTH LOGIN\r\n" + b64(b"u") + b"\r\n" + b64(b"p") + b"\r\n"
    _, out = drive(conn, data, answer)
    assert codes(out) == [334, 334, code]
    assert conn.state is State.READY
    assert conn.authenticated is None


def test_4_application_may_refuse_a_challenge() -> None:
    """The application may answer a challenge event with a failure instead of
    the 334: the exchange ends."""
    conn = authed()

    def answer(event: Event) -> Reply:
        if isinstance(event, AuthenticationChallenge):
            return Reply(454, "Temporary authentication failure", "4.7.0")
        return default_answer(event)

    events, out = drive(conn, b"AUTH LOGIN\r\nNOOP\r\n", answer)
    assert [type(e) for e in events] == [AuthenticationChallenge, Noop]
    assert codes(out) == [454, 250]
    assert conn.state is State.READY


def test_4_response_line_over_12288_octets_gets_500_5_5_6() -> None:
    """A response longer than the server's authentication buffer fails the
    AUTH command with 500, enhanced code 5.5.6. The buffer holds no more than
    the limit meanwhile, and 12288 octets (CRLF included) still fit."""
    conn = authed()
    drive(conn, b"AUTH LOGIN\r\n")
    for _ in range(40):
        events, out = drive(conn, b"A" * 1000)
        assert len(conn.trailing_data[0]) <= 12288 + 1000
    events, out = drive(conn, b"\r\n")
    assert rejections(events) == [("AUTH", 500)]
    assert out == b"500 5.5.6 Authentication line too long\r\n"
    assert conn.state is State.READY
    # Exactly at the limit: read as base64 (and refused as such: 12286 is not 4n).
    drive(conn, b"AUTH LOGIN\r\n")
    events, out = drive(conn, b"A" * 12286 + b"\r\n")
    assert out == b"501 5.5.2 Invalid base64 data\r\n"
    drive(conn, b"AUTH LOGIN\r\n")
    events, out = drive(conn, b"A" * 12287 + b"\r\n")
    assert out == b"500 5.5.6 Authentication line too long\r\n"


def test_4_auth_command_keeps_the_command_line_limit() -> None:
    """The AUTH command itself is still subject to SMTP's line length limit
    (the client must then leave out the initial response)."""
    conn = authed()
    line = b"AUTH PLAIN " + b64(b"\0" + b"u" * 200 + b"\0" + b"p" * 200) + b"\r\n"
    assert len(line) > 512
    events, _ = drive(conn, line)
    assert rejections(events) == [("", 500)]


def test_4_eof_during_the_exchange() -> None:
    """A client that closes in the middle of an exchange ends the session."""
    conn = authed()
    events, _ = drive(conn, b"AUTH LOGIN\r\n" + b64(b"user") + b"\r\n", eof=True)
    assert events[-1] == ConnectionClosed()
    assert conn.state is State.CLOSED
    assert conn.authenticated is None


def test_4_421_during_the_exchange() -> None:
    """The server may close with 421 while it waits for a response."""
    conn = authed()
    drive(conn, b"AUTH LOGIN\r\n")
    assert conn.send(Reply(421, "timeout", "4.4.2")) == b"421 4.4.2 timeout\r\n"
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()


def test_4_pipelining_auth_with_initial_response_may_be_followed() -> None:
    """AUTH must end a pipelined group, except with an initial response for a
    mechanism that completes in one round trip (PLAIN): even the strict
    pipelining check lets commands follow it."""
    conn = authed(strict_pipelining=True)
    _, out = drive(conn, PLAIN_OK + b"MAIL FROM:<a@b>\r\n")
    assert codes(out) == [235, 250]


def test_4_pipelining_after_a_challenge_is_refused_when_strict() -> None:
    """Input sent ahead of a 334 breaks the rule; with strict pipelining the
    session ends with 554 5.5.0."""
    conn = authed(strict_pipelining=True)
    with pytest.raises(RemoteProtocolError) as info:
        drive(conn, b"AUTH LOGIN\r\n" + b64(b"user") + b"\r\n")
    assert info.value.reply.code == 554
    assert conn.send(info.value.reply) == b"554 5.5.0 Improper use of SMTP command pipelining\r\n"


def test_4_pipelined_response_lines_are_read_in_order() -> None:
    """Without the strict check, responses sent ahead are read one per
    challenge, the same as if they had waited."""
    conn = authed()
    data = b"AUTH LOGIN\r\n" + b64(b"user") + b"\r\n" + b64(b"secret") + b"\r\nNOOP\r\n"
    _, out = drive(conn, data)
    assert codes(out) == [334, 334, 235, 250]


# -- 5: the AUTH parameter to MAIL FROM ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "decoded"),
    [(b"e+3Dmc2@example.com", "e=mc2@example.com"), (b"<>", "<>"), (b"a+2Bb@c", "a+b@c")],
)
def test_5_auth_parameter_is_xtext_decoded(value: bytes, decoded: str) -> None:
    """AUTH=mailbox is xtext-encoded; AUTH=<> means the submitter is unknown.
    It MUST be accepted even when the client has not authenticated."""
    events, out = drive(authed(), b"MAIL FROM:<a@b> AUTH=" + value + b"\r\n")
    assert isinstance(events[0], Mail)
    assert events[0].auth == decoded
    assert codes(out) == [250]


def test_5_no_auth_parameter() -> None:
    events, _ = drive(authed(), b"MAIL FROM:<a@b>\r\n")
    assert isinstance(events[0], Mail)
    assert events[0].auth is None


@pytest.mark.parametrize(
    "param", [b"AUTH", b"AUTH=a+3d", b"AUTH=a+3", b"AUTH=a=b", b"AUTH=+0D+0A", b"AUTH=+C3+A9"]
)
def test_5_malformed_auth_parameter_gets_501(param: bytes) -> None:
    """The value must be xtext (hexchar is "+" and two upper-case hex digits;
    no "=" or "+" as such), decoding to a mailbox: no controls, ASCII."""
    events, _ = drive(authed(), b"MAIL FROM:<a@b> " + param + b"\r\n")
    assert rejections(events) == [("MAIL", 501)]


def test_5_auth_parameter_without_auth_enabled_gets_555() -> None:
    """Without the extension, AUTH= is an unknown parameter (RFC 5321 4.1.1.11)."""
    events, _ = drive(new_conn(), EHLO + b"MAIL FROM:<a@b> AUTH=<>\r\n")
    assert rejections(events) == [("MAIL", 555)]


# -- 6: status codes ---------------------------------------------------------------


def test_6_require_auth_answers_530_until_auth_succeeds() -> None:
    """530 5.7.0 Authentication required SHOULD answer any command other than
    AUTH, EHLO, HELO, NOOP, RSET or QUIT while policy requires authentication."""
    ext = Extensions(auth=ALL, auth_without_tls=True, expn=True, help=True)
    conn = new_conn(extensions=ext, require_auth=True)
    data = EHLO + b"MAIL FROM:<a@b>\r\nVRFY bob\r\nEXPN list\r\nHELP\r\nNOOP\r\nRSET\r\n"
    events, out = drive(conn, data + PLAIN_BAD + b"MAIL FROM:<a@b>\r\n")
    assert rejections(events) == [("MAIL", 530), ("VRFY", 530), ("EXPN", 530), ("HELP", 530),
                                  ("MAIL", 530)]  # fmt: skip
    assert b"530 5.7.0 Authentication required\r\n" in out
    assert [type(e) for e in events[5:7]] == [Noop, Reset]
    events, out = drive(conn, PLAIN_OK + b"MAIL FROM:<a@b>\r\n")
    assert codes(out) == [235, 250]
    assert conn.state is State.IN_MAIL
