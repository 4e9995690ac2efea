"""RFC 5321, one test per rule the engine owns: the session, the command sequence, path
syntax, DATA framing and reply codes. Each test is named after its section."""

from __future__ import annotations

import pytest

from smtpstate import (
    PAUSED,
    ConnectionClosed,
    DataStart,
    EndOfMessage,
    Event,
    Expand,
    Extensions,
    Hello,
    Help,
    LocalProtocolError,
    Mail,
    MessageData,
    Noop,
    Quit,
    Recipient,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    Reset,
    ServerConnection,
    State,
    UnknownCommand,
    Verify,
)

from .helpers import (
    EHLO_MAIL,
    GREETING,
    body_of,
    codes,
    default_answer,
    drive,
    new_conn,
    reply_to,
    session,
)

HELLO = b"EHLO client.example\r\n"


def rejections(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.verb, e.reply.code) for e in events if isinstance(e, RejectedCommand)]


# -- 3.1 Session initiation -------------------------------------------------------


def test_3_1_greeting_220_opens_the_session() -> None:
    """The server greets with 220; commands are read only after the greeting."""
    conn = new_conn(greet=False)
    conn.receive_data(b"NOOP\r\n")
    assert conn.next_event() is PAUSED
    assert conn.state is State.CONNECTED
    assert conn.send(Reply(220, "mx.example.org ESMTP")) == b"220 mx.example.org ESMTP\r\n"
    assert conn.state is State.AWAIT_HELLO
    assert conn.next_event() == Noop()


def test_3_1_refused_greeting_gets_503_until_quit() -> None:
    """A 554 greeting refuses service: the server MUST answer every command but
    QUIT with 503, and QUIT with 221."""
    conn = new_conn(greet=False)
    assert conn.send(Reply(554, "no service")) == b"554 no service\r\n"
    assert conn.state is State.REFUSED
    events, out = drive(conn, HELLO + b"MAIL FROM:<a@b>\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    assert [type(e) for e in events] == [RejectedCommand] * 4 + [Quit, ConnectionClosed]
    assert codes(out) == [503, 503, 503, 503, 221]
    assert conn.state is State.CLOSED


def test_3_1_greeting_421_closes_at_once() -> None:
    """A server that cannot serve may answer the opening with 421 and close."""
    conn = new_conn(greet=False)
    conn.send(Reply(421, "busy"))
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()


@pytest.mark.parametrize("code", [250, 354, 550, 450])
def test_3_1_greeting_is_220_554_or_421_only(code: int) -> None:
    """The opening reply is 220, 554 or 421; anything else is the application's bug."""
    conn = new_conn(greet=False)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code))
    assert conn.state is State.ERROR


# -- 2.4 and 4.2 Commands and their replies ------------------------------------------


def test_2_4_verbs_are_case_insensitive() -> None:
    """Verbs and argument keywords (FROM:, TO:) are not case sensitive."""
    _, events, out = session(b"eHlO c\r\nmail from:<a@b>\r\nRcPt To:<c@d>\r\nData\r\n.\r\n")
    assert [type(e) for e in events] == [Hello, Mail, Recipient, DataStart, EndOfMessage]
    assert codes(out) == [250, 250, 250, 354, 250]


def test_4_2_2_unknown_verb_gets_500() -> None:
    """An unrecognized command gets 500; the application answers UnknownCommand."""
    _, events, out = session(b"XYZZY magic\r\n\r\n")
    assert events[0] == UnknownCommand(
        verb="XYZZY", argument="magic", reply=Reply(500, "Command not recognized", "5.5.1")
    )
    assert isinstance(events[1], UnknownCommand) and events[1].verb == ""
    assert codes(out) == [500, 500]


def test_4_2_4_disabled_help_and_expn_get_502() -> None:
    """A command the server knows but does not implement gets 502."""
    _, events, out = session(b"HELP\r\nEXPN list\r\n")
    assert rejections(events) == [("HELP", 502), ("EXPN", 502)]
    assert out == b"502 5.5.1 Command not implemented\r\n" * 2


def test_4_1_1_8_enabled_help_and_expn_reach_the_application() -> None:
    """HELP (211/214) and EXPN (250/252) are events when enabled."""

    def answer(event: Event) -> Reply:
        return Reply(214, "see docs") if isinstance(event, Help) else default_answer(event)

    ext = Extensions(help=True, expn=True)
    _, events, out = session(b"HELP MAIL\r\nEXPN staff\r\n", ext, answer)
    assert events == [Help(argument="MAIL"), Expand(argument="staff")]
    assert codes(out) == [214, 250]


