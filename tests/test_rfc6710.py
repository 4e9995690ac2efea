"""RFC 6710 (MT-PRIORITY), one test per rule. The RFC text is not in the shared
folder: the rule tested is the priority range, -9 to 9."""

from __future__ import annotations

import re

import pytest

from smtpstate import Extensions, Mail, RejectedCommand

from .helpers import session

PRIORITY = Extensions(mt_priority=True)


def mail(params: bytes, extensions: Extensions = PRIORITY) -> object:
    _, events, _ = session(b"EHLO c\r\nMAIL FROM:<a@b.example> " + params + b"\r\n", extensions)
    return events[-1]


def test_mt_priority_is_advertised_only_when_enabled() -> None:
    """The EHLO keyword MT-PRIORITY."""
    assert re.search(rb"250[- ]MT-PRIORITY\r\n", session(b"EHLO c\r\n", PRIORITY)[2])
    assert b"MT-PRIORITY" not in session(b"EHLO c\r\n")[2]


@pytest.mark.parametrize(
    ("value", "expected"), [(b"-9", -9), (b"0", 0), (b"9", 9), (b"+3", 3), (b"-0", 0)]
)
def test_priority_from_minus_9_to_9(value: bytes, expected: int) -> None:
    """MT-PRIORITY=n with n from -9 to 9, exposed as an int."""
    event = mail(b"MT-PRIORITY=" + value)
    assert isinstance(event, Mail)
    assert event.mt_priority == expected


@pytest.mark.parametrize("value", [b"=10", b"=-10", b"=x", b"=", b"", b"=1.5", b"=09"])
def test_priority_out_of_range_is_501(value: bytes) -> None:
    """Anything else is a syntax error (501 5.5.4)."""
    event = mail(b"MT-PRIORITY" + value)
    assert isinstance(event, RejectedCommand)
    assert event.reply.code == 501
    assert event.reply.enhanced == "5.5.4"


def test_priority_without_the_extension_is_555() -> None:
    """Not enabled: the parameter is unknown."""
    event = mail(b"MT-PRIORITY=1", Extensions())
    assert isinstance(event, RejectedCommand)
    assert event.reply.code == 555


def test_priority_absent_is_none() -> None:
    """No parameter: None."""
    event = mail(b"")
    assert isinstance(event, Mail)
    assert event.mt_priority is None


def test_mail_line_may_be_15_octets_longer() -> None:
    """ " MT-PRIORITY=-9" may be added to a MAIL line at the 512-octet limit."""
    assert PRIORITY.mail_line_allowance() == 15
    path = b"<" + b"a" * 64 + b"@" + b"b" * 63 + b"." + b"c" * 63 + b"." + b"d" * 61 + b">"
    line = b"MAIL FROM:" + path + b" " * (512 - 2 - 10 - len(path)) + b" MT-PRIORITY=-9\r\n"
    assert len(line) == 512 + 15
    _, events, _ = session(b"EHLO c\r\n" + line, PRIORITY)
    assert isinstance(events[-1], Mail) and events[-1].mt_priority == -9
