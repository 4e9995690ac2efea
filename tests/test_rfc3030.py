"""RFC 3030 (CHUNKING and BINARYMIME), one test per rule."""

from __future__ import annotations

import re

import pytest

from smtpstate import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Extensions,
    Hello,
    LocalProtocolError,
    MessageData,
    Noop,
    Recipient,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    State,
)

from .helpers import EHLO_MAIL, body_of, codes, default_answer, drive, new_conn, session

CHUNKING = Extensions(chunking=True)
BINARY = Extensions(chunking=True, binarymime=True)


def bdat(data: bytes, last: bool = False) -> bytes:
    return b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data


def chunk_events(events: list[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, (EndOfChunk, EndOfMessage))]


def test_2_chunking_is_advertised_only_when_enabled() -> None:
    """The EHLO keyword is CHUNKING, with no parameter; BINARYMIME is its own keyword."""
    assert re.search(rb"250[- ]CHUNKING\r\n", session(b"EHLO c\r\n", CHUNKING)[2])
    assert b"BINARYMIME" not in session(b"EHLO c\r\n", CHUNKING)[2]
    assert b"CHUNKING" not in session(b"EHLO c\r\n")[2]
    assert re.search(rb"250[- ]BINARYMIME\r\n", session(b"EHLO c\r\n", BINARY)[2])


def test_2_bdat_reads_exactly_the_octet_count() -> None:
    """The chunk is exactly chunk-size octets; what follows is the next command."""
    _, events, out = session(EHLO_MAIL + b"BDAT 5\r\nhelloNOOP\r\n", CHUNKING)
    assert body_of(events) == b"hello"
    assert isinstance(events[-2], EndOfChunk)
    assert events[-2].size == 5
    assert isinstance(events[-1], Noop)
    assert codes(out)[-2:] == [250, 250]


def test_2_chunk_octets_are_binary_and_delivered_unchanged() -> None:
    """No dot-stuffing and no end marker inside a chunk: CRLF.CRLF, bare LF, bare
    CR, NUL, leading dots and 8-bit octets are message data."""
    body = b"..a\r\n.\r\nb\nc\rd\x00\xff\r\n.\r\n"
    _, events, out = session(EHLO_MAIL + bdat(body, last=True), CHUNKING)
    assert body_of(events) == body
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    assert end.size == len(body)
    assert end.reply is None
    assert not end.bad_line_endings
    assert codes(out)[-1] == 250


def test_2_each_chunk_is_answered_in_order() -> None:
    """Every BDAT command gets its own reply, once its octets have been read."""
    wire = EHLO_MAIL + bdat(b"one ") + bdat(b"two ") + bdat(b"three", last=True)
    conn, events, out = session(wire, CHUNKING)
    kinds = [type(e) for e in chunk_events(events)]
    assert kinds == [EndOfChunk, EndOfChunk, EndOfMessage]
    assert codes(out) == [250, 250, 250, 250, 250, 250]
    assert body_of(events) == b"one two three"
    assert conn.state is State.READY


def test_2_chunk_reply_is_owed_only_after_its_octets() -> None:
    """The reply to BDAT comes after the whole chunk arrived (the command and its
    data are one unit)."""
    conn = new_conn(extensions=CHUNKING)
    drive(conn, EHLO_MAIL)
    conn.receive_data(b"BDAT 4\r\nab")
    first = conn.next_event()
    assert first == MessageData(data=b"ab")
    assert conn.next_event() is NEED_DATA
    assert conn.awaiting_reply is None
    conn.receive_data(b"cd")
    assert conn.next_event() == MessageData(data=b"cd")
    assert isinstance(conn.next_event(), EndOfChunk)
    assert conn.next_event() is PAUSED


def test_2_bdat_state_then_rset_clears_the_transaction() -> None:
    """Between chunks the transaction is open (IN_BDAT); RSET abandons it."""
    conn, _, _ = session(EHLO_MAIL + bdat(b"x"), CHUNKING)
    assert conn.state is State.IN_BDAT
    drive(conn, b"RSET\r\n")
    assert conn.state is State.READY
    _, out = drive(conn, b"MAIL FROM:<a@b.example>\r\n")
    assert codes(out) == [250]


