"""RFC 2034 and RFC 3463 (enhanced status codes), one test per rule."""

from __future__ import annotations

import re

from smtpstate import Event, Extensions, Hello, Reply

from .helpers import EHLO_MAIL, default_answer, drive, new_conn, session

ENGINE_REJECTIONS = (
    b"EHLO c\r\n"
    b"XYZZY\r\n"  # 500
    b"HELP\r\n"  # 502
    b"RCPT TO:<a@b>\r\n"  # 503
    b"MAIL FROM:<a@b> X=1\r\n"  # 555
    b"MAIL FROM:a\r\n"  # 501
    b"NOOP " + b"x" * 600 + b"\r\n"  # 500 too long
    b"MAIL FROM:<a@b> SIZE=99999\r\n"  # 552
    b"MAIL FROM:<\xc3\xa9@b>\r\n"  # 550 X.6.7
)


def test_3_ehlo_advertises_enhancedstatuscodes() -> None:
    """The EHLO keyword is ENHANCEDSTATUSCODES, with no parameter."""
    assert b"250 ENHANCEDSTATUSCODES\r\n" in session(b"EHLO c\r\n")[2]
    _, _, out = session(b"EHLO c\r\n", Extensions(enhanced_status_codes=False))
    assert b"ENHANCEDSTATUSCODES" not in out


def test_4_every_engine_reply_carries_a_matching_code() -> None:
    """All 2xx, 4xx and 5xx replies but the greeting and HELO/EHLO replies carry
    a status code whose class matches the reply code."""
    _, _, out = session(ENGINE_REJECTIONS, Extensions(size=100, smtputf8=True))
    lines = out.split(b"\r\n")[:-1]
    replies = [line for line in lines if not line.startswith(b"250")]
    assert [r[:3] for r in replies] == [
        b"500", b"502", b"503", b"555", b"501", b"500", b"552", b"550"
    ]  # fmt: skip
    for line in replies:
        match = re.match(rb"(\d)\d\d[ -](\d)\.\d{1,3}\.\d{1,3} ", line)
        assert match is not None and match[1] == match[2], line
    assert out.endswith(b"550 5.6.7 Non-ASCII address needs SMTPUTF8\r\n")


def test_4_not_on_the_greeting_nor_on_hello_replies() -> None:
    """The greeting and any response to HELO or EHLO have no status code."""
    conn = new_conn(greet=False)
    assert conn.send(Reply(220, "mx.example.org", "2.0.0")) == b"220 mx.example.org\r\n"
    _, out = drive(conn, b"EHLO c\r\nHELO\r\nHELO c\r\n")
    assert out == (
        b"250-mx.example.org\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
        b"501 HELO needs a domain name or address literal\r\n250 mx.example.org\r\n"
    )


def test_4_application_replies_get_a_default_code() -> None:
    """The application's reply gets X.0.0 when it gives none, or keeps its own."""

    def answer(event: Event) -> Reply:
        if isinstance(event, Hello):
            return default_answer(event)
        return Reply(250, "sender ok", "2.1.0")

    _, _, out = session(b"EHLO c\r\nMAIL FROM:<a@b>\r\nNOOP\r\n", answer=answer)
    assert out.endswith(b"250 2.1.0 sender ok\r\n250 2.1.0 sender ok\r\n")
    _, _, out = session(b"NOOP\r\n")
    assert out == b"250 2.0.0 OK\r\n"


def test_4_multi_line_replies_repeat_the_code_on_each_line() -> None:
    """A continued reply carries the same status code at the start of each line."""
    conn = new_conn()
    drive(conn, EHLO_MAIL)
    conn.receive_data(b"DATA\r\n")
    conn.next_event()
    conn.send(Reply(354, "go"))
    conn.receive_data(b".\r\n")
    conn.next_event()
    out = conn.send(Reply(550, ["rejected", "by policy"], "5.7.1"))
    assert out == b"550-5.7.1 rejected\r\n550 5.7.1 by policy\r\n"


def test_4_no_codes_when_disabled() -> None:
    """Without the extension, replies have no status codes."""
    _, _, out = session(b"NOOP\r\nXYZZY\r\n", Extensions(enhanced_status_codes=False))
    assert out == b"250 OK\r\n500 Command not recognized\r\n"


EXTENSION_REJECTIONS = (
    b"EHLO c\r\n"
    b"BDAT 3\r\nabc"  # 503: no transaction
    b"BDAT x\r\n"  # 501
    b"XCLIENT NAME=a\r\n"  # 550 5.7.0: not trusted
    b"XFORWARD NAME=\r\n"  # 501
    b"MAIL FROM:<a@b> RET=ALL\r\n"  # 501
    b"MAIL FROM:<a@b> REQUIRETLS\r\n"  # 555
    b"MAIL FROM:<a@b> MT-PRIORITY=10\r\n"  # 501
    b"MAIL FROM:<a@b> BODY=BINARYMIME\r\n"
    b"RCPT TO:<c@d> NOTIFY=NEVER,DELAY\r\n"  # 501
    b"RCPT TO:<c@d> ORCPT=x\r\n"  # 501
    b"RCPT TO:<c@d> X-NEW=1\r\n"  # 555
    b"RCPT TO:<c@d>\r\n"
    b"DATA\r\n"  # 503: BINARYMIME needs BDAT
    b"BDAT 4\r\nabcd"  # 552 over SIZE
)


def test_4_extension_refusals_carry_a_matching_code() -> None:
    """The replies the engine suggests for CHUNKING, XCLIENT/XFORWARD, DSN,
    REQUIRETLS and MT-PRIORITY carry an enhanced status code of their class."""
    ext = Extensions(size=3, chunking=True, binarymime=True, dsn=True, mt_priority=True)
    conn = new_conn(extensions=ext, xforward=True)
    _, out = drive(conn, EXTENSION_REJECTIONS)
    replies = [line for line in out.split(b"\r\n")[:-1] if not line.startswith(b"250")]
    assert [r[:3] for r in replies] == [
        b"503", b"501", b"550", b"501", b"501", b"555", b"501", b"501", b"501", b"555",
        b"503", b"552",
    ]  # fmt: skip
    for line in replies:
        match = re.match(rb"(\d)\d\d[ -](\d)\.\d{1,3}\.\d{1,3} ", line)
        assert match is not None and match[1] == match[2], line


def test_4_xclient_greeting_has_no_code_but_xforward_reply_has() -> None:
    """XCLIENT's 220 is a greeting (no code); XFORWARD's 250 is not."""
    conn = new_conn(xclient=True, xforward=True)
    _, out = drive(conn, b"EHLO c\r\nXFORWARD NAME=a\r\nXCLIENT NAME=a\r\n")
    assert out.endswith(b"250 2.0.0 OK\r\n220 mx.example.org ESMTP\r\n")
