"""The fast paths of _commands against the full parser.

split_line, HELO/EHLO, MAIL and RCPT each try a cheap check for the common
shape first. Whatever they accept must come out exactly as the full parser
would have it: the same event, or the same RejectedCommand. The reference is
the same function with its fast-path patterns replaced by one that never
matches (and, for split_line, the decoding it had before the ASCII check).
"""

from __future__ import annotations

import itertools
import re
from unittest import mock

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from smtpstate import Hello, Mail, Mailbox, Noop, Recipient, RejectedCommand, _abnf, _commands
from smtpstate._commands import parse_arguments, split_line

_NEVER = re.compile("(?!)")


def full_parse(verb: str, argument: str) -> object:
    """parse_arguments with every fast path off."""
    with (
        mock.patch.object(_commands, "_SIMPLE_DOMAIN", _NEVER),
        mock.patch.object(_commands, "_SIMPLE_MAIL", _NEVER),
        mock.patch.object(_commands, "_SIMPLE_RCPT", _NEVER),
    ):
        return parse_arguments(verb, argument)


def full_split(line: bytes) -> object:
    """split_line as it was before its ASCII fast path."""
    if b"\r" in line or b"\n" in line:
        return 500
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return 500
    if re.search("[\x00-\x1f\x7f]", text):
        return 501
    verb, _, argument = text.partition(" ")
    return verb.upper(), argument


def sized(n: int, fill: str) -> str:
    """``n`` characters of ``fill`` with a dot every 50, never at either end."""
    return "".join("." if i % 50 == 49 and i < n - 1 else fill for i in range(n))


