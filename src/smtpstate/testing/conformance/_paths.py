"""RFC 5321 4.1.2, 4.5.1 and 4.5.3.1: MAIL and RCPT paths, their syntax and sizes."""

from __future__ import annotations

from ._suite import Check, Level, case, message

MUST, SHOULD = Level.MUST, Level.SHOULD

# 4.1.4: an argument the server does not accept gets 501 (553: "mailbox name not allowed").
# Refusing a malformed path is SHOULD: RFC 5321 requires the 501 for an argument the server
# finds unacceptable, but does not forbid reading a sloppy path leniently.
BAD_MAIL = (501, 553, 555, 500)
BAD_RCPT = (501, 553, 555, 550, 500)


def _domain(t: Check) -> str:
    rcpt = t.target.rcpt
    return rcpt.rsplit("@", 1)[1] if "@" in rcpt else "example.org"


@case("mail.null-reverse-path", "RFC 5321 4.5.5, 6.1", MUST, "MAIL FROM:<> gets 250")
def null_path(t: Check) -> None:
    t.expect(t.session().command("MAIL FROM:<>"), (250,), "MAIL FROM:<>")


@case("mail.null-path-message", "RFC 5321 4.5.5, 6.1", MUST, "a bounce (MAIL FROM:<>) is delivered")
def null_path_message(t: Check) -> None:
    client = t.session()
    t.expect(client.command("MAIL FROM:<>"), (250,), "MAIL FROM:<>")
    t.rcpt(client)
    t.expect(t.data(client, message(subject="bounce")), (250,), "end of data")


@case("mail.no-argument", "RFC 5321 4.1.4", MUST, "MAIL without argument gets 501")
def mail_empty(t: Check) -> None:
    t.expect(t.session().command("MAIL"), BAD_MAIL, "MAIL without argument")


@case("mail.missing-colon", "RFC 5321 4.1.4, 4.1.1.2", SHOULD, "MAIL FROM <a@b> is refused")
def mail_colon(t: Check) -> None:
    t.expect(t.session().command(f"MAIL FROM <{t.target.mail_from}>"), BAD_MAIL, "no colon")


@case("mail.unclosed-bracket", "RFC 5321 4.1.4, 4.1.2", SHOULD, "MAIL FROM:<a@b is refused")
def mail_unclosed(t: Check) -> None:
    t.expect(t.session().command(f"MAIL FROM:<{t.target.mail_from}"), BAD_MAIL, "unclosed path")


@case("mail.two-at-signs", "RFC 5321 4.1.2", SHOULD, "MAIL FROM:<a@b@c> is refused")
def mail_two_at(t: Check) -> None:
    t.expect(t.session().command("MAIL FROM:<a@b@example.org>"), BAD_MAIL, "two @")


@case("mail.empty-domain", "RFC 5321 4.1.2", SHOULD, "MAIL FROM:<user@> is refused")
def mail_empty_domain(t: Check) -> None:
    t.expect(t.session().command("MAIL FROM:<user@>"), BAD_MAIL, "empty domain")


@case("mail.bad-domain", "RFC 5321 4.1.2", SHOULD, "MAIL FROM:<a@exa..mple> is refused")
def mail_bad_domain(t: Check) -> None:
    t.expect(t.session().command("MAIL FROM:<a@exa..mple.org>"), BAD_MAIL, "empty label")


@case("mail.quoted-local-part", "RFC 5321 4.1.2", MUST, 'MAIL FROM:<"john doe"@domain> is syntax')
def mail_quoted(t: Check) -> None:
    t.expect(t.session().command('MAIL FROM:<"john doe"@example.org>'), (250,), "quoted local")


@case("mail.address-literal", "RFC 5321 4.1.2, 4.1.3", SHOULD, "MAIL FROM:<a@[192.0.2.1]> gets 250")
def mail_literal(t: Check) -> None:
    t.expect(t.session().command("MAIL FROM:<user@[192.0.2.1]>"), (250,), "address literal")


@case("mail.local-part-64", "RFC 5321 4.5.3.1.1", MUST, "a 64-octet local part is received")
def mail_local_64(t: Check) -> None:
    t.expect(t.session().command(f"MAIL FROM:<{'l' * 64}@example.org>"), (250,), "64-octet local")


