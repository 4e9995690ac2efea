"""RFC 6152 (8BITMIME), one test per rule."""

from __future__ import annotations

from smtpstate import Extensions, Mail

from .helpers import codes, session

HELLO = b"EHLO c\r\n"


def test_2_ehlo_advertises_8bitmime() -> None:
    """The EHLO keyword is 8BITMIME, with no parameter."""
    _, _, out = session(HELLO)
    assert b"250-8BITMIME\r\n" in out


def test_3_body_7bit_and_8bitmime_are_accepted() -> None:
    """MAIL takes BODY=7BIT or BODY=8BITMIME (case-insensitive)."""
    for value in (b"7BIT", b"8BITMIME", b"8bitmime"):
        _, events, _ = session(HELLO + b"MAIL FROM:<a@b> BODY=" + value + b"\r\n")
        assert isinstance(events[-1], Mail)
        assert events[-1].params["BODY"] == value.decode()


def test_3_other_body_values_get_501() -> None:
    """Any other BODY value is an error in the parameter."""
    _, _, out = session(HELLO + b"MAIL FROM:<a@b> BODY=BINARYMIME\r\nMAIL FROM:<a@b> BODY\r\n")
    assert codes(out)[-2:] == [501, 501]


def test_3_body_without_8bitmime_gets_555() -> None:
    """Without the extension, BODY= is a parameter the server does not know."""
    _, _, out = session(HELLO + b"MAIL FROM:<a@b> BODY=7BIT\r\n", Extensions(eightbitmime=False))
    assert b"8BITMIME" not in out and codes(out)[-1] == 555
