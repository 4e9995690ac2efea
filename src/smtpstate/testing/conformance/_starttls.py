"""RFC 3207: STARTTLS. These cases need a TLS setting (``--tls-ca`` or
``--tls-insecure``); without one they are skipped."""

from __future__ import annotations

from ._suite import Check, Level, case, message, parse_ehlo

MUST, SHOULD = Level.MUST, Level.SHOULD
TLS = ("STARTTLS",)


@case("starttls.code-220", "RFC 3207 4", MUST, "STARTTLS gets 220", needs=TLS)
def code_220(t: Check) -> None:
    t.require_tls()
    t.expect(t.session().command("STARTTLS"), (220,), "STARTTLS")


@case("starttls.handshake", "RFC 3207 4, 4.2", MUST, "the handshake succeeds, EHLO gets 250",
      needs=TLS)  # fmt: skip
def handshake(t: Check) -> None:
    t.tls_session()


@case("starttls.not-offered-again", "RFC 3207 4.2", MUST, "EHLO over TLS omits STARTTLS",
      needs=TLS)  # fmt: skip
def not_again(t: Check) -> None:
    _, hello = t.tls_session()
    if "STARTTLS" in parse_ehlo(hello):
        t.fail("STARTTLS is advertised again after the handshake")


@case("starttls.parameter-501", "RFC 3207 4", MUST, "STARTTLS with a parameter gets 501",
      needs=TLS)  # fmt: skip
def parameter(t: Check) -> None:
    t.require_tls()
    t.expect(t.session().command("STARTTLS now"), (501,), "STARTTLS with a parameter")


@case("starttls.twice", "RFC 3207 4.2", SHOULD, "STARTTLS over TLS is refused (503/502/454)",
      needs=TLS)  # fmt: skip
def twice(t: Check) -> None:
    client, _ = t.tls_session()
    t.expect(client.command("STARTTLS"), (503, 502, 454, 500), "STARTTLS over TLS")


@case("starttls.state-reset", "RFC 3207 4.2", MUST, "after TLS, MAIL without a new EHLO gets 503",
      needs=TLS)  # fmt: skip
def reset(t: Check) -> None:
    client = t.session()
    t.starttls(client)
    reply = client.command(f"MAIL FROM:<{t.target.mail_from}>")
    t.expect(reply, (503,), "MAIL right after the handshake (the EHLO was forgotten)")


@case("starttls.transaction-forgotten", "RFC 3207 4.2", MUST,
      "a MAIL given before STARTTLS is forgotten", needs=TLS)  # fmt: skip
def forgotten(t: Check) -> None:
    client = t.session()
    t.require_tls()
    if client.command(f"MAIL FROM:<{t.target.mail_from}>").code != 250:
        t.skip("MAIL before TLS refused")
    reply = client.command("STARTTLS")
    if reply.code != 220:  # refusing STARTTLS inside a transaction is fine too
        t.expect_class(reply, "45", "STARTTLS in a transaction")
        return
    context = t.require_tls()
    client.starttls(context, t.target.tls_server_name or t.target.host)
    t.ehlo(client)
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT after TLS without MAIL")


@case("starttls.plaintext-injection", "RFC 3207 4.2, 5", MUST,
      "commands sent with STARTTLS in one write are not executed", needs=TLS)  # fmt: skip
def injection(t: Check) -> None:
    context = t.require_tls()
    client = t.session()
    client.send(b"STARTTLS\r\nNOOP\r\n")
    reply = client.reply()
    if reply.code != 220:
        t.expect_class(reply, "45", "STARTTLS with a command behind it")
        return
    try:
        client.starttls(context, t.target.tls_server_name or t.target.host)
    except OSError:
        return  # the server refused the connection instead of running the NOOP: fine
    first = client.command("QUIT")  # a 250 here answers the injected NOOP
    t.expect(first, (221, 421), "first reply over TLS (the injected NOOP must not be answered)")


@case("starttls.message-over-tls", "RFC 3207 4.2", MUST, "a message over TLS gets 250",
      needs=TLS)  # fmt: skip
def message_tls(t: Check) -> None:
    client, _ = t.tls_session()
    t.deliver(client, message(subject="over TLS"))


@case("starttls.quit-over-tls", "RFC 3207 4.2, RFC 5321 4.1.1.10", MUST,
      "QUIT over TLS gets 221", needs=TLS)  # fmt: skip
def quit_tls(t: Check) -> None:
    client, _ = t.tls_session()
    t.expect(client.command("QUIT"), (221,), "QUIT over TLS")


@case("starttls.reconnect-after-abort", "RFC 5321 3.8", MUST,
      "a client that drops the handshake does not harm the next one", needs=TLS)  # fmt: skip
def abort(t: Check) -> None:
    t.require_tls()
    client = t.session()
    t.expect(client.command("STARTTLS"), (220,), "STARTTLS")
    client.send(b"\x16\x03\x01\x00\x05hello")  # a broken ClientHello
    client.close()
    t.tls_session()
