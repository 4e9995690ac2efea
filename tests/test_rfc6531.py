"""RFC 6531 (SMTPUTF8), one test per rule."""

from __future__ import annotations

from smtpstate import Extensions, Mail, Recipient, RejectedCommand, Verify

from .helpers import codes, session

HELLO = b"EHLO c\r\n"
UTF8 = Extensions(smtputf8=True)
USER = "jos\u00e9@b\u00fccher.example".encode()


def test_3_1_ehlo_advertises_smtputf8_with_8bitmime() -> None:
    """SMTPUTF8 is advertised only when enabled, and needs 8BITMIME."""
    _, _, out = session(HELLO, UTF8)
    assert b"250-SMTPUTF8\r\n" in out and b"250-8BITMIME\r\n" in out
    assert b"SMTPUTF8" not in session(HELLO)[2]


def test_3_4_utf8_paths_with_the_smtputf8_parameter() -> None:
    """With MAIL ... SMTPUTF8, paths may hold UTF-8; events carry them as str."""
    _, events, out = session(
        HELLO + b"MAIL FROM:<" + USER + b"> SMTPUTF8\r\nRCPT TO:<" + USER + b">\r\n", UTF8
    )
    assert isinstance(events[-2], Mail) and events[-2].smtputf8
    assert events[-2].reverse_path is not None
    assert events[-2].reverse_path.local_part == "jos\u00e9"
    assert isinstance(events[-1], Recipient)
    assert events[-1].forward_path.domain == "b\u00fccher.example"
    assert codes(out)[-2:] == [250, 250]


def test_3_5_utf8_sender_without_smtputf8_gets_550_x_6_7() -> None:
    """A non-ASCII MAIL address without the parameter is answered 550 X.6.7."""
    _, events, out = session(HELLO + b"MAIL FROM:<" + USER + b">\r\n", UTF8)
    assert isinstance(events[-1], RejectedCommand)
    assert out.endswith(b"550 5.6.7 Non-ASCII address needs SMTPUTF8\r\n")


def test_3_5_utf8_recipient_without_smtputf8_gets_553_x_6_7() -> None:
    """A non-ASCII RCPT address in a transaction without SMTPUTF8 gets 553 X.6.7."""
    _, _, out = session(HELLO + b"MAIL FROM:<a@b>\r\nRCPT TO:<" + USER + b">\r\n", UTF8)
    assert out.endswith(b"553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n")


def test_3_4_smtputf8_parameter_when_disabled_gets_555() -> None:
    """Without the extension, SMTPUTF8 is an unknown parameter (555)."""
    _, _, out = session(HELLO + b"MAIL FROM:<" + USER + b"> SMTPUTF8\r\n")
    assert codes(out)[-1] == 555


def test_3_4_smtputf8_takes_no_value() -> None:
    """The SMTPUTF8 parameter has no value."""
    _, _, out = session(HELLO + b"MAIL FROM:<a@b> SMTPUTF8=yes\r\n", UTF8)
    assert codes(out)[-1] == 501


def test_3_7_other_commands_take_utf8_only_with_the_extension() -> None:
    """Without SMTPUTF8, a non-ASCII argument to any other command gets 501."""
    _, events, out = session(b"VRFY " + USER + b"\r\n")
    assert codes(out) == [501]
    _, events, out = session(b"VRFY " + USER + b"\r\n", UTF8)
    assert events == [Verify(argument=USER.decode())]


def test_3_1_mail_line_may_grow_by_10_octets() -> None:
    """With SMTPUTF8, a MAIL line may be 10 octets longer than 512."""
    line = b"MAIL FROM:<a@b> SMTPUTF8" + b" " * (522 - 26) + b"\r\n"
    assert len(line) == 522
    _, events, _ = session(HELLO + line, UTF8)
    assert isinstance(events[-1], Mail)
    _, _, out = session(HELLO + line[:-2] + b" \r\n", UTF8)
    assert codes(out)[-1] == 500


def test_3_3_utf8_local_part_limit_counts_octets() -> None:
    """RFC 5321 4.5.3.1.1 counts octets: a UTF-8 local part of 33 two-octet
    characters (66 octets) is too long though it has only 33 characters."""
    ok = ("\u00e9" * 32 + "@b.example").encode()  # 64 octets
    too_long = ("\u00e9" * 33 + "@b.example").encode()
    mail = HELLO + b"MAIL FROM:<" + ok + b"> SMTPUTF8\r\n"
    _, events, _ = session(mail + b"RCPT TO:<" + ok + b">\r\nRCPT TO:<" + too_long + b">\r\n", UTF8)
    assert isinstance(events[-2], Recipient)
    assert isinstance(events[-1], RejectedCommand) and events[-1].reply.code == 501
