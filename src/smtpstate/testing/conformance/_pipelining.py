"""RFC 2920: commands sent in groups are answered in order, one reply each."""

from __future__ import annotations

from ._suite import Check, Level, case, message

MUST = Level.MUST
PIPE = ("PIPELINING",)


def _codes(t: Check, lines: list[str]) -> list[int]:
    client = t.session()
    client.send("".join(f"{line}\r\n" for line in lines).encode())
    return [r.code for r in client.replies(len(lines))]


@case("pipelining.transaction-group", "RFC 2920 3.2", MUST,
      "MAIL, RCPT, RCPT, DATA in one write: 250 250 250 354 in order", needs=PIPE)  # fmt: skip
def group(t: Check) -> None:
    client = t.session()
    rcpt = f"RCPT TO:<{t.target.rcpt}>\r\n"
    client.send(f"MAIL FROM:<{t.target.mail_from}>\r\n{rcpt}{rcpt}DATA\r\n".encode())
    codes = [r.code for r in client.replies(4)]
    if codes[:3] != [250, 250, 250] or codes[3] != 354:
        t.fail(f"replies {codes}, expected [250, 250, 250, 354]")
    client.send(message() + b".\r\n")
    t.expect(client.reply(), (250,), "end of data")


@case("pipelining.rset-noop-group", "RFC 2920 3.2", MUST,
      "RSET, NOOP, NOOP, RSET in one write: four 250s", needs=PIPE)  # fmt: skip
def rset_noop(t: Check) -> None:
    codes = _codes(t, ["RSET", "NOOP", "NOOP", "RSET"])
    if codes != [250] * 4:
        t.fail(f"replies {codes}, expected four 250")


@case("pipelining.failed-rcpt-in-group", "RFC 2920 3.2", MUST,
      "a refused RCPT in a group leaves the others", needs=PIPE)  # fmt: skip
def failed_rcpt(t: Check) -> None:
    client = t.session()
    good = f"RCPT TO:<{t.target.rcpt}>\r\n"
    client.send(f"MAIL FROM:<{t.target.mail_from}>\r\nRCPT\r\n{good}DATA\r\n".encode())
    codes = [r.code for r in client.replies(4)]
    if codes[0] != 250 or codes[1] // 100 != 5 or codes[2] != 250 or codes[3] != 354:
        t.fail(f"replies {codes}, expected [250, 5xx, 250, 354]")
    client.send(message() + b".\r\n")
    t.expect(client.reply(), (250,), "end of data")


@case("pipelining.no-valid-rcpt", "RFC 2920 3.1, RFC 5321 3.3", MUST,
      "DATA in a group whose RCPTs all failed gets 503/554", needs=PIPE)  # fmt: skip
def no_rcpt(t: Check) -> None:
    client = t.session()
    client.send(f"MAIL FROM:<{t.target.mail_from}>\r\nRCPT\r\nDATA\r\n".encode())
    codes = [r.code for r in client.replies(3)]
    if codes[0] != 250 or codes[1] // 100 != 5 or codes[2] not in (503, 554):
        t.fail(f"replies {codes}, expected [250, 5xx, 503/554]")
    t.expect(client.command("NOOP"), (250,), "NOOP afterwards (the group's lines are commands)")


@case("pipelining.message-then-quit", "RFC 2920 3.1", MUST,
      "message content, end and QUIT in one write: 250 then 221", needs=PIPE)  # fmt: skip
def message_quit(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    client.send(message() + b".\r\nQUIT\r\n")
    codes = [r.code for r in client.replies_until_closed()]
    if codes != [250, 221]:
        t.fail(f"replies {codes}, expected [250, 221]")


@case("pipelining.message-then-transaction", "RFC 2920 3.1", MUST,
      "end of data followed by MAIL, RCPT, DATA in one write", needs=PIPE)  # fmt: skip
def message_next(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    nxt = f"MAIL FROM:<{t.target.mail_from}>\r\nRCPT TO:<{t.target.rcpt}>\r\nDATA\r\n"
    client.send(message() + b".\r\n" + nxt.encode())
    codes = [r.code for r in client.replies(4)]
    if codes != [250, 250, 250, 354]:
        t.fail(f"replies {codes}, expected [250, 250, 250, 354]")
    client.send(message(subject="second") + b".\r\n")
    t.expect(client.reply(), (250,), "end of the second message")


@case("pipelining.fifty-noops", "RFC 2920 3.2", MUST,
      "50 NOOPs in one write: 50 replies, none lost", needs=PIPE)  # fmt: skip
def fifty(t: Check) -> None:
    codes = _codes(t, ["NOOP"] * 50)
    if codes != [250] * 50:
        t.fail(f"replies {codes}")


@case("pipelining.rset-in-group", "RFC 2920 3.2, RFC 5321 4.1.1.5", MUST,
      "MAIL, RSET, RCPT in one write: 250, 250, 503", needs=PIPE)  # fmt: skip
def rset_group(t: Check) -> None:
    lines = [f"MAIL FROM:<{t.target.mail_from}>", "RSET", f"RCPT TO:<{t.target.rcpt}>"]
    codes = _codes(t, lines)
    if codes != [250, 250, 503]:
        t.fail(f"replies {codes}, expected [250, 250, 503]")


@case("pipelining.ehlo-keyword-no-params", "RFC 2920 2", MUST,
      "PIPELINING is advertised without parameters", needs=PIPE)  # fmt: skip
def keyword(t: Check) -> None:
    params = t.target.extensions["PIPELINING"]
    if params:
        t.fail(f"PIPELINING has parameters: {params}")
