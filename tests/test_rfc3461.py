"""RFC 3461 (Delivery Status Notifications), one test per rule."""

from __future__ import annotations

import re

import pytest

from smtpstate import Event, Extensions, Mail, Recipient, RejectedCommand

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
    return isinstance(event, RejectedCommand) and event.reply.code == code


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
    assert isinstance(event, Recipient)
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
    assert isinstance(event, RejectedCommand) and event.reply.enhanced == "5.5.4"


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
    assert isinstance(event, Recipient)
    assert event.orcpt == expected


@pytest.mark.parametrize(
    "param",
    [
        b"ORCPT=rfc822",
        b"ORCPT=;bob@example.org",
        b"ORCPT=rfc822;",
        b"ORCPT=rfc822;bob+zz",
        b"ORCPT=rfc822;bob+c3",
        b"ORCPT=rfc(822);bob",
        b"ORCPT",
    ],
)
def test_4_2_malformed_orcpt_is_501(param: bytes) -> None:
    """The addr-type is an atom, a semicolon follows, then non-empty xtext
    (5.1 (b): a value that is not valid gets 501)."""
    assert refused_with(rcpt(param), 501)


UTF8 = Extensions(dsn=True, smtputf8=True)
UTF8_MAIL = b"EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\n"


def test_rfc6533_3_postfix_orcpt_with_a_utf8_address_is_accepted() -> None:
    """What Postfix 3.7 sends for a non-ASCII recipient in an SMTPUTF8
    transaction to a server that offers DSN: rfc822 with xtext of the UTF-8
    octets. RFC 6533 3: a server that advertises SMTPUTF8 and DSN MUST accept
    a UTF-8 address in ORCPT; RFC 3461 5.1 (b): ORCPT never refuses a RCPT."""
    line = (
        "RCPT TO:<jörg.用户2@dest.test> ORCPT=rfc822;j+C3+B6rg.+E7+94+A8+E6+88+B72@dest.test\r\n"
    ).encode()
    _, events, out = session(UTF8_MAIL + line, UTF8)
    event = events[-1]
    assert isinstance(event, Recipient)
    assert codes(out)[-1] == 250
    assert event.orcpt == ("rfc822", "jörg.用户2@dest.test")
    assert event.params["ORCPT"] == "rfc822;j+C3+B6rg.+E7+94+A8+E6+88+B72@dest.test"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # utf-8-addr-xtext: 7-bit, usable without SMTPUTF8
        (b"utf-8;j\\x{F6}rg.\\x{7528}\\x{6237}2@dest.test", "jörg.用户2@dest.test"),
        (b"UTF-8;\\x{1F600}\\x{5C}\\x{2B}\\x{3D}\\x{20}@x", "\U0001f600\\+= @x"),
        (b"utf-8;a\\x{e9}@x", "aé@x"),  # hex digits in either case
        # xtext on top: "\\" sent as +5C, "+" as +2B
        (b"utf-8;+5Cx{E9}+2B1@x", "é+1@x"),
        # the utf-8 octets in xtext, as for rfc822
        (b"utf-8;+E2+82+AC@x", "€@x"),
        # only the utf-8 type reads the escapes
        (b"rfc822;a\\x{E9}@x", "a\\x{E9}@x"),
        (b"rfc822;caf+C3+A9@example.org", "café@example.org"),
    ],
)
def test_rfc6533_3_utf8_addr_type_escapes_are_decoded(value: bytes, expected: str) -> None:
    """The utf-8 addr-type: EmbeddedUnicodeChar "\\x{HEXPOINT}" stands for a code
    point; in the ORCPT parameter the value is also xtext (RFC 3461 4)."""
    event = rcpt(b"ORCPT=" + value)
    assert isinstance(event, Recipient)
    assert event.orcpt == (value.split(b";")[0].decode(), expected)


def test_rfc6533_3_utf8_address_form_under_smtputf8() -> None:
    """utf-8-addr-unitext / utf-8-address: UTF-8 characters sent as they are,
    which a server offering SMTPUTF8 and DSN MUST accept."""
    line = "RCPT TO:<c@d.example> ORCPT=utf-8;jörg\\x{2B}1@dest.test\r\n".encode()
    _, events, out = session(UTF8_MAIL + line, UTF8)
    event = events[-1]
    assert isinstance(event, Recipient)
    assert codes(out)[-1] == 250
    assert event.orcpt == ("utf-8", "jörg+1@dest.test")


