"""The command-line parser (_commands): syntax only, no session context."""

from __future__ import annotations

import pytest

from smtpstate import (
    DataStart,
    Expand,
    Hello,
    Help,
    Mail,
    Mailbox,
    Noop,
    Quit,
    Recipient,
    RejectedCommand,
    Reset,
    Verify,
)
from smtpstate._commands import parse_arguments, split_line


def rejected_code(result: object) -> int:
    assert isinstance(result, RejectedCommand), result
    return result.reply.code


def test_split_line_upper_cases_the_verb() -> None:
    assert split_line(b"ehlo foo") == ("EHLO", "foo")
    assert split_line(b"NOOP") == ("NOOP", "")
    assert split_line(b"") == ("", "")


@pytest.mark.parametrize("line", [b"NOOP a\rb", b"NOOP a\nb", b"\n"])
def test_split_line_refuses_bare_cr_lf(line: bytes) -> None:
    assert rejected_code(split_line(line)) == 500


def test_split_line_refuses_invalid_utf8_and_controls() -> None:
    assert rejected_code(split_line(b"NOOP \xff")) == 500
    assert rejected_code(split_line(b"NOOP a\tb")) == 501
    assert rejected_code(split_line(b"NOOP \x00")) == 501
    result = split_line(b"\xc3\xa9 x\x01")
    assert isinstance(result, RejectedCommand) and result.verb == ""


def test_hello() -> None:
    assert parse_arguments("EHLO", "client.example") == Hello(
        domain="client.example", extended=True
    )
    assert parse_arguments("HELO", " x ") == Hello(domain="x", extended=False)
    assert parse_arguments("EHLO", "[192.0.2.1]") == Hello(domain="[192.0.2.1]", extended=True)
    assert rejected_code(parse_arguments("EHLO", "")) == 501
    assert rejected_code(parse_arguments("EHLO", "bad_domain")) == 501
    assert rejected_code(parse_arguments("EHLO", "[300.1.1.1]")) == 501


def test_mail_and_rcpt() -> None:
    mail = parse_arguments("MAIL", "FROM:<a@b.example> BODY=8BITMIME  X")
    assert isinstance(mail, Mail)
    assert mail.reverse_path == Mailbox(local_part="a", domain="b.example", text="a@b.example")
    assert mail.params == {"BODY": "8BITMIME", "X": None}
    assert parse_arguments("MAIL", "from:<>") == Mail(reverse_path=None)
    rcpt = parse_arguments("RCPT", "to: <c@d>")
    assert isinstance(rcpt, Recipient) and rcpt.forward_path.address == "c@d"


@pytest.mark.parametrize(
    ("verb", "argument"),
    [
        ("MAIL", "<a@b>"),
        ("MAIL", "FROM:a@b"),
        ("MAIL", "FROM:<a@b"),
        ("MAIL", "FROM:<a@b>X"),
        ("MAIL", "FROM:<a b@c>"),
        ("MAIL", "FROM:<a@b> =x"),
        ("MAIL", "FROM:<a@b> X=a=b"),
        ("MAIL", "FROM:<a@b> X=1 x=2"),
        ("RCPT", "<a@b>"),
        ("RCPT", "TO:a@b"),
        ("RCPT", "TO:<>"),
        ("RCPT", "TO:<a@[1.2.3.4.5]>"),
    ],
)
def test_syntax_errors_are_501(verb: str, argument: str) -> None:
    assert rejected_code(parse_arguments(verb, argument)) == 501


def test_argumentless_commands() -> None:
    assert parse_arguments("DATA", "") == DataStart()
    assert parse_arguments("RSET", " ") == Reset()
    assert parse_arguments("QUIT", "") == Quit()
    for verb in ("DATA", "RSET", "QUIT"):
        assert rejected_code(parse_arguments(verb, "x")) == 501


def test_noop_help_vrfy_expn() -> None:
    assert parse_arguments("NOOP", " hi ") == Noop(argument="hi")
    assert parse_arguments("HELP", "MAIL") == Help(argument="MAIL")
    assert parse_arguments("VRFY", "bob") == Verify(argument="bob")
    assert parse_arguments("EXPN", "list") == Expand(argument="list")
    assert rejected_code(parse_arguments("VRFY", " ")) == 501
    assert rejected_code(parse_arguments("EXPN", "")) == 501


@pytest.mark.parametrize(
    ("literal", "ok"),
    [
        ("[192.0.2.1]", True),
        ("[255.255.255.255]", True),
        ("[256.0.0.1]", False),
        ("[1.2.3]", False),
        ("[IPv6:2001:db8::1]", True),
        ("[ipv6:::ffff:192.0.2.1]", True),
        ("[IPv6:2001:db8::g]", False),
        ("[IPv6:fe80::1%eth0]", False),
        ("[IPv6:1.2.3.4]", False),
        ("[x-tag:anything]", True),
        ("[tag-:x]", False),
        ("[tag:]", False),
    ],
)
def test_address_literals_are_validated(literal: str, ok: bool) -> None:
    result = parse_arguments("RCPT", f"TO:<a@{literal}>")
    if ok:
        assert isinstance(result, Recipient) and result.forward_path.domain == literal
    else:
        assert rejected_code(result) == 501


def test_source_route_is_parsed_and_kept_apart() -> None:
    result = parse_arguments("RCPT", "TO:<@hosta.int,@jkl.org:userc@d.bar.org>")
    assert isinstance(result, Recipient)
    assert result.forward_path.source_route == ("hosta.int", "jkl.org")
    assert result.forward_path.address == "userc@d.bar.org"
    assert str(result.forward_path) == "userc@d.bar.org"


def test_postmaster_without_domain() -> None:
    result = parse_arguments("RCPT", "TO:<PostMaster>")
    assert isinstance(result, Recipient)
    assert result.forward_path.address == "PostMaster"
    assert result.forward_path.domain == ""