def test_4_1_1_11_unknown_mail_and_rcpt_parameters_get_555() -> None:
    """A MAIL or RCPT parameter the server does not recognize gets 555."""
    _, events, _ = session(
        HELLO + b"MAIL FROM:<a@b> XFOO=1\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\n"
    )
    assert rejections(events) == [("MAIL", 555), ("RCPT", 555)]


@pytest.mark.parametrize(
    "line",
    [
        b"HELO",
        b"EHLO bad..domain",
        b"MAIL FROM:a@b",
        b"MAIL TO:<a@b>",
        b"RSET all",
        b"QUIT please",
        b"VRFY",
        b"NOOP \t",
    ],
)
def test_4_3_2_syntax_errors_get_501(line: str) -> None:
    """A command with bad syntax in its argument gets 501; the state stays."""
    conn, events, out = session(HELLO + line + b"\r\n")
    assert codes(out)[-1] == 501
    assert isinstance(events[-1], RejectedCommand)
    assert conn.state is State.READY


# -- 4.1.4 and 3.3 Order of commands ------------------------------------------------


def test_4_1_4_mail_before_hello_gets_503() -> None:
    """A session starts with EHLO or HELO; MAIL before it is out of sequence."""
    _, events, out = session(b"MAIL FROM:<a@b>\r\nRCPT TO:<a@b>\r\nDATA\r\n")
    assert rejections(events) == [("MAIL", 503), ("RCPT", 503), ("DATA", 503)]
    assert out.count(b"Send HELO or EHLO first") == 3


def test_4_1_4_nested_mail_gets_503() -> None:
    """MAIL inside a transaction is out of sequence."""
    conn, events, _ = session(EHLO_MAIL + b"MAIL FROM:<x@y>\r\n")
    assert rejections(events) == [("MAIL", 503)]
    assert conn.state is State.HAS_RCPT


def test_4_1_4_rcpt_before_mail_gets_503() -> None:
    """RCPT needs a MAIL first."""
    _, events, _ = session(HELLO + b"RCPT TO:<a@b>\r\n")
    assert rejections(events) == [("RCPT", 503)]


def test_4_1_4_data_before_an_accepted_rcpt_gets_503() -> None:
    """DATA needs an accepted RCPT."""
    _, events, _ = session(HELLO + b"DATA\r\nMAIL FROM:<a@b>\r\nDATA\r\n")
    assert rejections(events) == [("DATA", 503), ("DATA", 503)]


def test_4_1_1_4_a_refused_data_starts_no_body() -> None:
    """When the server refuses DATA (here 451), no body follows: the next line
    is a command again, and the transaction stays open for another DATA."""

    refused = []

    def answer(event: Event) -> Reply:
        if isinstance(event, DataStart) and not refused:
            refused.append(event)
            return Reply(451, "try again")
        return default_answer(event)

    conn, events, out = session(EHLO_MAIL + b"DATA\r\nNOOP\r\nDATA\r\nhi\r\n.\r\n", answer=answer)
    assert codes(out) == [250, 250, 250, 451, 250, 354, 250]
    assert isinstance(events[4], Noop)
    assert body_of(events) == b"hi\r\n"
    assert conn.state is State.READY