@pytest.mark.parametrize(
    "value",
    [
        b"x-unknown;+FF+FE",  # unknown addr-type whose octets are no UTF-8
        b"x;+80",
        b"rfc822;caf+E9@example.org",  # Latin-1, not UTF-8
        b"rfc822;bob+0A",  # a control character
        b"rfc822;bob+0D+0ABcc:+20x",
        b"rfc822;+C2+85x",  # U+0085, a C1 control
        b"utf-8;a\\x{0A}b",  # an escape for a control character
        b"utf-8;a\\x{D800}b",  # a surrogate
        b"utf-8;a\\x{110000}b",  # past U+10FFFF
        b"utf-8;a\\b",  # a backslash that starts no escape
        b"utf-8;a\\x{E}b",
        b"utf-8;a\\x{E9",
    ],
)
def test_5_1_unusable_orcpt_is_accepted_not_refused(value: bytes) -> None:
    """An ORCPT whose address the server cannot use is DSN information it
    cannot use, not a reason to refuse the recipient (RFC 3461 5.1 (b): MUST
    NOT refuse a RCPT based on ORCPT). The recipient is accepted; ``orcpt``
    is None and ``params["ORCPT"]`` keeps the value as sent."""
    _, events, out = session(MAIL + b"RCPT TO:<c@d.example> ORCPT=" + value + b"\r\n", DSN)
    event = events[-1]
    assert isinstance(event, Recipient)
    assert codes(out)[-1] == 250
    assert event.orcpt is None
    assert event.params["ORCPT"] == value.decode()


@pytest.mark.parametrize(("value", "expected"), [(b"FULL", "FULL"), (b"hdrs", "HDRS")])
def test_4_3_ret_is_full_or_hdrs(value: bytes, expected: str) -> None:
    """RET=FULL or RET=HDRS, exposed upper-cased."""
    event = mail(b"RET=" + value)
    assert isinstance(event, Mail)
    assert event.ret == expected


@pytest.mark.parametrize("param", [b"RET=ALL", b"RET", b"RET=FULL,HDRS"])
def test_4_3_malformed_ret_is_501(param: bytes) -> None:
    """Any other RET value is a syntax error."""
    assert refused_with(mail(param), 501)


def test_4_4_envid_is_xtext_decoded() -> None:
    """ENVID=xtext, exposed decoded."""
    event = mail(b"ENVID=QQ314159+2B1+20a")
    assert isinstance(event, Mail)
    assert event.envid == "QQ314159+1 a"


def test_4_4_envid_up_to_100_characters() -> None:
    """ENVID may be up to 100 characters; more is refused."""
    assert isinstance(mail(b"ENVID=" + b"e" * 100), Mail)
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
    assert isinstance(event, RejectedCommand) and event.reply.enhanced == "5.5.4"


def test_typed_properties_are_none_when_absent() -> None:
    """Events without the parameters expose None."""
    event = mail(b"SIZE=1", Extensions(dsn=True, size=0))
    assert isinstance(event, Mail)
    assert (event.ret, event.envid) == (None, None)
    event = rcpt(b"", DSN)
    assert isinstance(event, Recipient)
    assert (event.notify, event.orcpt) == (None, None)


def test_5_4_rcpt_line_with_the_largest_parameters_is_accepted() -> None:
    """An MTA accepts RCPT lines of 512 + 530 octets (ORCPT up to 500 and NOTIFY 28)."""
    base = b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;"
    line = base + b"o" * (1042 - 2 - len(base)) + b"\r\n"
    assert len(line) == 1042
    _, events, out = session(MAIL + line, DSN)
    assert isinstance(events[-1], Recipient)
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
    assert isinstance(events[-1], Mail)
    _, _, out = session(EHLO + line, Extensions())
    assert out.endswith(b"500 5.5.2 Line too long\r\n")


def test_5_4_without_dsn_a_long_rcpt_line_is_refused() -> None:
    """Without DSN a RCPT line keeps the 512-octet limit."""
    line = b"RCPT TO:<c@d.example> X=" + b"o" * 500 + b"\r\n"
    _, _, out = session(MAIL + line, Extensions())
    assert out.endswith(b"500 5.5.2 Line too long\r\n")
