"""RFC 5321: the greeting, EHLO and HELO, the reply format, and commands in any case."""

from __future__ import annotations

import re

from .._shared import ServerReply
from ._suite import Check, Level, case, message

MUST, SHOULD = Level.MUST, Level.SHOULD

# RFC 5321 4.1.2: Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]
SUB_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
DOMAIN = re.compile(rf"{SUB_DOMAIN}(?:\.{SUB_DOMAIN})*")
ADDRESS_LITERAL = re.compile(r"\[[^\[\]\\\s]+\]")
# 4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); ehlo-param = 1*(%d33-126)
EHLO_LINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(?: [\x21-\x7e]+)*")
# 4.2: textstring = 1*(%d09 / %d32-126)
TEXTSTRING = re.compile(r"[\t\x20-\x7e]*")


def names_itself(line: str) -> bool:
    name = line.split(" ", 1)[0]
    return bool(DOMAIN.fullmatch(name) or ADDRESS_LITERAL.fullmatch(name))


@case("greeting.code-220", "RFC 5321 3.1, 4.3.2", MUST, "the greeting is a 220 reply")
def greeting_220(t: Check) -> None:
    client = t.connect(greeting=False)
    t.expect(client.reply(), (220,), "greeting")


@case("greeting.names-server", "RFC 5321 4.2, 4.3.1", MUST, "the greeting starts with a domain")
def greeting_domain(t: Check) -> None:
    client = t.connect(greeting=False)
    reply = t.expect(client.reply(), (220,), "greeting")
    if not names_itself(reply.lines[0]):
        t.fail(f"greeting does not start with a Domain or address literal: {reply.lines[0]!r}")


@case("ehlo.code-250", "RFC 5321 4.1.1.1", MUST, "EHLO with a domain gets 250")
def ehlo_250(t: Check) -> None:
    t.ehlo(t.connect())


@case("ehlo.names-server", "RFC 5321 4.1.1.1", MUST, "the EHLO reply starts with a domain")
def ehlo_domain(t: Check) -> None:
    reply = t.ehlo(t.connect())
    if not names_itself(reply.lines[0]):
        t.fail(f"EHLO reply does not start with a Domain: {reply.lines[0]!r}")


@case("ehlo.multiline-format", "RFC 5321 4.2, 4.1.1.1", MUST, "250-... lines end with 250 SP")
def ehlo_multiline(t: Check) -> None:
    reply = t.ehlo(t.connect())
    lines = reply.raw.split(b"\r\n")[:-1]
    for line in lines[:-1]:
        if not line.startswith(b"250-"):
            t.fail(f"continuation line without '250-': {line!r}")
    last = lines[-1]
    if not (last == b"250" or last.startswith(b"250 ")):
        t.fail(f"last line is not '250' or '250 text': {last!r}")


@case("ehlo.keyword-syntax", "RFC 5321 4.1.1.1", MUST, "each extension line is keyword [params]")
def ehlo_keywords(t: Check) -> None:
    reply = t.ehlo(t.connect())
    for line in reply.lines[1:]:
        if not EHLO_LINE.fullmatch(line):
            t.fail(f"not an ehlo-line (keyword *(SP param)): {line!r}")


@case("ehlo.reply-line-length", "RFC 5321 4.5.3.1.5", MUST, "reply lines are at most 512 octets")
def ehlo_line_length(t: Check) -> None:
    client = t.connect()
    replies = [t.ehlo(client), client.command("HELP"), client.command("NOOP")]
    for reply in replies:
        for line in reply.raw.split(b"\r\n")[:-1]:
            if len(line) + 2 > 512:
                t.fail(f"a reply line of {len(line) + 2} octets")


@case("ehlo.address-literal", "RFC 5321 4.1.1.1, 2.3.5", SHOULD, "EHLO [127.0.0.1] gets 250")
def ehlo_literal(t: Check) -> None:
    t.ehlo(t.connect(), "[127.0.0.1]")


@case("ehlo.ipv6-literal", "RFC 5321 4.1.3", SHOULD, "EHLO [IPv6:::1] gets 250")
def ehlo_ipv6(t: Check) -> None:
    t.ehlo(t.connect(), "[IPv6:::1]")