def test_3_3_data_after_every_rcpt_was_refused_gets_554() -> None:
    """When all RCPTs were rejected, DATA MAY get 554 "no valid recipients"."""

    def answer(event: Event) -> Reply:
        return Reply(550, "no such user") if isinstance(event, Recipient) else default_answer(event)

    conn, _, out = session(EHLO_MAIL + b"RCPT TO:<c@d>\r\nDATA\r\n", answer=answer)
    assert codes(out) == [250, 250, 550, 550, 554]
    assert conn.state is State.IN_MAIL

    # Refused by the engine (bad syntax) counts as refused too.
    _, _, out = session(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<oops\r\nDATA\r\n")
    assert codes(out) == [250, 250, 501, 554]
    # With no RCPT at all, DATA is out of sequence: 503.
    _, _, out = session(b"EHLO c\r\nMAIL FROM:<a@b>\r\nDATA\r\n")
    assert codes(out) == [250, 250, 503]


def test_4_1_4_hello_clears_the_transaction() -> None:
    """EHLO or HELO during a transaction ends it, as RSET would."""
    conn, events, _ = session(EHLO_MAIL + b"HELO again\r\nRCPT TO:<c@d>\r\n")
    assert rejections(events) == [("RCPT", 503)]
    assert conn.state is State.READY and conn.recipients == 0


def test_4_1_1_5_rset_clears_the_transaction_but_not_the_hello() -> None:
    """RSET aborts the transaction; it does not stand in for EHLO."""
    conn, events, _ = session(EHLO_MAIL + b"RSET\r\nRCPT TO:<c@d>\r\nMAIL FROM:<a@b>\r\n")
    assert rejections(events) == [("RCPT", 503)]
    assert conn.state is State.IN_MAIL
    conn, events, _ = session(b"RSET\r\nMAIL FROM:<a@b>\r\n")
    assert rejections(events) == [("MAIL", 503)]


@pytest.mark.parametrize("prefix", [b"", HELLO, HELLO + b"MAIL FROM:<a@b>\r\n", EHLO_MAIL])
def test_4_1_4_noop_rset_vrfy_help_quit_work_outside_the_body(prefix: bytes) -> None:
    """NOOP, RSET, VRFY, HELP and QUIT may be sent at any point of a session."""
    conn, events, _ = session(
        prefix + b"NOOP\r\nVRFY bob\r\nHELP\r\nRSET\r\nQUIT\r\n", Extensions(help=True)
    )
    tail = [type(e) for e in events[-6:]]
    assert tail == [Noop, Verify, Help, Reset, Quit, ConnectionClosed]
    assert conn.state is State.CLOSED


def test_4_1_4_a_rejected_command_leaves_the_state() -> None:
    """A 4xx/5xx answer to a command changes nothing."""

    def answer(event: Event) -> Reply:
        if isinstance(event, (Hello, Mail)):
            return Reply(450, "later")
        return default_answer(event)

    conn, _, _ = session(HELLO, answer=answer)
    assert conn.state is State.AWAIT_HELLO
    conn, _, _ = session(HELLO + b"MAIL FROM:<a@b>\r\n")
    assert conn.state is State.IN_MAIL
    conn = new_conn()
    drive(conn, HELLO)
    drive(conn, b"MAIL FROM:<a@b>\r\n", lambda e: Reply(550, "no"))
    assert conn.state is State.READY


# -- 4.1.2, 4.1.3, 4.5.3.1 Paths ------------------------------------------------------


def mail_event(path: bytes, ext: Extensions | None = None) -> Event:
    return session(HELLO + b"MAIL FROM:" + path + b"\r\n", ext)[1][-1]


def rcpt_event(path: bytes) -> Event:
    return session(HELLO + b"MAIL FROM:<>\r\nRCPT TO:" + path + b"\r\n")[1][-1]


def test_4_1_1_2_null_reverse_path() -> None:
    """MAIL FROM:<> is the null reverse-path (notifications)."""
    assert mail_event(b"<>") == Mail(reverse_path=None)


def test_4_1_1_3_postmaster_without_domain() -> None:
    """RCPT TO:<Postmaster> (any case) is accepted syntax without a domain."""
    event = rcpt_event(b"<POSTMASTER>")
    assert isinstance(event, Recipient) and event.forward_path.local_part == "POSTMASTER"


def test_4_1_1_3_source_routes_are_accepted_and_ignored() -> None:
    """Servers MUST accept the obsolete source route and SHOULD ignore it."""
    event = rcpt_event(b"<@hosta.int,@jkl.org:userc@d.bar.org>")
    assert isinstance(event, Recipient)
    assert event.forward_path.address == "userc@d.bar.org"
    assert event.forward_path.text == "@hosta.int,@jkl.org:userc@d.bar.org"


def test_4_1_2_quoted_local_parts() -> None:
    """A Local-part may be a Quoted-string, with spaces, ">" and quoted pairs."""
    event = mail_event(b'<"john \\"q\\" > doe"@example.org> BODY=7BIT')
    assert isinstance(event, Mail) and event.reverse_path is not None
    assert event.reverse_path.local_part == '"john \\"q\\" > doe"'
    assert event.params == {"BODY": "7BIT"}


@pytest.mark.parametrize(
    ("literal", "ok"),
    [
        (b"[192.0.2.1]", True),
        (b"[192.0.2.256]", False),
        (b"[IPv6:2001:db8::1]", True),
        (b"[IPv6:2001:db8:::1]", False),
        (b"[IPv6:::ffff:192.0.2.1]", True),
        # IPv6-full: exactly 8 groups of 1 to 4 hex digits, either case
        (b"[IPv6:2001:DB8:0:0:0:0:0:1]", True),
        (b"[IPv6:2001:db8:0:0:0:0:1]", False),
        (b"[IPv6:2001:db8:0:0:0:0:0:0:1]", False),
        (b"[IPv6:2001:db8:0:0:0:0:0:12345]", False),
        # IPv6-comp: "::" stands for at least two groups, so at most 6 besides it
        (b"[IPv6:::]", True),
        (b"[IPv6:1:2:3:4:5:6::]", True),
        (b"[IPv6:1:2:3::5:6:7]", True),
        (b"[IPv6:1:2:3:4:5:6:7::]", False),
        (b"[IPv6:::2:3:4:5:6:7:8]", False),
        (b"[IPv6:1:2:3::5:6:7:8]", False),
        (b"[IPv6:1::2::3]", False),
        # IPv6v4: 6 groups and an IPv4 part, or at most 4 besides the "::";
        # the IPv4 part's Snum is 1*3DIGIT, so leading zeros are allowed
        (b"[IPv6:1:2:3:4:5:6:192.0.2.1]", True),
        (b"[IPv6:1:2:3:4:5:192.0.2.1]", False),
        (b"[IPv6:1:2:3:4::192.0.2.1]", True),
        (b"[IPv6:1:2:3:4:5::192.0.2.1]", False),
        (b"[IPv6:::ffff:001.002.003.004]", True),
        (b"[IPv6:::192.0.2.256]", False),
        (b"[IPv6:192.0.2.1]", False),
        (b"[IPv6:fe80::1%eth0]", False),
        (b"[001.2.3.4]", True),
        ("[\u0661.2.3.4]".encode(), False),  # Snum is ASCII DIGIT only
        (b"[x400:c=us]", True),
        (b"[nonsense]", False),
    ],
)
def test_4_1_3_address_literals_are_validated(literal: bytes, ok: bool) -> None:
    """IPv4 literals are four numbers 0-255, IPv6 ones follow IPv6-addr (full,
    compressed, or with an IPv4 tail), and a general literal is a tag and content."""
    event = rcpt_event(b"<a@" + literal + b">")
    if ok:
        assert isinstance(event, Recipient) and event.forward_path.domain == literal.decode()
    else:
        assert isinstance(event, RejectedCommand) and event.reply.code == 501


def test_4_1_3_ehlo_takes_an_address_literal() -> None:
    """EHLO may name the client by an address literal, which is validated too."""
    _, events, out = session(b"EHLO [192.0.2.1]\r\nEHLO [IPv6:zz]\r\n")
    assert events[0] == Hello(domain="[192.0.2.1]", extended=True)
    assert codes(out)[-1] == 501


def test_4_5_3_1_1_local_part_is_at_most_64_octets() -> None:
    """The local part is at most 64 octets."""
    assert isinstance(rcpt_event(b"<" + b"a" * 64 + b"@b>"), Recipient)
    assert isinstance(rcpt_event(b"<" + b"a" * 65 + b"@b>"), RejectedCommand)


def test_4_5_3_1_2_domain_is_at_most_255_octets() -> None:
    """The domain is at most 255 octets (inside a path, the 256-octet path limit
    is met first)."""
    domain = b".".join([b"d" * 63] * 3) + b"." + b"e" * 59  # 251
    assert isinstance(rcpt_event(b"<a@" + domain + b">"), Recipient)
    assert isinstance(rcpt_event(b"<a@" + domain * 2 + b">"), RejectedCommand)


def test_4_5_3_1_3_path_is_at_most_256_octets() -> None:
    """A path is at most 256 octets, punctuation included (we count the brackets)."""
    domain = b".".join([b"d" * 63] * 3) + b"." + b"e" * 59  # 251
    assert isinstance(rcpt_event(b"<ab@" + domain + b">"), Recipient)  # 256
    assert isinstance(rcpt_event(b"<abc@" + domain + b">"), RejectedCommand)
    assert isinstance(rcpt_event(b"<@r.example:a@" + domain + b">"), RejectedCommand)


def test_4_1_2_parameters_are_a_mapping() -> None:
    """esmtp-keyword ["=" esmtp-value] pairs become a mapping of upper-cased keywords."""
    event = mail_event(b"<a@b> body=8BITMIME size=10", Extensions(size=100))
    assert isinstance(event, Mail)
    assert event.params == {"BODY": "8BITMIME", "SIZE": "10"}
    assert event.size == 10


def test_4_1_1_1_no_parameters_after_helo() -> None:
    """Parameters are service extensions: after HELO (not EHLO) they get 555."""
    _, events, _ = session(
        b"HELO c\r\nMAIL FROM:<a@b> BODY=7BIT\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d> X=1\r\n"
    )
    assert rejections(events) == [("MAIL", 555), ("RCPT", 555)]


# -- 4.5.3.1.4 Command line ------------------------------------------------------------


def test_4_5_3_1_4_command_line_over_512_octets_gets_500() -> None:
    """A command line is at most 512 octets with its CRLF; longer gets 500, and
    the rest of the line is not buffered."""
    conn = new_conn()
    ok = b"NOOP " + b"x" * 505 + b"\r\n"  # 512
    events, out = drive(conn, ok)
    assert events == [Noop(argument="x" * 505)]
    conn.receive_data(b"NOOP " + b"x" * 506)
    for _ in range(100):
        conn.receive_data(b"y" * 1000)
        assert conn.next_event().name == "NEED_DATA"  # type: ignore[union-attr]
        assert len(conn.trailing_data[0]) <= 512
    events, out = drive(conn, b"\r\nNOOP\r\n")
    assert isinstance(events[0], RejectedCommand) and events[0].reply.code == 500
    assert events[1] == Noop()
    assert out == b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"


def test_4_5_3_1_10_too_many_recipients_gets_452() -> None:
    """A server refusing recipients over its limit answers 452."""
    rcpts = b"".join(b"RCPT TO:<u%d@d>\r\n" % i for i in range(101))
    conn, _, out = session(HELLO + b"MAIL FROM:<a@b>\r\n" + rcpts)
    assert codes(out)[-1] == 452 and conn.recipients == 100
    with pytest.raises(ValueError):
        new_conn(max_recipients=99)


# -- 4.1.1.4 and 4.5.2 DATA ------------------------------------------------------------


def data_session(body: bytes, **kw: object) -> tuple[list[Event], bytes]:
    _, events, out = session(EHLO_MAIL + b"DATA\r\n" + body, **kw)
    return events, out


def test_4_1_1_4_354_starts_the_body_and_crlf_dot_crlf_ends_it() -> None:
    """After 354 the lines are mail data until CRLF "." CRLF; the end is answered."""
    events, out = data_session(b"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    assert body_of(events) == b"Subject: x\r\n\r\nhi\r\n"
    end = next(e for e in events if isinstance(e, EndOfMessage))
    assert end == EndOfMessage(size=18)
    assert codes(out) == [250, 250, 250, 354, 250, 221]


def test_4_1_1_4_empty_body() -> None:
    """The "no mail data" case: the DATA line's CRLF is the terminator's first CRLF."""
    events, _ = data_session(b".\r\n")
    assert [e for e in events if isinstance(e, (MessageData, EndOfMessage))] == [
        EndOfMessage(size=0)
    ]


def test_4_5_2_leading_dot_is_removed() -> None:
    """A line that starts with "." has that first character deleted."""
    events, _ = data_session(b"..\r\n.x\r\n...\r\nno.dot\r\n.\r\n")
    assert body_of(events) == b".\r\nx\r\n..\r\nno.dot\r\n"


@pytest.mark.parametrize(
    "sneaky", [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r\n .\r\n"]
)
def test_4_1_1_4_only_crlf_dot_crlf_ends_the_body(sneaky: bytes) -> None:
    """No other line ending closes the body (SMTP smuggling): the smuggled MAIL
    stays body text."""
    events, _ = data_session(b"a" + sneaky + b"MAIL FROM:<evil@x>\r\n.\r\n")
    assert sum(isinstance(e, Mail) for e in events) == 1
    assert sum(isinstance(e, EndOfMessage) for e in events) == 1


def test_2_3_8_bare_lf_rejected_after_the_terminator() -> None:
    """Bare CR/LF/NUL in the body, policy "reject" (the default): delivery stops
    before the fault, and the end is answered 550 5.6.0, once."""
    events, out = data_session(b"\na\nb\r\nc\rd\0\r\n.\r\nNOOP\r\n")
    end = [e for e in events if isinstance(e, EndOfMessage)]
    assert len(end) == 1 and end[0].bad_line_endings and end[0].reply is not None
    assert body_of(events) == b""
    assert out.endswith(
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
        b"550 5.6.0 Bare CR, bare LF or NUL in message body\r\n250 2.0.0 OK\r\n"
    )


def test_2_3_8_close_policy_answers_421_and_ends() -> None:
    """Policy "close": the bare LF ends the session with 421 (after the octets
    before it, so that what was delivered does not depend on the reads)."""
    conn = new_conn(bad_line_endings="close")
    drive(conn, EHLO_MAIL + b"DATA\r\n")
    conn.receive_data(b"a\nb\r\n.\r\n")
    assert conn.next_event() == MessageData(data=b"a")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert conn.state is State.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.send(info.value.reply).startswith(b"421 4.5.2 ")
    with pytest.raises(LocalProtocolError):
        conn.send(info.value.reply)


def test_2_3_8_pass_policy_delivers_unchanged() -> None:
    """Policy "pass": the body is delivered as sent (after unstuffing)."""
    events, out = data_session(b"a\nb\rc\0\r\n.\r\n", bad_line_endings="pass")
    assert body_of(events) == b"a\nb\rc\0\r\n"
    assert codes(out)[-1] == 250


@pytest.mark.parametrize("policy", ["sideways", ""])
def test_2_3_8_unknown_policies_are_refused(policy: str) -> None:
    """Only the documented policies exist."""
    with pytest.raises(ValueError):
        new_conn(bad_line_endings=policy)
    with pytest.raises(ValueError):
        new_conn(long_lines=policy)


def test_4_5_3_1_6_text_line_over_1000_octets_fails_the_message() -> None:
    """Text lines are at most 1000 octets with CRLF; policy "reject" fails the
    message with 500 after the terminator, and delivers nothing past the limit."""
    events, out = data_session(b"ok\r\n" + b"x" * 999 + b"\r\n.\r\n")
    assert body_of(events) == b"ok\r\n" + b"x" * 999
    assert out.endswith(b"500 5.5.2 Line too long in message body\r\n")
    events, out = data_session(b"x" * 998 + b"\r\n.\r\n")
    assert codes(out)[-1] == 250


def test_4_5_3_1_6_pass_policy_keeps_long_lines_intact() -> None:
    """Policy "pass": long lines are delivered whole, never truncated or split."""
    line = b"x" * 5000 + b"\r\n"
    events, out = data_session(line + b".\r\n", long_lines="pass")
    assert body_of(events) == line
    assert codes(out)[-1] == 250
    with pytest.raises(ValueError):
        new_conn(max_text_line=999)
    with pytest.raises(ValueError):
        new_conn(max_command_line=511)


def test_4_5_3_1_6_stuffed_dot_is_not_counted() -> None:
    """The 1000 octets do not count the leading dot duplicated for transparency."""
    events, out = data_session(b".." + b"x" * 997 + b"\r\n.\r\n")
    assert codes(out)[-1] == 250
    assert body_of(events) == b"." + b"x" * 997 + b"\r\n"


def test_4_1_1_4_a_body_error_is_answered_once_after_the_terminator() -> None:
    """However many faults a body has, it gets one reply, after CRLF.CRLF."""
    events, out = data_session(b"\n" * 50 + b"y" * 3000 + b"\r\n" + b"\r" * 9 + b"\r\n.\r\n")
    assert len([e for e in events if isinstance(e, EndOfMessage)]) == 1
    assert codes(out) == [250, 250, 250, 354, 550]


def test_4_1_1_4_the_transaction_ends_either_way() -> None:
    """Accepted or refused, the end of data closes the transaction."""
    for answer in (default_answer, lambda e: Reply(451, "try later")):
        conn = new_conn()
        drive(conn, EHLO_MAIL + b"DATA\r\n")
        drive(conn, b"x\r\n.\r\n", answer)
        assert conn.state is State.READY and conn.recipients == 0
        events, _ = drive(conn, b"RCPT TO:<c@d>\r\n")
        assert isinstance(events[0], RejectedCommand) and events[0].reply.code == 503


# -- 4.1.1.10 and 3.8 Ending the session ----------------------------------------------


def test_4_1_1_10_quit_gets_221_and_closes() -> None:
    """QUIT is answered 221 and the session ends; later bytes are ignored."""
    conn, events, out = session(HELLO + b"QUIT\r\nNOOP\r\n")
    assert out.endswith(b"221 2.0.0 Bye\r\n")
    assert events[-1] == ConnectionClosed()
    assert conn.next_event() == ConnectionClosed()
    assert conn.trailing_data == (b"NOOP\r\n", False)


def test_4_1_1_10_quit_mid_transaction_says_so() -> None:
    """QUIT inside a transaction abandons it: the close event says so."""
    _, events, _ = session(EHLO_MAIL + b"QUIT\r\n")
    assert events[-1] == ConnectionClosed(mid_transaction=True)


def test_3_8_client_close_mid_transaction_and_mid_body() -> None:
    """A client that closes inside a transaction or a body: the close event says
    so, and a cut-off body never gets an EndOfMessage."""
    conn = new_conn()
    events, _ = drive(conn, EHLO_MAIL, eof=True)
    assert events[-1] == ConnectionClosed(mid_transaction=True)

    conn = new_conn()
    events, _ = drive(conn, [EHLO_MAIL + b"DATA\r\nhalf a body\r\n.\r"], eof=True)
    assert not any(isinstance(e, EndOfMessage) for e in events)
    assert body_of(events) == b"half a body\r\n"  # whole lines; the partial terminator is dropped
    assert events[-1] == ConnectionClosed(mid_transaction=True, mid_body=True)
    assert conn.state is State.CLOSED

    conn = new_conn()
    events, _ = drive(conn, [HELLO + b"NOOP"], eof=True)
    assert events[-1] == ConnectionClosed()
    with pytest.raises(RuntimeError):
        conn.receive_data(b"more")


# -- 4.3.2 Replies that fit the command --------------------------------------------------


def owed(data: bytes) -> tuple[ServerConnection, Event]:
    """A connection fed ``data`` with every command answered but the last."""
    conn = new_conn()
    conn.receive_data(data)
    while True:
        event = conn.next_event()
        assert isinstance(event, Event)
        if isinstance(event, MessageData):
            continue
        if not conn.trailing_data[0]:
            return conn, event
        conn.send(reply_to(conn, event))


@pytest.mark.parametrize(
    ("data", "mid"),
    [
        (b"NOOP\r\n", False),
        (b"XYZZY\r\n", False),
        (HELLO, False),
        (HELLO + b"MAIL FROM:<a@b>\r\n", False),
        (EHLO_MAIL, True),
        (EHLO_MAIL + b"DATA\r\n", True),
        (EHLO_MAIL + b"DATA\r\nabc\r\n.\r\n", True),
    ],
)
def test_3_8_a_421_closes_from_any_state(data: bytes, mid: bool) -> None:
    """The server may answer any command with 421 and close; the close event
    says whether a transaction was abandoned."""
    conn, _ = owed(data)
    wire = conn.send(Reply(421, "shutting down"))
    assert wire.startswith(b"421 ") and wire.endswith(b"shutting down\r\n")
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed(mid_transaction=mid)


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (EHLO_MAIL, Reply(354, "go")),  # 354 to RCPT
        (HELLO + b"MAIL FROM:<a@b>\r\n", Reply(251, "x")),
        (b"XYZZY\r\n", Reply(250, "OK")),  # 250 to an unknown command
        (b"MAIL FROM:<a@b>\r\n", Reply(250, "OK")),  # 2xx to a RejectedCommand
        (b"NOOP\r\n", Reply(550, "no")),  # NOOP must succeed
        (b"RSET\r\n", Reply(450, "no")),
        (b"QUIT\r\n", Reply(250, "no")),
        (b"VRFY x\r\n", Reply(354, "no")),
        (EHLO_MAIL + b"DATA\r\na\nb\r\n.\r\n", Reply(250, "OK")),  # 2xx to a flagged end
    ],
)
def test_4_3_2_a_reply_that_cannot_answer_the_command_raises(data: bytes, reply: Reply) -> None:
    """Each command has its own success codes; anything else is the app's bug
    and nothing reaches the wire."""
    conn, _ = owed(data)
    with pytest.raises(LocalProtocolError):
        conn.send(reply)
    assert conn.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(421, "bye"))


