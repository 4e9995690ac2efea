"""RFC 6152 (8BITMIME) and RFC 6531 (SMTPUTF8)."""

from __future__ import annotations

from ._suite import Check, Level, case, message

MUST, SHOULD = Level.MUST, Level.SHOULD
EIGHT = ("8BITMIME",)
UTF8 = ("SMTPUTF8",)
EIGHT_BIT_BODY = message("Caf\u00e9, na\u00efve, \u65e5\u672c\u8a9e\r\n".encode())


@case("8bitmime.body-8bitmime", "RFC 6152 2", MUST, "MAIL BODY=8BITMIME gets 250", needs=EIGHT)
def body_8bit(t: Check) -> None:
    t.mail(t.session(), "BODY=8BITMIME")


@case("8bitmime.body-7bit", "RFC 6152 2", MUST, "MAIL BODY=7BIT gets 250", needs=EIGHT)
def body_7bit(t: Check) -> None:
    t.mail(t.session(), "BODY=7BIT")


@case("8bitmime.body-unknown", "RFC 6152 2, RFC 5321 4.1.1.11", MUST,
      "MAIL BODY=9BIT is refused (501/555)", needs=EIGHT)  # fmt: skip
def body_bad(t: Check) -> None:
    reply = t.session().command(f"MAIL FROM:<{t.target.mail_from}> BODY=9BIT")
    t.expect(reply, (501, 555, 504), "BODY=9BIT")


@case("8bitmime.lowercase", "RFC 5321 2.4, RFC 6152 2", MUST, "body=8bitmime works", needs=EIGHT)
def body_lower(t: Check) -> None:
    t.mail(t.session(), "body=8bitmime")


@case("8bitmime.message", "RFC 6152 3", MUST, "an 8-bit message with BODY=8BITMIME gets 250",
      needs=EIGHT)  # fmt: skip
def message_8bit(t: Check) -> None:
    client = t.session()
    t.transaction(client, "BODY=8BITMIME")
    t.expect(t.data(client, EIGHT_BIT_BODY), (250,), "end of an 8-bit message")


@case("8bitmime.keyword-no-params", "RFC 6152 2", MUST, "8BITMIME has no parameters", needs=EIGHT)
def keyword(t: Check) -> None:
    if t.target.extensions["8BITMIME"]:
        t.fail(f"8BITMIME has parameters: {t.target.extensions['8BITMIME']}")


@case("smtputf8.keyword-no-params", "RFC 6531 3.1", MUST, "SMTPUTF8 has no parameters", needs=UTF8)
def utf8_keyword(t: Check) -> None:
    if t.target.extensions["SMTPUTF8"]:
        t.fail(f"SMTPUTF8 has parameters: {t.target.extensions['SMTPUTF8']}")


@case("smtputf8.needs-8bitmime", "RFC 6531 3.1 (8)", MUST, "SMTPUTF8 comes with 8BITMIME",
      needs=UTF8)  # fmt: skip
def utf8_8bit(t: Check) -> None:
    if "8BITMIME" not in t.target.extensions:
        t.fail("SMTPUTF8 is advertised without 8BITMIME")


@case("smtputf8.utf8-sender", "RFC 6531 3.3, 3.4", MUST,
      "MAIL FROM:<j\u00f6rg@...> SMTPUTF8 gets 250", needs=UTF8)  # fmt: skip
def utf8_sender(t: Check) -> None:
    client = t.session()
    line = "MAIL FROM:<j\u00f6rg@b\u00fccher.example> SMTPUTF8"
    t.expect(client.command(line.encode()), (250,), "UTF-8 sender with SMTPUTF8")


@case("smtputf8.utf8-recipient", "RFC 6531 3.3", MUST,
      "RCPT with a UTF-8 local part after MAIL ... SMTPUTF8 is parsed", needs=UTF8)  # fmt: skip
def utf8_rcpt(t: Check) -> None:
    client = t.session()
    t.mail(client, "SMTPUTF8")
    domain = t.target.rcpt.rsplit("@", 1)[1] if "@" in t.target.rcpt else "example.org"
    reply = client.command(f"RCPT TO:<\u00fcser@{domain}>".encode())
    t.expect(reply, (250, 251, 550), "UTF-8 recipient")  # 550: no such user is fine


@case("smtputf8.without-parameter", "RFC 6531 3.5, RFC 5321 4.1.2", SHOULD,
      "a UTF-8 sender without SMTPUTF8 is refused", needs=UTF8)  # fmt: skip
def utf8_without(t: Check) -> None:
    reply = t.session().command("MAIL FROM:<j\u00f6rg@example.org>".encode())
    t.expect(reply, (550, 553, 501, 555), "UTF-8 sender without SMTPUTF8")


@case("smtputf8.parameter-value", "RFC 6531 3.4", SHOULD, "SMTPUTF8=yes is refused", needs=UTF8)
def utf8_value(t: Check) -> None:
    reply = t.session().command(f"MAIL FROM:<{t.target.mail_from}> SMTPUTF8=yes")
    t.expect(reply, (501, 555), "SMTPUTF8 with a value")


@case("smtputf8.message", "RFC 6531 3.2", MUST, "a UTF-8 message with SMTPUTF8 gets 250",
      needs=UTF8)  # fmt: skip
def utf8_message(t: Check) -> None:
    client = t.session()
    t.transaction(client, "SMTPUTF8 BODY=8BITMIME")
    body = message("Gr\u00fc\u00dfe aus K\u00f6ln\r\n".encode(), subject="\u00dcbersicht")
    t.expect(t.data(client, body), (250,), "end of a UTF-8 message")