@case("ehlo.domain-255", "RFC 5321 4.5.3.1.2", MUST, "a 255-octet domain is received")
def ehlo_long_domain(t: Check) -> None:
    domain = ("x" * 59 + ".") * 4 + "y" * 15  # four 59-octet labels: 255 octets
    t.ehlo(t.connect(), domain)


@case("ehlo.missing-domain", "RFC 5321 4.1.4", MUST, "EHLO without a domain is refused")
def ehlo_missing(t: Check) -> None:
    client = t.connect()
    t.expect(client.command("EHLO"), (501, 500, 502, 550), "EHLO without argument")


@case("ehlo.again-resets", "RFC 5321 4.1.4", MUST, "a second EHLO ends the transaction")
def ehlo_again(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.ehlo(client)
    reply = client.command(f"RCPT TO:<{t.target.rcpt}>")
    t.expect(reply, (503,), "RCPT after MAIL and a new EHLO")


@case("ehlo.refused-keeps-state", "RFC 5321 4.1.4", MUST, "a refused EHLO keeps the transaction")
def ehlo_refused(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect_class(client.command("EHLO"), "5", "EHLO without argument")
    t.rcpt(client)


@case("helo.code-250", "RFC 5321 4.1.1.1, 4.5.1", MUST, "HELO with a domain gets 250")
def helo_250(t: Check) -> None:
    client = t.connect()
    t.expect(client.command(f"HELO {t.target.helo_name}"), (250,), "HELO")


@case("helo.names-server", "RFC 5321 4.1.1.1", SHOULD, "HELO's 250 names the server")
def helo_domain(t: Check) -> None:
    client = t.connect()
    reply = t.expect(client.command(f"HELO {t.target.helo_name}"), (250,), "HELO")
    if not names_itself(reply.lines[0]):
        t.fail(f"HELO reply does not start with a Domain: {reply.lines[0]!r}")


@case("helo.missing-domain", "RFC 5321 4.1.4", MUST, "HELO without a domain is refused")
def helo_missing(t: Check) -> None:
    client = t.connect()
    t.expect(client.command("HELO"), (501, 500, 502, 550), "HELO without argument")


@case("helo.then-mail", "RFC 5321 4.1.1.1, 4.5.1", MUST, "a session opened with HELO sends mail")
def helo_mail(t: Check) -> None:
    client = t.connect()
    t.expect(client.command(f"HELO {t.target.helo_name}"), (250,), "HELO")
    t.transaction(client)
    t.expect(t.data(client, message()), (250,), "end of data")


@case("helo.again-resets", "RFC 5321 4.1.4", SHOULD, "a second HELO ends the transaction")
def helo_again(t: Check) -> None:
    client = t.connect()
    t.expect(client.command(f"HELO {t.target.helo_name}"), (250,), "HELO")
    t.mail(client)
    t.expect(client.command(f"HELO {t.target.helo_name}"), (250,), "second HELO")
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT after a new HELO")


# -- replies throughout a session ----------------------------------------------------


def _whole_session(t: Check) -> list[ServerReply]:
    """A session with successes and errors, every reply kept."""
    client = t.connect(greeting=False)
    replies = [client.reply()]
    for line in ("EHLO " + t.target.helo_name, "NOOP", "XNOSUCHVERB", "MAIL FROM:<bad",
                 f"MAIL FROM:<{t.target.mail_from}>", f"RCPT TO:<{t.target.rcpt}>"):
        replies.append(client.command(line))
    replies.append(client.command("DATA"))
    client.send(message() + b".\r\n")
    replies.append(client.reply())
    replies += [client.command("RSET"), client.command("VRFY postmaster"), client.command("QUIT")]
    return replies


@case("reply.code-range", "RFC 5321 4.2, 4.3.2", MUST, "reply codes are 2xx-5xx, second digit 0-5")
def reply_codes(t: Check) -> None:
    for reply in _whole_session(t):
        code = str(reply.code)
        if not ("2" <= code[0] <= "5" and "0" <= code[1] <= "5"):
            t.fail(f"reply code {code} is outside Reply-code (RFC 5321 4.2)")


@case("reply.textstring", "RFC 5321 4.2", MUST, "reply text is printable ASCII or TAB")
def reply_text(t: Check) -> None:
    for reply in _whole_session(t):
        for line in reply.raw.split(b"\r\n")[:-1]:
            text = line[4:].decode("latin-1")
            if not TEXTSTRING.fullmatch(text):
                t.fail(f"non-ASCII or control octet in reply text: {line!r}")


@case("reply.separator", "RFC 5321 4.2", MUST, "each line is code, SP or '-', then text")
def reply_separator(t: Check) -> None:
    for reply in _whole_session(t):
        for line in reply.raw.split(b"\r\n")[:-1]:
            if len(line) > 3 and line[3:4] not in (b" ", b"-"):
                t.fail(f"no SP or '-' after the code: {line!r}")


@case("reply.crlf-only", "RFC 5321 2.3.8", MUST, "replies end lines with CRLF only")
def reply_crlf(t: Check) -> None:
    replies = _whole_session(t)  # the client refuses a bare CR or LF in any reply
    if not all(r.raw.endswith(b"\r\n") for r in replies):
        t.fail("a reply does not end with CRLF")


# -- verbs and keywords in any case --------------------------------------------------


def _mixed(word: str) -> str:
    return "".join(c.lower() if i % 2 else c.upper() for i, c in enumerate(word.lower()))


@case("case.ehlo", "RFC 5321 2.4", MUST, "'eHlO' works as EHLO")
def case_ehlo(t: Check) -> None:
    client = t.connect()
    t.expect(client.command(f"{_mixed('ehlo')} {t.target.helo_name}"), (250,), "eHlO")


@case("case.helo", "RFC 5321 2.4", MUST, "'helo' works as HELO")
def case_helo(t: Check) -> None:
    client = t.connect()
    t.expect(client.command(f"helo {t.target.helo_name}"), (250,), "helo")


@case("case.mail-from", "RFC 5321 2.4", MUST, "'mail from:' works as MAIL FROM:")
def case_mail(t: Check) -> None:
    client = t.session()
    t.expect(client.command(f"mail from:<{t.target.mail_from}>"), (250,), "mail from:")


@case("case.rcpt-to", "RFC 5321 2.4", MUST, "'rCpT tO:' works as RCPT TO:")
def case_rcpt(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command(f"rCpT tO:<{t.target.rcpt}>"), (250, 251), "rCpT tO:")


@case("case.data", "RFC 5321 2.4", MUST, "'data' works as DATA")
def case_data(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("data"), (354,), "data")
    client.send(message() + b".\r\n")
    t.expect(client.reply(), (250,), "end of data")


@case("case.rset", "RFC 5321 2.4", MUST, "'rset' works as RSET")
def case_rset(t: Check) -> None:
    t.expect(t.session().command("rset"), (250,), "rset")


@case("case.noop", "RFC 5321 2.4", MUST, "'nOoP' works as NOOP")
def case_noop(t: Check) -> None:
    t.expect(t.session().command("nOoP"), (250,), "nOoP")


@case("case.quit", "RFC 5321 2.4", MUST, "'quit' works as QUIT")
def case_quit(t: Check) -> None:
    t.expect(t.session().command("quit"), (221,), "quit")


@case("case.vrfy", "RFC 5321 2.4", MUST, "'vrfy' is not an unknown command")
def case_vrfy(t: Check) -> None:
    reply = t.session().command("vrfy postmaster")
    if reply.code == 500:
        t.fail("'vrfy' got 500 (unknown); VRFY is required (RFC 5321 4.5.1)")
    t.expect_class(reply, "25", "vrfy")


@case("case.postmaster", "RFC 5321 4.5.1, 2.4", MUST, "RCPT TO:<pOsTmAsTeR> is accepted")
def case_postmaster(t: Check) -> None:
    client = t.session()
    t.mail(client)
    t.expect(client.command("RCPT TO:<pOsTmAsTeR>"), (250, 251), "RCPT TO:<pOsTmAsTeR>")