@pytest.mark.parametrize(
    "before",
    [b"EHLO c\r\n", b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n", b""],
    ids=["no-mail", "no-rcpt", "no-ehlo"],
)
def test_2_bdat_without_recipient_is_503_and_its_octets_are_dropped(before: bytes) -> None:
    """BDAT needs a transaction with a recipient (503); the chunk octets that
    follow it are read and thrown away, never taken as commands."""
    _, events, out = session(before + b"BDAT 6\r\nQUIT\r\nNOOP\r\n", CHUNKING)
    rejected = [e for e in events if isinstance(e, RejectedCommand)]
    assert len(rejected) == 1
    assert rejected[0].reply.code == 503
    assert not any(isinstance(e, MessageData) for e in events)
    assert isinstance(events[-1], Noop)
    assert re.search(rb"503 5\.5\.1 ", out)


def test_2_bdat_after_last_is_503() -> None:
    """BDAT LAST ends the transaction: a further BDAT is out of sequence."""
    wire = EHLO_MAIL + bdat(b"x", last=True) + bdat(b"RSET\r\n")
    conn, events, out = session(wire, CHUNKING)
    assert codes(out)[-1] == 503
    assert isinstance(events[-1], RejectedCommand)
    assert conn.state is State.READY
    assert body_of(events) == b"x"


def test_2_data_after_bdat_is_503() -> None:
    """DATA and BDAT cannot be mixed in one transaction."""
    conn, events, out = session(EHLO_MAIL + bdat(b"x") + b"DATA\r\n", CHUNKING)
    assert codes(out)[-1] == 503
    assert isinstance(events[-1], RejectedCommand)
    assert "BDAT" in events[-1].reason
    assert conn.state is State.IN_BDAT


def refuse_bad(event: Event) -> Reply | None:
    """Refuses the recipients named ``bad``."""
    if isinstance(event, Recipient) and event.forward_path.local_part == "bad":
        return Reply(550, "No such user", "5.1.1")
    return default_answer(event)


def test_2_data_after_bdat_is_503_when_a_recipient_was_also_refused() -> None:
    """A refused RCPT beside an accepted one does not make DATA between chunks
    a "no valid recipients" 554 (RFC 5321 3.3): it is still out of sequence."""
    wire = EHLO_MAIL + b"RCPT TO:<bad@example.net>\r\n" + bdat(b"x") + b"DATA\r\n"
    conn, events, out = session(wire, CHUNKING, answer=refuse_bad)
    assert codes(out)[-3:] == [550, 250, 503]
    assert isinstance(events[-1], RejectedCommand)
    assert conn.state is State.IN_BDAT


def test_2_rcpt_after_bdat_is_503() -> None:
    """Recipients come before the first chunk."""
    _, _, out = session(EHLO_MAIL + bdat(b"x") + b"RCPT TO:<e@f.example>\r\n", CHUNKING)
    assert codes(out)[-1] == 503


def test_2_bdat_when_chunking_is_off_is_502_and_its_octets_are_dropped() -> None:
    """A server that did not advertise CHUNKING answers 502, but the octets still
    follow the command and must not be read as commands."""
    conn, events, out = session(EHLO_MAIL + b"BDAT 6\r\nQUIT\r\nNOOP\r\n")
    assert codes(out)[-2:] == [502, 250]
    assert re.search(rb"502 5\.5\.1 ", out)
    assert not any(isinstance(e, MessageData) for e in events)
    assert conn.state is State.HAS_RCPT


@pytest.mark.parametrize(
    "argument", [b"", b"x", b"-1", b"1 FIRST", b"1LAST", b"1 LAST x", b"1" * 21]
)
def test_2_bdat_syntax_error_is_501(argument: bytes) -> None:
    """bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ]; a size that cannot be
    read leaves no octet count, so nothing is skipped."""
    _, _, out = session(EHLO_MAIL + b"BDAT " + argument + b"\r\nNOOP\r\n", CHUNKING)
    assert codes(out)[-2:] == [501, 250]
    assert re.search(rb"501 5\.5\.4 ", out)


def test_2_bdat_verb_and_last_are_case_insensitive() -> None:
    """SMTP verbs and keywords are case-insensitive."""
    _, events, _ = session(EHLO_MAIL + b"bdat 2 last\r\nok", CHUNKING)
    assert isinstance(events[-1], EndOfMessage)
    assert body_of(events) == b"ok"


def test_2_bdat_zero_last_ends_the_message() -> None:
    """BDAT 0 LAST is the way to end a message whose chunks were all sent."""
    conn, events, out = session(EHLO_MAIL + bdat(b"abc") + b"BDAT 0 LAST\r\n", CHUNKING)
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    assert end.size == 3
    assert conn.state is State.READY
    assert codes(out)[-2:] == [250, 250]


def test_2_empty_chunk_is_answered() -> None:
    """BDAT 0 (not LAST) carries no octets but is still answered."""
    _, events, _ = session(EHLO_MAIL + b"BDAT 0\r\n", CHUNKING)
    assert events[-1] == EndOfChunk(size=0)


def test_2_size_limit_counts_all_chunks() -> None:
    """With SIZE, the chunk that takes the message past the limit gets 552 5.3.4;
    the octets past the limit are not delivered."""
    ext = Extensions(chunking=True, size=10)
    wire = EHLO_MAIL + bdat(b"123456") + bdat(b"789012") + bdat(b"345", last=True)
    conn, events, out = session(wire, ext)
    chunks = chunk_events(events)
    assert isinstance(chunks[0], EndOfChunk) and chunks[0].reply is None
    assert isinstance(chunks[1], EndOfChunk) and chunks[1].reply is not None
    assert chunks[1].reply.code == 552
    assert body_of(events) == b"1234567890"
    # The 552 ends the transaction: the pipelined BDAT LAST is refused.
    assert isinstance(events[-1], RejectedCommand)
    assert codes(out)[-3:] == [250, 552, 503]
    assert re.search(rb"552 5\.3\.4 ", out)
    assert conn.state is State.READY


def test_2_size_limit_on_the_last_chunk() -> None:
    """BDAT LAST over the limit: EndOfMessage is flagged oversized."""
    ext = Extensions(chunking=True, size=4)
    _, events, _ = session(EHLO_MAIL + bdat(b"12345", last=True), ext)
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    assert end.oversized
    assert end.size == 5
    assert body_of(events) == b"1234"


def test_2_chunk_after_the_limit_delivers_nothing() -> None:
    """Once the limit is reached, a further chunk is read but not delivered."""
    ext = Extensions(chunking=True, size=4)
    wire = EHLO_MAIL + bdat(b"1234") + bdat(b"567", last=True)
    _, events, out = session(wire, ext)
    assert body_of(events) == b"1234"
    end = events[-1]
    assert isinstance(end, EndOfMessage) and end.oversized and end.size == 7
    assert codes(out)[-2:] == [250, 552]


def test_2_oversized_chunk_cannot_be_accepted() -> None:
    """A 2xx to a chunk that broke the limit is an application bug."""
    conn = new_conn(extensions=Extensions(chunking=True, size=2))
    drive(conn, EHLO_MAIL)
    conn.receive_data(bdat(b"abc"))
    while not isinstance(conn.next_event(), EndOfChunk):
        pass
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "OK"))