def mostly(
    common: st.SearchStrategy[str], *near_misses: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """``common`` four times in five, else a near miss, so that most arguments
    reach the fast path and most of the others miss it by one part only."""
    near_miss = st.one_of(*near_misses)
    return st.sampled_from([True] * 4 + [False]).flatmap(lambda c: common if c else near_miss)


# Near misses around the edges of the fast-path patterns and the limits of
# RFC 5321 4.5.3.1 (local part 64, domain 255, path 256 octets).
_LOCALS = mostly(
    st.from_regex(_abnf.SIMPLE_LOCAL_PART, fullmatch=True),
    st.sampled_from([".a", "a.", "a..b", '"a b"', '"a>b"', "Ünïcode", "a b", ""]),
    st.text("aZ09.!#$%&'*+/=?^_`{|}~-\"\\ @<>é", max_size=8),
    st.builds(sized, st.sampled_from([63, 64, 65, 66, 100]), st.sampled_from("aé")),
)
_DOMAINS = mostly(
    st.from_regex(_abnf.SIMPLE_DOMAIN, fullmatch=True),
    st.sampled_from(
        [
            "xn--bcher-kva.example",
            "-a.example",
            "a-.example",
            ".example.org",
            "example.org.",
            "a..b",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "[300.0.0.1]",
            "bücher.example",
            "",
        ]
    ),
    st.text("aZ09-.é[]:", max_size=12),
    st.builds(sized, st.sampled_from([188, 189, 190, 191, 251, 252, 253, 255, 256]), st.just("d")),
)
_PREFIXES = {
    "MAIL": mostly(
        st.sampled_from(["FROM:", "from:", "From: ", "FROM:  "]),
        st.sampled_from(["FROM", "TO:", "", " FROM:", "FROM;"]),
    ),
    "RCPT": mostly(
        st.sampled_from(["TO:", "to:", "To: ", "TO:  "]),
        st.sampled_from(["TO", "FROM:", "", " TO:", "TO;"]),
    ),
}
_SUFFIXES = mostly(
    st.sampled_from(
        ["", " ", "  ", " SIZE=100", "  BODY=8BITMIME  SMTPUTF8 ", " RET=HDRS ENVID=x+2B"]
    ),
    st.sampled_from([" SIZE=1 size=2", " bad=", " =x", " SIZE=é", " -X", "x", ">", ":"]),
)


@st.composite
def path_commands(draw: st.DrawFn) -> tuple[str, str]:
    """A MAIL or RCPT verb and its argument."""
    verb = draw(st.sampled_from(["MAIL", "RCPT"]))
    prefix, local, domain = draw(_PREFIXES[verb]), draw(_LOCALS), draw(_DOMAINS)
    path = draw(
        mostly(
            st.just(f"<{local}@{domain}>"),
            st.sampled_from(
                [
                    f"<@relay.example:{local}@{domain}>",
                    f"{local}@{domain}",
                    f"<{local}@{domain}",
                    f"<{local}>",
                    "<>",
                    "<Postmaster>",
                ]
            ),
        )
    )
    return verb, prefix + path + draw(_SUFFIXES)


@given(path_commands())
@example(("MAIL", "FROM:<a@b.example>x"))  # the path must end at a space
@example(("MAIL", "FROM:<a@b.example>SIZE=1"))
@example(("MAIL", "FROM<a@b.example>"))
@example(("MAIL", "FROM:<a@b.example> SIZE=1 SIZE=2"))
@example(("RCPT", "TO:<a@-b.example>"))
@example(("RCPT", "TO:<a@b-.example>"))
@example(("RCPT", "TO:<a@b..example>"))
@example(("RCPT", "TO:<a.@b.example>"))
@example(("RCPT", "TO:<a@[192.0.2.1]>"))
@example(("RCPT", "TO:<postmaster@b.example>"))
def test_mail_and_rcpt_agree_with_the_full_parser(command: tuple[str, str]) -> None:
    verb, argument = command
    fast = _commands._SIMPLE_MAIL if verb == "MAIL" else _commands._SIMPLE_RCPT
    event("fast path matched" if fast.match(argument) else "full parser only")
    assert parse_arguments(verb, argument) == full_parse(verb, argument)


@pytest.mark.parametrize("verb", ["MAIL", "RCPT"])
def test_length_limits_agree_with_the_full_parser(verb: str) -> None:
    """RFC 5321 4.5.3.1.1-3: local part 64, domain 255, path 256 octets, each
    tried on and around its limit (a path of 256 has a local part and domain
    of 253 between them)."""
    prefix = "FROM:" if verb == "MAIL" else "TO:"
    for local, domain in itertools.product(
        [1, 63, 64, 65], [1, 187, 188, 189, 190, 191, 250, 251, 252, 253, 254, 255, 256]
    ):
        argument = f"{prefix}<{sized(local, 'a')}@{sized(domain, 'd')}>"
        result = parse_arguments(verb, argument)
        fits = local <= 64 and domain <= 255 and local + domain + 3 <= 256
        assert isinstance(result, (Mail, Recipient)) is fits, (local, domain)
        assert result == full_parse(verb, argument), (local, domain)


@given(
    st.sampled_from(["HELO", "EHLO", "LHLO"]),
    st.sampled_from(["", " ", "  "]),
    _DOMAINS,
    st.sampled_from(["", " ", "  ", " x", "\t"]),
)
@example("EHLO", "", "-a.example", "")
@example("EHLO", "", "a-.example", "")
@example("EHLO", "", "a..b", "")
@example("EHLO", "", ".example.org", "")
@example("EHLO", "", "example.org.", "")
@example("HELO", "", "[192.0.2.1]", "")
@example("EHLO", " ", "xn--bcher-kva.example", " ")
@example("EHLO", "", "", "")
def test_hello_agrees_with_the_full_parser(verb: str, before: str, domain: str, after: str) -> None:
    argument = before + domain + after
    simple = _commands._SIMPLE_DOMAIN.fullmatch(argument.strip(" "))
    event("fast path matched" if simple else "full parser only")
    assert parse_arguments(verb, argument) == full_parse(verb, argument)


@given(
    st.one_of(
        st.binary(max_size=40),
        st.text(max_size=40).map(str.encode),
        st.text(st.characters(max_codepoint=127), max_size=40).map(str.encode),
        st.text("MAILFROM: <>@a.\x00\x1f\x7f\r\nü\t", max_size=40).map(str.encode),
    )
)
def test_split_line_agrees_with_the_full_decoder(line: bytes) -> None:
    result = split_line(line)
    expected = full_split(line)
    if isinstance(result, RejectedCommand):
        assert result.reply.code == expected
    else:
        assert result == expected


def test_split_line_agrees_on_every_ascii_octet() -> None:
    for octet in range(128):
        line = b"NOOP " + bytes([octet])
        result = split_line(line)
        expected = full_split(line)
        assert (result.reply.code if isinstance(result, RejectedCommand) else result) == expected


def test_fast_paths_take_the_common_shapes() -> None:
    """So that the agreement above is not about full parser against itself."""
    assert _commands._SIMPLE_DOMAIN.fullmatch("client.example.org")
    assert _commands._SIMPLE_MAIL.match("FROM:<sender@example.org> SIZE=10")
    assert _commands._SIMPLE_RCPT.match("to: <First.Last@mail-out.example.net>")


@pytest.mark.parametrize(
    ("verb", "argument", "expected"),
    [
        ("EHLO", " client.example.org ", Hello(domain="client.example.org", extended=True)),
        ("HELO", "client.example.org", Hello(domain="client.example.org", extended=False)),
        (
            "MAIL",
            "FROM:<a@b.example> BODY=8BITMIME",
            Mail(
                reverse_path=Mailbox(local_part="a", domain="b.example", text="a@b.example"),
                params={"BODY": "8BITMIME"},
            ),
        ),
        (
            "RCPT",
            "TO:<a@b.example> ",
            Recipient(forward_path=Mailbox(local_part="a", domain="b.example", text="a@b.example")),
        ),
        ("NOOP", "", Noop()),
        ("NOOP", " hi ", Noop(argument="hi")),
    ],
)
def test_fast_path_events(verb: str, argument: str, expected: object) -> None:
    assert parse_arguments(verb, argument) == expected


def test_fast_path_leaves_bad_parameters_to_the_full_parser() -> None:
    result = parse_arguments("RCPT", "TO:<a@b.example> SIZE=1 SIZE=2")
    assert isinstance(result, RejectedCommand)
    assert result.reason == "Duplicate parameter SIZE"
