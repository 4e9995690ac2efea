"""RFC 4954: AUTH (with RFC 4616 PLAIN). These cases need ``--auth USER:PASSWORD``;
a mechanism offered only after STARTTLS is used over TLS when a TLS setting is
given."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ._suite import Check, Level, case

MUST, SHOULD = Level.MUST, Level.SHOULD


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@case("auth.plain-initial-response", "RFC 4954 4, RFC 4616 2", MUST,
      "AUTH PLAIN with good credentials gets 235")  # fmt: skip
def plain_initial(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (235,), "AUTH PLAIN")


@case("auth.plain-challenge", "RFC 4954 4", MUST, "AUTH PLAIN alone gets '334 ', then 235")
def plain_challenge(t: Check) -> None:
    client = t.auth_session()
    reply = t.expect(client.command("AUTH PLAIN"), (334,), "AUTH PLAIN without a response")
    if reply.raw != b"334 \r\n":
        t.fail(f"an empty challenge is '334 ' (RFC 4954 4), got {reply.raw!r}")
    t.expect(client.command(t.plain()), (235,), "the PLAIN response")


@case("auth.login", "RFC 4954 4", SHOULD, "AUTH LOGIN: two 334 challenges, then 235")
def login(t: Check) -> None:
    user, password = t.require_auth()
    client = t.auth_session("LOGIN")
    t.expect(client.command("AUTH LOGIN"), (334,), "AUTH LOGIN")
    t.expect(client.command(_b64(user)), (334,), "the user name")
    t.expect(client.command(_b64(password)), (235,), "the password")


@case("auth.cram-md5", "RFC 4954 4, RFC 2195 2", MUST, "AUTH CRAM-MD5 with good credentials")
def cram(t: Check) -> None:
    user, password = t.require_auth()
    client = t.auth_session("CRAM-MD5")
    reply = t.expect(client.command("AUTH CRAM-MD5"), (334,), "AUTH CRAM-MD5")
    challenge = base64.b64decode(reply.lines[0], validate=True)
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    t.expect(client.command(_b64(f"{user} {digest}")), (235,), "the CRAM-MD5 response")


@case("auth.challenge-is-base64", "RFC 4954 4", MUST, "a 334 challenge is only base64")
def challenge_b64(t: Check) -> None:
    t.require_auth()
    client = t.auth_session("LOGIN")
    reply = t.expect(client.command("AUTH LOGIN"), (334,), "AUTH LOGIN")
    try:
        base64.b64decode(reply.lines[0], validate=True)
    except ValueError:
        t.fail(f"challenge is not base64: {reply.lines[0]!r}")


@case("auth.bad-credentials", "RFC 4954 4, 6", MUST, "a wrong password gets 535")
def bad(t: Check) -> None:
    client = t.auth_session()
    reply = client.command(f"AUTH PLAIN {t.plain(password='wrong-password-x')}")
    t.expect(reply, (535,), "AUTH PLAIN with a wrong password")


@case("auth.retry-after-failure", "RFC 4954 4", MUST, "after 535, AUTH may be tried again")
def retry(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command(f"AUTH PLAIN {t.plain(password='wrong')}"), (535,), "wrong password")
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (235,), "AUTH PLAIN again")


@case("auth.second-auth-503", "RFC 4954 4", MUST, "AUTH after a successful AUTH gets 503")
def second(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (235,), "AUTH PLAIN")
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (503,), "a second AUTH")


@case("auth.in-transaction-503", "RFC 4954 4", MUST, "AUTH during a transaction gets 503")
def in_transaction(t: Check) -> None:
    client = t.auth_session()
    t.mail(client)
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (503,), "AUTH after MAIL")


@case("auth.unknown-mechanism", "RFC 4954 4", MUST, "AUTH X-NOSUCH gets 504")
def unknown(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command("AUTH X-NOSUCH-MECH"), (504,), "an unknown mechanism")


@case("auth.cancel", "RFC 4954 4", MUST, "'*' cancels the exchange with 501")
def cancel(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command("AUTH PLAIN"), (334,), "AUTH PLAIN")
    t.expect(client.command("*"), (501,), "'*' to cancel")
    t.expect(client.command("NOOP"), (250,), "NOOP after the cancel")


@case("auth.bad-base64-response", "RFC 4954 4", MUST, "a response that is not base64 gets 501")
def bad_b64(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command("AUTH PLAIN"), (334,), "AUTH PLAIN")
    t.expect(client.command("!!not base64!!"), (501,), "a response that is not base64")


@case("auth.bad-base64-initial", "RFC 4954 4", MUST, "an initial response not base64 gets 501")
def bad_b64_initial(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command("AUTH PLAIN !!not*base64"), (501,), "initial response not base64")


@case("auth.initial-response-server-first", "RFC 4954 4", MUST,
      "an initial response to CRAM-MD5 (server speaks first) gets 501")  # fmt: skip
def server_first(t: Check) -> None:
    t.require_auth()
    client = t.auth_session("CRAM-MD5")
    t.expect(client.command(f"AUTH CRAM-MD5 {_b64('x y')}"), (501,), "CRAM-MD5 with a response")


@case("auth.before-ehlo", "RFC 4954 3, RFC 5321 4.1.4", SHOULD, "AUTH before EHLO gets 503")
def before_ehlo(t: Check) -> None:
    t.require_auth()
    client = t.connect()
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (503,), "AUTH before EHLO")


@case("auth.lowercase-verb", "RFC 5321 2.4, RFC 4954 4", MUST, "'auth PLAIN' works as AUTH")
def lowercase(t: Check) -> None:
    client = t.auth_session()  # only the verb: SASL mechanism names are upper case (RFC 4422 3.1)
    t.expect(client.command(f"auth PLAIN {t.plain()}"), (235,), "auth PLAIN")


@case("auth.mail-auth-parameter", "RFC 4954 5", MUST, "MAIL ... AUTH=<> after AUTH gets 250")
def mail_auth(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (235,), "AUTH PLAIN")
    t.mail(client, "AUTH=<>")


@case("auth.mail-auth-parameter-unauthenticated", "RFC 4954 5", MUST,
      "MAIL ... AUTH=<> without AUTH gets 250")  # fmt: skip
def mail_auth_anonymous(t: Check) -> None:
    if "AUTH" in t.target.extensions:
        client = t.session()
    elif "AUTH" in (t.target.tls_extensions or {}):
        client = t.tls_session()[0]
    else:
        t.skip("AUTH not advertised (with the TLS settings given)")
    t.mail(client, "AUTH=<>")


@case("auth.then-message", "RFC 4954 4", MUST, "after 235, a message gets 250")
def then_message(t: Check) -> None:
    client = t.auth_session()
    t.expect(client.command(f"AUTH PLAIN {t.plain()}"), (235,), "AUTH PLAIN")
    t.deliver(client)
