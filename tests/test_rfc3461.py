"""RFC 3461 (Delivery Status Notifications), one test per rule."""

from __future__ import annotations

import re

import pytest

from smtpstate import CommandRejected, Event, Extensions, MailFrom, RcptTo

from .helpers import codes, session

DSN = Extensions(dsn=True)
EHLO = b"EHLO c\r\n"
MAIL = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"


def last(data: bytes, extensions: Extensions = DSN) -> tuple[Event, bytes]:
    _, events, out = session(data, extensions)
    return events[-1], out


def rcpt(params: bytes, extensions: Extensions = DSN) -> Event:
    return last(MAIL + b"RCPT TO:<c@d.example> " + params + b"\r\n", extensions)[0]


def mail(params: bytes, extensions: Extensions = DSN) -> Event:
    return last(EHLO + b"MAIL FROM:<a@b.example> " + params + b"\r\n", extensions)[0]


def refused_with(event: Event, code: int) -> bool:
    return isinstance(event, CommandRejected) and event.reply.code == code


def test_3_dsn_is_advertised_only_when_enabled() -> None:
    """The EHLO keyword is DSN, with no parameter."""
    assert re.search(rb"250[- ]DSN\r\n", last(EHLO)[1])
    assert b"DSN" not in last(EHLO, Extensions())[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"NEVER", ("NEVER",)),
        (b"never", ("NEVER",)),
        (b"SUCCESS", ("SUCCESS",)),
        (b"FAILURE,DELAY", ("FAILURE", "DELAY")),
        (b"DELAY,SUCCESS,FAILURE", ("DELAY", "SUCCESS", "FAILURE")),
    ],
)
def test_4_1_notify_is_never_or_a_list_of_success_failure_delay(
    value: bytes, expected: tuple[str, ...]
) -> None:
    """NOTIFY=NEVER, or a comma-separated list of SUCCESS, FAILURE and DELAY;
    exposed upper-cased as a tuple."""
    event = rcpt(b"NOTIFY=" + value)
    assert isinstance(event, RcptTo)
    assert event.notify == expected


@pytest.mark.parametrize(
    "param",
    [
        b"NOTIFY=NEVER,SUCCESS",
        b"NOTIFY=SUCCESS,NEVER",
        b"NOTIFY=SUCCESS,SUCCESS",
        b"NOTIFY=SOMETIMES",
        b"NOTIFY=SUCCESS,",
        b"NOTIFY=,FAILURE",
        b"NOTIFY",
    ],
)
def test_4_1_malformed_notify_is_501(param: bytes) -> None:
    """NEVER stands alone; no keyword twice; nothing else."""
    event = rcpt(param)
    assert refused_with(event, 501)
    assert isinstance(event, CommandRejected) and event.reply.enhanced == "5.5.4"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"rfc822;bob@example.org", ("rfc822", "bob@example.org")),
        (b"RFC822;b+2Bob+3D@example.org", ("RFC822", "b+ob=@example.org")),
        (b"x-local;id", ("x-local", "id")),
    ],
)
def test_4_2_orcpt_is_addr_type_and_xtext(value: bytes, expected: tuple[str, str]) -> None:
    """ORCPT=addr-type;xtext, exposed as (address type, decoded address)."""
    event = rcpt(b"ORCPT=" + value)
    assert isinstance(event, RcptTo)
    assert event.orcpt == expected


@pytest.mark.parametrize(
    "param",
    [
        b"ORCPT=rfc822",
        b"ORCPT=;bob@example.org",
        b"ORCPT=rfc822;",
        b"ORCPT=rfc822;bob+zz",
        b"ORCPT=rfc822;bob+0A",
        b"ORCPT=rfc(822);bob",
        b"ORCPT",
    ],
)
def test_4_2_malformed_orcpt_is_501(param: bytes) -> None:
    """The addr-type is an atom, a semicolon follows, then non-empty xtext."""
    assert refused_with(rcpt(param), 501)


@pytest.mark.parametrize("value", [b"rfc822;caf+C3+A9@example.org", b"utf-8;+E2+82+AC@x", b"x;+80"])
def test_4_2_orcpt_address_must_be_printable_ascii(value: bytes) -> None:
    """Before xtext encoding, the original recipient address consists entirely of
    printable US-ASCII characters, whatever its addr-type: 501."""
    assert refused_with(rcpt(b"ORCPT=" + value), 501)


@pytest.mark.parametrize(("value", "expected"), [(b"FULL", "FULL"), (b"hdrs", "HDRS")])
def test_4_3_ret_is_full_or_hdrs(value: bytes, expected: str) -> None:
    """RET=FULL or RET=HDRS, exposed upper-cased."""
    event = mail(b"RET=" + value)
    assert isinstance(event, MailFrom)
    assert event.ret == expected