def test_4_3_2_a_reply_when_none_is_owed_raises() -> None:
    """Only a command is owed a reply: an unasked reply is refused."""
    conn = new_conn()
    with pytest.raises(LocalProtocolError, match="no reply is owed"):
        conn.send(GREETING)
    with pytest.raises(LocalProtocolError):
        new_conn().send("250 OK")  # type: ignore[arg-type]


def test_4_1_1_1_helo_takes_a_domain_only() -> None:
    """RFC 5321 4.1.1.1: helo = "HELO" SP Domain, while EHLO may give an
    address literal."""
    _, events, _ = session(b"HELO [192.0.2.1]\r\nEHLO [192.0.2.1]\r\n")
    assert isinstance(events[0], RejectedCommand) and events[0].reply.code == 501
    assert isinstance(events[1], Hello) and events[1].domain == "[192.0.2.1]"


# -- 4.1.1.1 and 4.2: the server names itself ---------------------------------------------

# First lines that name the server: a Domain with a dot, an address literal, or
# exactly the connection's hostname (mx.example.org here), in any case.
SERVER_NAMES = [
    "mx.example.org",
    "MX.Example.ORG greets client.example",
    "relay.example.net ESMTP",  # another name with a dot: the engine cannot know all
    "[192.0.2.1]",
    "[IPv6:2001:db8::1] ready",
    "xn--bcher-kva.example",
]
# Not a server name: one label that is not the hostname ("OK" is a Domain by the
# grammar), nothing, a leading space, or something outside the grammar.
NOT_SERVER_NAMES = ["OK", "", " mx.example.org", "Hello mx.example.org", "mx", "mx.example.org.",
                    "mx_1.example.org", "-mx.example.org", "[192.0.2.1", "a.b,"]  # fmt: skip