def test_2_failed_chunk_ends_the_transaction_and_later_chunks_get_503() -> None:
    """A 4xx/5xx to a BDAT fails the whole transaction; chunks pipelined after it
    are read, discarded and answered 503."""

    def answer(event: Event) -> Reply:
        if isinstance(event, EndOfChunk):
            return Reply(451, "Try again later", "4.3.0")
        return default_answer(event)

    wire = EHLO_MAIL + bdat(b"NOOP\r\n") + bdat(b"QUIT\r\n") + bdat(b"RSET\r\n", last=True)
    conn, events, out = session(wire + b"NOOP\r\n", CHUNKING, answer)
    assert codes(out)[-4:] == [451, 503, 503, 250]
    assert body_of(events) == b"NOOP\r\n"
    assert conn.state is State.READY


def test_2_rejected_last_chunk_ends_the_transaction() -> None:
    """A 5xx to BDAT LAST also ends the transaction."""

    def answer(event: Event) -> Reply:
        if isinstance(event, EndOfMessage):
            return Reply(554, "No", "5.6.0")
        return default_answer(event)

    conn, _, out = session(EHLO_MAIL + bdat(b"x", last=True), CHUNKING, answer)
    assert codes(out)[-1] == 554
    assert conn.state is State.READY


def test_2_client_close_mid_chunk() -> None:
    """A close inside a chunk leaves an incomplete body: mid_body is set."""
    conn = new_conn(extensions=CHUNKING)
    events, _ = drive(conn, [EHLO_MAIL, b"BDAT 10\r\nabc"], eof=True)
    assert events[-1] == ConnectionClosed(mid_transaction=True, mid_body=True)
    assert conn.state is State.CLOSED