@pytest.mark.parametrize("param", [b"RET=ALL", b"RET", b"RET=FULL,HDRS"])
def test_4_3_malformed_ret_is_501(param: bytes) -> None:
    """Any other RET value is a syntax error."""
    assert refused_with(mail(param), 501)


def test_4_4_envid_is_xtext_decoded() -> None:
    """ENVID=xtext, exposed decoded."""
    event = mail(b"ENVID=QQ314159+2B1+20a")
    assert isinstance(event, MailFrom)
    assert event.envid == "QQ314159+1 a"


def test_4_4_envid_up_to_100_characters() -> None:
    """ENVID may be up to 100 characters; more is refused."""
    assert isinstance(mail(b"ENVID=" + b"e" * 100), MailFrom)
    assert refused_with(mail(b"ENVID=" + b"e" * 101), 501)


@pytest.mark.parametrize("value", [b"a+00", b"a+0D", b"a+7F", b"a+C3+A9", b"a+zz", b""])
def test_4_4_envid_must_be_printable_ascii(value: bytes) -> None:
    """Before xtext encoding, the ENVID is printable US-ASCII (graphic and white space)."""
    assert refused_with(mail(b"ENVID=" + value), 501)


@pytest.mark.parametrize("param", [b"RET=FULL RET=HDRS", b"ENVID=a ENVID=b"])
def test_4_5_ret_and_envid_at_most_once(param: bytes) -> None:
    """RET and ENVID must not appear more than once (501)."""
    assert refused_with(mail(param), 501)


def test_4_5_notify_and_orcpt_at_most_once() -> None:
    """NOTIFY and ORCPT must not appear more than once in one RCPT."""
    assert refused_with(rcpt(b"NOTIFY=NEVER NOTIFY=NEVER"), 501)
    assert refused_with(rcpt(b"ORCPT=rfc822;a ORCPT=rfc822;b"), 501)


@pytest.mark.parametrize(
    ("verb", "param"),
    [(b"MAIL", b"RET=FULL"), (b"MAIL", b"ENVID=x"), (b"RCPT", b"NOTIFY=NEVER"),
     (b"RCPT", b"ORCPT=rfc822;a@b")],
)  # fmt: skip
def test_5_1_without_dsn_the_parameters_are_555(verb: bytes, param: bytes) -> None:
    """A server that did not advertise DSN does not accept its parameters."""
    event = (mail if verb == b"MAIL" else rcpt)(param, Extensions())
    assert refused_with(event, 555)
    assert isinstance(event, CommandRejected) and event.reply.enhanced == "5.5.4"


def test_typed_properties_are_none_when_absent() -> None:
    """Events without the parameters expose None."""
    event = mail(b"SIZE=1", Extensions(dsn=True, size=0))
    assert isinstance(event, MailFrom)
    assert (event.ret, event.envid) == (None, None)
    event = rcpt(b"", DSN)
    assert isinstance(event, RcptTo)
    assert (event.notify, event.orcpt) == (None, None)


def test_5_4_rcpt_line_with_the_largest_parameters_is_accepted() -> None:
    """An MTA accepts RCPT lines of 512 + 530 octets (ORCPT up to 500 and NOTIFY 28)."""
    base = b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;"
    line = base + b"o" * (1042 - 2 - len(base)) + b"\r\n"
    assert len(line) == 1042
    _, events, out = session(MAIL + line, DSN)
    assert isinstance(events[-1], RcptTo)
    assert codes(out)[-1] == 250
    _, _, out = session(MAIL + line[:-2] + b"o\r\n", DSN)
    assert out.endswith(b"500 5.5.2 Line too long\r\n")


def test_5_4_mail_line_with_ret_and_envid_is_accepted() -> None:
    """The MAIL line may grow by RET and a 100-character ENVID (116 octets)."""
    params = b" RET=HDRS ENVID=" + b"e" * 100
    assert len(params) == 116
    path = b"<" + b"a" * 64 + b"@" + b"b" * 63 + b"." + b"c" * 63 + b"." + b"d" * 61 + b">"
    line = b"MAIL FROM:" + path + b" " * (512 - 2 - 10 - len(path)) + params + b"\r\n"
    assert len(line) == 512 + 116
    _, events, _ = session(EHLO + line, DSN)
    assert isinstance(events[-1], MailFrom)
    _, _, out = session(EHLO + line, Extensions())
    assert out.endswith(b"500 5.5.2 Line too long\r\n")


def test_5_4_without_dsn_a_long_rcpt_line_is_refused() -> None:
    """Without DSN a RCPT line keeps the 512-octet limit."""
    line = b"RCPT TO:<c@d.example> X=" + b"o" * 500 + b"\r\n"
    _, _, out = session(MAIL + line, Extensions())
    assert out.endswith(b"500 5.5.2 Line too long\r\n")