def hello_owed(line: bytes, **kwargs: object) -> ServerConnection:
    conn = new_conn(**kwargs)
    conn.receive_data(line)
    assert isinstance(conn.next_event(), Hello)
    return conn


@pytest.mark.parametrize("text", SERVER_NAMES)
@pytest.mark.parametrize("line", [b"EHLO c\r\n", b"HELO c\r\n"])
def test_4_1_1_1_hello_reply_starts_with_the_server_name(line: bytes, text: str) -> None:
    """RFC 5321 4.1.1.1: ehlo-ok-rsp = "250" SP Domain [SP ehlo-greet]; the
    server identifies itself in the first line of the reply to HELO and EHLO."""
    conn = hello_owed(line)
    assert conn.send(Reply(250, text)).startswith(
        f"250{'-' if b'E' in line[:1] else ' '}{text}".encode()
    )
    assert conn.state is State.READY


@pytest.mark.parametrize("text", NOT_SERVER_NAMES)
@pytest.mark.parametrize("line", [b"EHLO c\r\n", b"HELO c\r\n"])
def test_4_1_1_1_hello_reply_without_the_server_name_raises(line: bytes, text: str) -> None:
    """RFC 5321 4.1.1.1: "250 OK" to EHLO would go out as "250-OK" followed by
    keywords, naming a server called OK. send() refuses it like any reply that
    breaks the protocol: LocalProtocolError, no byte produced, state ERROR."""
    conn = hello_owed(line)
    with pytest.raises(LocalProtocolError, match=r"4\.1\.1\.1"):
        conn.send(Reply(250, text))
    assert conn.state is State.ERROR


