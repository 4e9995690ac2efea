"""RFC 5321 4.1.1: RSET, NOOP, QUIT, VRFY, EXPN, HELP, unknown verbs and the
arguments commands do not take."""

from __future__ import annotations

from ._client import ServerClosed
from ._suite import Check, Level, case

MUST, SHOULD = Level.MUST, Level.SHOULD

VRFY_CODES = (250, 251, 252, 550, 551, 553, 502, 504)  # 4.3.2 and 3.5.3


@case("rset.code-250", "RFC 5321 4.1.1.5", MUST, "RSET gets 250")
def rset(t: Check) -> None:
    t.expect(t.session().command("RSET"), (250,), "RSET")


@case("rset.in-transaction", "RFC 5321 4.1.1.5", MUST, "RSET in a transaction gets 250")
def rset_transaction(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("RSET"), (250,), "RSET")


@case("rset.argument-501", "RFC 5321 4.3.2", SHOULD, "RSET with an argument gets 501")
def rset_argument(t: Check) -> None:
    t.expect(t.session().command("RSET now"), (501,), "RSET with an argument")


@case("noop.code-250", "RFC 5321 4.1.1.9", MUST, "NOOP gets 250")
def noop(t: Check) -> None:
    t.expect(t.session().command("NOOP"), (250,), "NOOP")


@case("noop.parameter-ignored", "RFC 5321 4.1.1.9", SHOULD, "NOOP with a parameter gets 250")
def noop_parameter(t: Check) -> None:
    t.expect(t.session().command("NOOP some words here"), (250,), "NOOP with a parameter")


@case("noop.in-transaction", "RFC 5321 4.1.1.9", MUST, "NOOP in a transaction gets 250")
def noop_transaction(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("NOOP"), (250,), "NOOP")


@case("quit.code-221", "RFC 5321 4.1.1.10", MUST, "QUIT gets 221")
def quit_221(t: Check) -> None:
    t.expect(t.session().command("QUIT"), (221,), "QUIT")


@case("quit.closes", "RFC 5321 3.8, 4.1.1.10", MUST, "the server closes after 221")
def quit_closes(t: Check) -> None:
    client = t.session()
    t.expect(client.command("QUIT"), (221,), "QUIT")
    if not client.wait_closed():
        t.fail("the connection stayed open after 221")


@case("quit.nothing-after-221", "RFC 5321 3.8", MUST, "no reply follows the 221")
def quit_alone(t: Check) -> None:
    client = t.session()
    client.send(b"QUIT\r\n")
    replies = client.replies_until_closed()
    if [r.code for r in replies] != [221]:
        t.fail(f"replies to QUIT: {[r.code for r in replies]}, expected just 221")


@case("quit.in-transaction", "RFC 5321 4.1.1.10", MUST, "QUIT in a transaction gets 221")
def quit_transaction(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("QUIT"), (221,), "QUIT")


@case("quit.argument-501", "RFC 5321 4.3.2", SHOULD, "QUIT with an argument gets 501")
def quit_argument(t: Check) -> None:
    t.expect(t.session().command("QUIT now"), (501,), "QUIT with an argument")