@case("mail.path-256", "RFC 5321 4.5.3.1.3", MUST, "a 256-octet reverse-path is received")
def mail_path_256(t: Check) -> None:
    domain = ("d" * 59 + ".") * 3 + "e" * 8 + ".org"  # 192 octets
    path = f"<{'l' * 61}@{domain}>"
    assert len(path) == 256, len(path)
    t.expect(t.session().command(f"MAIL FROM:{path}"), (250,), "256-octet path")


@case("mail.local-part-65", "RFC 5321 4.5.3.1.9", SHOULD,
      "a 65-octet local part: accepted, or 501/553, and the session goes on")  # fmt: skip
def mail_local_65(t: Check) -> None:
    client = t.session()
    reply = client.command(f"MAIL FROM:<{'l' * 65}@example.org>")
    t.expect(reply, (250, 501, 553, 550), "65-octet local part")
    t.survives(client, reply, "an over-long local part")


@case("rcpt.postmaster-no-domain", "RFC 5321 4.5.1", MUST, "RCPT TO:<Postmaster> is accepted")
def postmaster(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("RCPT TO:<Postmaster>"), (250, 251), "RCPT TO:<Postmaster>")


@case("rcpt.postmaster-domain", "RFC 5321 4.5.1", MUST, "RCPT TO:<postmaster@server> is accepted")
def postmaster_domain(t: Check) -> None:
    client = t.session()
    t.mail(client)
    line = f"RCPT TO:<postmaster@{_domain(t)}>"
    t.expect(client.command(line), (250, 251), line)


@case("rcpt.null-path", "RFC 5321 4.1.1.3", SHOULD, "RCPT TO:<> is refused")
def rcpt_null(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("RCPT TO:<>"), BAD_RCPT, "RCPT TO:<>")


@case("rcpt.no-argument", "RFC 5321 4.1.4", MUST, "RCPT without argument is refused")
def rcpt_empty(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("RCPT"), BAD_RCPT, "RCPT without argument")


@case("rcpt.missing-colon", "RFC 5321 4.1.1.3", SHOULD, "RCPT TO <a@b> (no colon) is refused")
def rcpt_colon(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command(f"RCPT TO <{t.target.rcpt}>"), BAD_RCPT, "no colon")


@case("rcpt.unclosed-bracket", "RFC 5321 4.1.2", SHOULD, "RCPT TO:<a@b is refused")
def rcpt_unclosed(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}"), BAD_RCPT, "unclosed path")


@case("rcpt.source-route", "RFC 5321 3.3, 4.1.2", MUST, "a source route is parsed, not a 500")
def rcpt_route(t: Check) -> None:
    client = t.session()
    t.mail(client)
    # A route needs a mailbox after it: the bare <Postmaster> form cannot take one.
    mailbox = t.target.rcpt if "@" in t.target.rcpt else f"postmaster@{_domain(t)}"
    reply = client.command(f"RCPT TO:<@relay.example.org,@b.example.org:{mailbox}>")
    t.expect(reply, (250, 251, 550, 551, 553), "RCPT with a source route")


@case("rcpt.local-part-64", "RFC 5321 4.5.3.1.1", MUST, "a 64-octet recipient local part parses")
def rcpt_local_64(t: Check) -> None:
    client = t.session()
    t.mail(client)
    reply = client.command(f"RCPT TO:<{'r' * 64}@{_domain(t)}>")
    t.expect(reply, (250, 251, 550, 551), "64-octet local part")  # 550: no such user is fine


@case("rcpt.hundred-recipients", "RFC 5321 4.5.3.1.8", MUST, "100 recipients are buffered")
def rcpt_hundred(t: Check) -> None:
    client = t.session()
    t.mail(client)
    for n in range(100):
        reply = client.command(f"RCPT TO:<{t.target.rcpt}>")
        t.expect(reply, (250, 251), f"RCPT number {n + 1}")


@case("rcpt.unknown-parameter", "RFC 5321 4.1.1.11", MUST, "an unknown RCPT parameter gets 555/501")
def rcpt_param(t: Check) -> None:
    client = t.session()
    t.mail(client)
    reply = client.command(f"RCPT TO:<{t.target.rcpt}> XNOSUCHPARAM=1")
    t.expect(reply, (555, 501, 504), "unknown RCPT parameter")


@case("mail.unknown-parameter", "RFC 5321 4.1.1.11", MUST, "an unknown MAIL parameter gets 555/501")
def mail_param(t: Check) -> None:
    reply = t.session().command(f"MAIL FROM:<{t.target.mail_from}> XNOSUCHPARAM=1")
    t.expect(reply, (555, 501, 504), "unknown MAIL parameter")