def test_2_client_close_between_chunks() -> None:
    """A close after an answered chunk is inside the transaction, not the body."""
    conn = new_conn(extensions=CHUNKING)
    events, _ = drive(conn, [EHLO_MAIL, bdat(b"abc")], eof=True)
    assert events[-1] == ConnectionClosed(mid_transaction=True, mid_body=False)


def test_2_client_close_inside_a_refused_chunk() -> None:
    """The octets of a refused BDAT are no message body."""
    conn = new_conn(extensions=CHUNKING)
    events, _ = drive(conn, [b"EHLO c\r\nBDAT 10\r\nabc"], eof=True)
    assert events[-1] == ConnectionClosed(mid_transaction=False, mid_body=False)


def test_2_server_421_mid_chunk_reports_a_cut_body() -> None:
    """An unsolicited 421 while chunk octets arrive cuts the body off."""
    conn = new_conn(extensions=CHUNKING)
    drive(conn, [EHLO_MAIL, b"BDAT 10\r\nabc"])
    conn.send(Reply(421, "Shutting down", "4.3.2"))
    assert conn.next_event() == ConnectionClosed(mid_transaction=True, mid_body=True)


def test_3_binarymime_needs_the_extension() -> None:
    """BODY=BINARYMIME is refused (501) unless BINARYMIME was advertised."""
    _, _, out = session(b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", CHUNKING)
    assert codes(out)[-1] == 501
    _, events, out = session(b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=binarymime\r\n", BINARY)
    assert codes(out)[-1] == 250
    assert getattr(events[-1], "body", None) == "BINARYMIME"


def test_3_binarymime_message_cannot_use_data() -> None:
    """A BINARYMIME message must be sent with BDAT: DATA gets 503."""
    head = b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<c@d.example>\r\n"
    conn, _, out = session(head + b"DATA\r\n", BINARY)
    assert codes(out)[-1] == 503
    assert re.search(rb"503 5\.5\.1 ", out)
    assert conn.state is State.HAS_RCPT
    _, _, out = session(head + bdat(b"\x00\xff", last=True), BINARY)
    assert codes(out)[-1] == 250


def test_3_binarymime_is_forgotten_after_the_transaction() -> None:
    """The next transaction without BODY=BINARYMIME may use DATA."""
    head = b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<c@d.example>\r\n"
    wire = head + bdat(b"x", last=True) + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
    _, events, out = session(wire, BINARY)
    assert isinstance(events[-1], DataStart)
    assert codes(out)[-1] == 354


def test_3_binarymime_requires_chunking() -> None:
    """BINARYMIME cannot be offered without CHUNKING."""
    with pytest.raises(ValueError, match="CHUNKING"):
        Extensions(binarymime=True)


def test_4_2_pipelined_example() -> None:
    """The pipelining example of 4.2: MAIL, RCPTs and several BDATs in one go,
    each answered in order."""
    wire = (
        b"EHLO c\r\nMAIL FROM:<Sam@Random.com> BODY=BINARYMIME\r\n"
        b"RCPT TO:<Susan@Random.com>\r\nRCPT TO:<Harry@Random.com>\r\n"
        + bdat(b"x" * 1000)
        + bdat(b"y" * 500, last=True)
        + b"QUIT\r\n"
    )
    conn, events, out = session(wire, BINARY)
    assert codes(out) == [250, 250, 250, 250, 250, 250, 221]
    assert body_of(events) == b"x" * 1000 + b"y" * 500
    assert conn.state is State.CLOSED


def test_2_bdat_replies_carry_enhanced_codes() -> None:
    """Every reply the engine suggests for BDAT carries an enhanced status code."""
    wire = b"EHLO c\r\nBDAT 1\r\nxBDAT z\r\n" + EHLO_MAIL + bdat(b"x") + b"DATA\r\n"
    _, _, out = session(wire, CHUNKING)
    for line in out.split(b"\r\n"):
        if line[:1] in (b"4", b"5"):
            assert re.match(rb"[45]\d\d [45]\.\d+\.\d+ ", line), line


def test_2_chunk_octets_are_not_input_sent_ahead() -> None:
    """The octets of a chunk are part of its BDAT command: under strict
    pipelining without PIPELINING they are not input sent ahead, but a command
    after them is."""
    ext = Extensions(chunking=True, pipelining=False)
    conn = new_conn(extensions=ext, strict_pipelining=True)
    for line in (b"EHLO c\r\n", b"MAIL FROM:<a@b.example>\r\n", b"RCPT TO:<c@d.example>\r\n"):
        drive(conn, line)
    events, _ = drive(conn, bdat(b"hello"))
    assert isinstance(events[-1], EndOfChunk)
    conn.receive_data(bdat(b"x", last=True) + b"NOOP\r\n")
    with pytest.raises(RemoteProtocolError):
        while True:
            conn.next_event()


def test_2_bdat_after_a_554_greeting_drops_its_octets() -> None:
    """A refused session answers 503 to BDAT, and the chunk octets still are no
    commands (RFC 5321 3.1: only QUIT)."""
    conn = new_conn(greet=False, extensions=CHUNKING)
    conn.send(Reply(554, "No service", "5.3.2"))
    _, out = drive(conn, b"BDAT 6\r\nQUIT\r\nBDAT x\r\nQUIT\r\n")
    assert codes(out) == [503, 503, 221]
    assert conn.state is State.CLOSED


def test_3_binarymime_without_8bitmime() -> None:
    """BODY is defined by BINARYMIME too: it works with 8BITMIME turned off,
    where BODY=8BITMIME is refused."""
    ext = Extensions(chunking=True, binarymime=True, eightbitmime=False)
    _, _, out = session(b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", ext)
    assert codes(out)[-1] == 250
    _, _, out = session(b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\n", ext)
    assert codes(out)[-1] == 501


def test_3_mail_line_may_be_16_octets_longer_with_binarymime() -> None:
    """Item 8: BODY=BINARYMIME adds up to 16 octets to the MAIL line."""
    assert BINARY.mail_line_allowance() == 16
    path = b"<" + b"a" * 64 + b"@" + b"b" * 63 + b"." + b"c" * 63 + b"." + b"d" * 61 + b">"
    line = b"MAIL FROM:" + path + b" " * (512 - 2 - 10 - len(path)) + b" BODY=BINARYMIME\r\n"
    assert len(line) == 512 + 16
    _, _, out = session(b"EHLO c\r\n" + line, BINARY)
    assert codes(out)[-1] == 250
    _, _, out = session(b"EHLO c\r\n" + line, CHUNKING)
    assert codes(out)[-1] == 500


# -- 2: the octets of a refused chunk are read and dropped, within a bound -----------


def test_2_refused_bdat_with_a_huge_count_ends_the_session() -> None:
    """CHUNKING off: the 502'd BDAT's octets are read and dropped, never parsed,
    but a count past the bound (no SIZE: 32 MiB) would swallow every later octet,
    QUIT included, until a timeout. The session ends at once instead: 552 5.3.4
    (RFC 1870 and RFC 5321 7.8: a server may close on abuse), not silence."""
    conn = new_conn()
    conn.receive_data(b"EHLO a.test\r\nBDAT 99999999999999999999 LAST\r\nNOOP\r\nQUIT\r\n")
    event = conn.next_event()
    assert isinstance(event, Hello)
    assert conn.send(Reply(250, "mx.example.org")).startswith(b"250-mx.example.org\r\n")
    with pytest.raises(RemoteProtocolError) as caught:
        conn.next_event()
    assert conn.state is State.ERROR
    assert conn.send(caught.value.reply) == (
        b"552 5.3.4 BDAT chunk too big to read, closing connection\r\n"
    )


@pytest.mark.parametrize(
    ("extensions", "before"),
    [
        (Extensions(), EHLO_MAIL),  # not advertised: 502
        (CHUNKING, b"EHLO c\r\n"),  # out of sequence: 503
        (Extensions(size=1000), EHLO_MAIL),  # not advertised, SIZE set
    ],
    ids=["502", "503", "502-size"],
)
def test_2_refused_bdat_with_a_small_count_is_dropped_and_the_session_goes_on(
    extensions: Extensions, before: bytes
) -> None:
    """Within the bound, a refused BDAT's octets that look like commands are read
    and dropped (never answered), and the session goes on."""
    payload = b"QUIT\r\nRSET\r\nDATA\r\n"
    conn, events, out = session(before + bdat(payload) + b"NOOP\r\n", extensions)
    rejected = [e for e in events if isinstance(e, RejectedCommand)]
    assert [e.verb for e in rejected] == ["BDAT"]
    assert rejected[0].reply.code in (502, 503)
    assert not any(isinstance(e, MessageData) for e in events)
    assert isinstance(events[-1], Noop)
    assert codes(out)[-2:] == [rejected[0].reply.code, 250]
    assert conn.state is not State.CLOSED


def _closes(extensions: Extensions, wire: bytes, **kw: object) -> bool:
    """Whether the engine ends the session with 552 5.3.4 on ``wire``."""
    conn = new_conn(extensions=extensions, **kw)
    try:
        drive(conn, wire)
    except RemoteProtocolError as error:
        assert error.reply == Reply(552, "BDAT chunk too big to read, closing connection", "5.3.4")
        return True
    return False


def test_2_refused_bdat_bound_without_size_is_32_mib() -> None:
    """Without SIZE a refused chunk of up to 32 MiB is read and dropped; one more
    octet ends the session before any is read."""
    limit = 32 * 1024 * 1024
    assert not _closes(Extensions(), EHLO_MAIL + b"BDAT %d\r\n" % limit)
    assert _closes(Extensions(), EHLO_MAIL + b"BDAT %d\r\n" % (limit + 1))


def test_2_refused_bdat_bound_with_size_is_the_size_limit() -> None:
    """With SIZE the bound is the SIZE limit, for every reason of refusal."""
    for ext, before in [
        (Extensions(size=10), EHLO_MAIL),
        (Extensions(size=10, chunking=True), b""),
    ]:
        assert not _closes(ext, before + b"BDAT 10\r\n")
        assert _closes(ext, before + b"BDAT 11\r\n")


def test_2_bdat_after_a_554_greeting_is_bounded() -> None:
    """RFC 5321 3.1: only QUIT after a 554 greeting; BDAT's octets are dropped
    within the bound, and a larger count ends the session."""
    conn = new_conn(greet=False, extensions=CHUNKING)
    conn.send(Reply(554, "No service", "5.3.2"))
    with pytest.raises(RemoteProtocolError):
        drive(conn, b"BDAT 99999999999999999999\r\nQUIT\r\n")


def test_2_chunk_pipelined_after_a_failed_one_is_bounded() -> None:
    """RFC 3030 2: chunks pipelined after a chunk the application refused are
    read, discarded and answered 503, within the same bound."""

    def answer(event: Event) -> Reply:
        if isinstance(event, EndOfChunk):
            return Reply(451, "Try again later", "4.3.0")
        return default_answer(event)

    ext = Extensions(chunking=True, size=100)
    conn = new_conn(extensions=ext)
    _, out = drive(conn, EHLO_MAIL + bdat(b"x") + bdat(b"y" * 100) + b"NOOP\r\n", answer)
    assert codes(out)[-3:] == [451, 503, 250]
    drive(conn, b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")  # a new one
    with pytest.raises(RemoteProtocolError):
        drive(conn, bdat(b"x") + b"BDAT 101 LAST\r\n", answer)


def test_2_accepted_chunk_discards_at_most_size_octets_past_the_limit() -> None:
    """An accepted chunk is delivered up to the SIZE limit and the rest read and
    dropped (RFC 1870 6.3); no more than SIZE octets may be dropped that way."""
    ext = Extensions(chunking=True, size=5)
    assert not _closes(ext, EHLO_MAIL + b"BDAT 10\r\n")  # 5 delivered, 5 dropped
    assert _closes(ext, EHLO_MAIL + b"BDAT 11\r\n")
    assert not _closes(ext, EHLO_MAIL + bdat(b"abc") + b"BDAT 7\r\n")  # 2 + 5
    assert _closes(ext, EHLO_MAIL + bdat(b"abc") + b"BDAT 8\r\n")
    assert _closes(Extensions(chunking=True, size=5), EHLO_MAIL + b"BDAT 99999999999999999999\r\n")


def test_2_accepted_chunk_without_size_is_not_bounded() -> None:
    """Without SIZE every octet of an accepted chunk is delivered as it arrives,
    so the application sees it and can close: the engine sets no bound."""
    assert not _closes(CHUNKING, EHLO_MAIL + b"BDAT 99999999999999999999 LAST\r\n")