@case("data.argument-501", "RFC 5321 4.3.2", SHOULD, "DATA with an argument gets 501")
def data_argument(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA now"), (501,), "DATA with an argument")


@case("vrfy.codes", "RFC 5321 3.5.3, 4.3.2", SHOULD, "VRFY postmaster: 250/251/252/55x/502/504")
def vrfy(t: Check) -> None:
    t.expect(t.session().command("VRFY postmaster"), VRFY_CODES, "VRFY postmaster")


@case("vrfy.mailbox", "RFC 5321 3.5.3, 4.3.2", SHOULD, "VRFY of a full mailbox: an allowed code")
def vrfy_mailbox(t: Check) -> None:
    t.expect(t.session().command(f"VRFY <{t.target.rcpt}>"), VRFY_CODES, "VRFY mailbox")


@case("vrfy.unknown-user", "RFC 5321 3.5.3", SHOULD, "VRFY of an unknown user: an allowed code")
def vrfy_unknown(t: Check) -> None:
    reply = t.session().command("VRFY no-such-user-x7q")
    t.expect(reply, VRFY_CODES, "VRFY unknown user")


@case("vrfy.no-argument", "RFC 5321 4.1.1.6", SHOULD, "VRFY without argument gets 501/502/504")
def vrfy_empty(t: Check) -> None:
    t.expect(t.session().command("VRFY"), (501, 502, 504, 500), "VRFY without argument")


@case("expn.codes", "RFC 5321 3.5.3, 4.3.2", SHOULD, "EXPN: 250/252/550/500/502/504")
def expn(t: Check) -> None:
    reply = t.session().command("EXPN postmaster")
    t.expect(reply, (250, 252, 550, 500, 502, 504), "EXPN postmaster")


@case("help.codes", "RFC 5321 4.1.1.8, 4.3.2", SHOULD, "HELP: 211/214/502/504")
def help_(t: Check) -> None:
    t.expect(t.session().command("HELP"), (211, 214, 502, 504, 500), "HELP")


@case("help.topic", "RFC 5321 4.1.1.8, 4.3.2", SHOULD, "HELP with a topic: 211/214/502/504")
def help_topic(t: Check) -> None:
    t.expect(t.session().command("HELP MAIL"), (211, 214, 502, 504, 500), "HELP MAIL")


@case("unknown.verb-500", "RFC 5321 4.2.4, 4.3.2", MUST, "an unknown verb gets 500 (or 502)")
def unknown(t: Check) -> None:
    t.expect(t.session().command("XNOSUCHVERB"), (500, 502), "unknown verb")


@case("unknown.session-goes-on", "RFC 5321 3.8", MUST, "an unknown verb does not end the session")
def unknown_goes_on(t: Check) -> None:
    client = t.session()
    t.survives(client, client.command("XNOSUCHVERB with args"), "an unknown verb")


@case("unknown.before-ehlo", "RFC 5321 4.2.4", MUST, "an unknown verb before EHLO gets 500/502")
def unknown_first(t: Check) -> None:
    t.expect(t.connect().command("XNOSUCHVERB"), (500, 502), "unknown verb before EHLO")


@case("unknown.empty-line", "RFC 5321 4.1.1, 3.8", MUST, "an empty line gets a 5xx, NOOP works")
def empty_line(t: Check) -> None:
    client = t.session()
    reply = client.command(b"")
    t.expect_class(reply, "5", "empty command line")
    t.survives(client, reply, "an empty line")


@case("unknown.verb-only-spaces", "RFC 5321 4.1.1, 3.8", MUST, "a line of spaces gets a 5xx")
def spaces_line(t: Check) -> None:
    client = t.session()
    reply = client.command(b"    ")
    t.expect_class(reply, "5", "a line of spaces")
    t.survives(client, reply, "a line of spaces")


@case("unknown.verb-prefix", "RFC 5321 4.1.1", MUST, "'NOOPX' is not NOOP")
def verb_prefix(t: Check) -> None:
    t.expect_class(t.session().command("NOOPX"), "5", "NOOPX")


@case("unknown.ten-in-a-row", "RFC 5321 3.8", MUST, "ten unknown commands: each answered")
def unknown_ten(t: Check) -> None:
    client = t.session()
    last = "EHLO"
    for n in range(10):
        try:
            reply = client.command(f"XUNKNOWN{n}")
        except ServerClosed:
            t.fail(f"the server closed the connection after {last!r}, without a 421")
        last = f"{reply.code} {reply.lines[0] if reply.lines else ''}"
        if reply.code == 421:
            t.survives(client, reply, "ten unknown commands")
            return
        t.expect_class(reply, "5", f"unknown command {n + 1}")
    t.still_alive(client, "ten unknown commands")
