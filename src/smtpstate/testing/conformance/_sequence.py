"""RFC 5321 3.3 and 4.1.4: the order of commands, and what a refusal leaves behind."""

from __future__ import annotations

from ._suite import Check, Level, case, message

MUST, SHOULD = Level.MUST, Level.SHOULD

NO_RECIPIENT = (503, 554)  # 3.3: DATA without an accepted RCPT gets 503 or 554


@case("sequence.rcpt-before-mail", "RFC 5321 3.3", MUST, "RCPT before MAIL gets 503")
def rcpt_before_mail(t: Check) -> None:
    client = t.session()
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT without MAIL")


@case("sequence.rcpt-before-ehlo", "RFC 5321 3.3", MUST, "RCPT first thing gets 503")
def rcpt_before_ehlo(t: Check) -> None:
    client = t.connect()
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT without MAIL")


@case("sequence.data-before-mail", "RFC 5321 3.3, 4.1.4", MUST, "DATA without MAIL gets 503/554")
def data_before_mail(t: Check) -> None:
    t.expect(t.session().command("DATA"), NO_RECIPIENT, "DATA without MAIL")


@case("sequence.data-before-rcpt", "RFC 5321 3.3, 4.1.4", MUST, "DATA without RCPT gets 503/554")
def data_before_rcpt(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("DATA"), NO_RECIPIENT, "DATA without RCPT")


@case("sequence.data-after-refused-rcpt", "RFC 5321 3.3", MUST,
      "DATA after only a refused RCPT gets 503/554")  # fmt: skip
def data_after_refused(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect_class(client.command("RCPT"), "5", "RCPT without argument")
    t.expect(client.command("DATA"), NO_RECIPIENT, "DATA with no accepted RCPT")


@case("sequence.nested-mail", "RFC 5321 4.1.4", MUST, "MAIL inside a transaction gets 503")
def nested_mail(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command(f"MAIL FROM:<{t.target.mail_from}>"), (503,), "second MAIL")


@case("sequence.rset-clears-mail", "RFC 5321 4.1.1.5", MUST, "RSET ends the transaction")
def rset_clears_mail(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("RSET"), (250,), "RSET")
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT after RSET")


@case("sequence.rset-clears-rcpt", "RFC 5321 4.1.1.5", MUST, "RSET forgets the recipients")
def rset_clears_rcpt(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("RSET"), (250,), "RSET")
    t.expect(client.command("DATA"), NO_RECIPIENT, "DATA after RSET")


@case("sequence.mail-after-rset", "RFC 5321 4.1.1.5", MUST, "MAIL after RSET gets 250")
def mail_after_rset(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("RSET"), (250,), "RSET")
    t.mail(client)


@case("sequence.end-of-data-clears", "RFC 5321 4.1.1.4", MUST, "after a message, RCPT needs MAIL")
def end_clears(t: Check) -> None:
    client = t.session()
    t.deliver(client)
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT after a message")


@case("sequence.two-messages", "RFC 5321 4.1.4", MUST, "two transactions in one session")
def two_messages(t: Check) -> None:
    client = t.session()
    t.deliver(client)
    t.deliver(client, message(subject="second"))


@case("sequence.refused-mail-keeps-state", "RFC 5321 4.1.4", MUST,
      "after a 501 to MAIL no transaction is open")  # fmt: skip
def refused_mail(t: Check) -> None:
    client = t.session()
    t.expect(client.command("MAIL"), (501, 553, 555), "MAIL without argument")
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT after refused MAIL")


@case("sequence.refused-rcpt-keeps-transaction", "RFC 5321 4.1.4", MUST,
      "a refused RCPT leaves MAIL and earlier RCPTs")  # fmt: skip
def refused_rcpt(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect_class(client.command("RCPT"), "5", "RCPT without argument")
    t.rcpt(client)
    t.expect(t.data(client, message()), (250,), "end of data")


@case("sequence.noop-keeps-transaction", "RFC 5321 4.1.1.9", MUST, "NOOP changes nothing")
def noop_keeps(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("NOOP"), (250,), "NOOP")
    t.expect(t.data(client, message()), (250,), "end of data after NOOP")


@case("sequence.vrfy-keeps-transaction", "RFC 5321 4.1.1.6", MUST, "VRFY changes no buffer")
def vrfy_keeps(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect_class(client.command("VRFY postmaster"), "245", "VRFY")
    t.rcpt(client)


@case("sequence.help-keeps-transaction", "RFC 5321 4.1.1.8", MUST, "HELP changes no buffer")
def help_keeps(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect_class(client.command("HELP"), "245", "HELP")
    t.expect(client.command("DATA"), (354,), "DATA after HELP")
    client.send(message() + b".\r\n")
    t.expect(client.reply(), (250,), "end of data")


@case("sequence.noop-before-ehlo", "RFC 5321 4.1.4", SHOULD, "NOOP before EHLO gets 250")
def noop_first(t: Check) -> None:
    t.expect(t.connect().command("NOOP"), (250,), "NOOP before EHLO")


@case("sequence.rset-before-ehlo", "RFC 5321 4.1.4", SHOULD, "RSET before EHLO gets 250")
def rset_first(t: Check) -> None:
    t.expect(t.connect().command("RSET"), (250,), "RSET before EHLO")


@case("sequence.vrfy-before-ehlo", "RFC 5321 4.1.4", SHOULD, "VRFY before EHLO is not 503")
def vrfy_first(t: Check) -> None:
    reply = t.connect().command("VRFY postmaster")
    t.expect(reply, (250, 251, 252, 550, 551, 553, 502, 504), "VRFY before EHLO")


@case("sequence.help-before-ehlo", "RFC 5321 4.1.4", SHOULD, "HELP before EHLO is not 503")
def help_first(t: Check) -> None:
    reply = t.connect().command("HELP")
    if reply.code == 503:
        t.fail("HELP before EHLO got 503")
    t.expect_class(reply, "25", "HELP before EHLO")


@case("sequence.quit-before-ehlo", "RFC 5321 4.1.1.10", MUST, "QUIT before EHLO gets 221")
def quit_first(t: Check) -> None:
    t.expect(t.connect().command("QUIT"), (221,), "QUIT before EHLO")


@case("sequence.unknown-keeps-transaction", "RFC 5321 4.1.4", SHOULD,
      "an unknown command leaves the transaction")  # fmt: skip
def unknown_keeps(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect_class(client.command("XNOSUCHVERB"), "5", "unknown verb")
    t.expect(t.data(client, message()), (250,), "end of data after an unknown command")