def test_4_1_1_1_one_label_hostname_is_a_server_name() -> None:
    """A one-label name is the server's only when it is the connection's hostname."""
    conn = hello_owed(b"EHLO c\r\n", hostname="localhost")
    assert conn.send(Reply(250, "LOCALHOST")).startswith(b"250-LOCALHOST\r\n")
    conn = hello_owed(b"EHLO c\r\n", hostname="localhost")
    with pytest.raises(LocalProtocolError, match="'localhost'; not 'mail'"):
        conn.send(Reply(250, "mail"))


def test_4_1_1_1_only_the_first_line_names_the_server() -> None:
    conn = hello_owed(b"EHLO c\r\n")
    assert conn.send(Reply(250, ["mx.example.org", "OK"])).startswith(
        b"250-mx.example.org\r\n250-OK\r\n"
    )
    conn = hello_owed(b"EHLO c\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, ["OK", "mx.example.org"]))


def test_4_1_1_1_lhlo_reply_starts_with_the_server_name() -> None:
    """LMTP's LHLO reply has EHLO's form (RFC 2033 4.1)."""
    conn = hello_owed(b"LHLO c\r\n", lmtp=True)
    with pytest.raises(LocalProtocolError, match=r"4\.1\.1\.1"):
        conn.send(Reply(250, "OK"))


@pytest.mark.parametrize("reply", [Reply(550, "OK"), Reply(421, "bye"), Reply(504, "")])
def test_4_1_1_1_a_refused_hello_needs_no_server_name(reply: Reply) -> None:
    """Only ehlo-ok-rsp names the server: a refusal is an ordinary Reply-line."""
    conn = hello_owed(b"EHLO c\r\n")
    assert conn.send(reply).startswith(str(reply.code).encode())


@pytest.mark.parametrize("text", SERVER_NAMES)
def test_4_2_greeting_starts_with_the_server_name(text: str) -> None:
    """RFC 5321 4.2: Greeting = "220 " (Domain / address-literal) [SP textstring]."""
    conn = new_conn(greet=False)
    assert conn.send(Reply(220, text)) == f"220 {text}\r\n".encode()
    assert conn.state is State.AWAIT_HELLO


@pytest.mark.parametrize("text", NOT_SERVER_NAMES)
def test_4_2_greeting_without_the_server_name_raises(text: str) -> None:
    conn = new_conn(greet=False)
    with pytest.raises(LocalProtocolError, match=r"RFC 5321 4\.2"):
        conn.send(Reply(220, text))
    assert conn.state is State.ERROR


def test_4_2_refusing_greeting_needs_no_server_name() -> None:
    """The 554 that refuses a session is a Reply-line, not a Greeting (3.1)."""
    conn = new_conn(greet=False)
    assert conn.send(Reply(554, "No service")) == b"554 No service\r\n"
    assert conn.state is State.REFUSED


def test_4_2_xclient_new_greeting_starts_with_the_server_name() -> None:
    """XCLIENT is accepted with a new greeting, which names the server too; its
    refusal is an ordinary reply."""
    conn = new_conn(xclient=True)
    drive(conn, b"EHLO c\r\n")
    conn.receive_data(b"XCLIENT NAME=a\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError, match=r"4\.2"):
        conn.send(Reply(220, "Welcome"))


def test_2_3_8_bare_lf_line_names_only_its_verb() -> None:
    """RFC 5321 2.3.8: a bare LF is not a line end; the refused line's verb is
    what precedes it, without the LF and what follows."""
    _, events, _ = session(b"NOOP\nRSET\r\n")
    assert isinstance(events[0], RejectedCommand) and events[0].verb == "NOOP"
