"""smtpstate.testing.strategies generates what it claims: checked against the
engine (paths accepted or refused, commands parsed or refused, bodies that
round-trip) and against the promises of each strategy."""

from __future__ import annotations

import doctest
import re
from collections.abc import Callable
from typing import Literal

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from smtpstate import (
    NEED_DATA,
    PAUSED,
    Command,
    ConnectionClosed,
    DataStart,
    EndOfMessage,
    Event,
    Extensions,
    Mail,
    MessageData,
    Recipient,
    Refusal,
    RejectedCommand,
    RemoteProtocolError,
    Reply,
    ServerConnection,
    UnknownCommand,
)
from smtpstate.testing import strategies
from smtpstate.testing.strategies import (
    GeneratedPath,
    bodies,
    client_sessions,
    commands,
    data_octets,
    dot_stuff,
    paths,
    splits,
)

from ..helpers import body_of, default_answer, drive, new_conn

UTF8 = Extensions(smtputf8=True)
EVERYTHING = Extensions(
    size=10**6,
    smtputf8=True,
    help=True,
    expn=True,
    starttls=True,
    auth=("PLAIN", "LOGIN", "CRAM-MD5"),
    auth_without_tls=True,
    chunking=True,
    binarymime=True,
    dsn=True,
    requiretls=True,
    mt_priority=True,
)
# Refusals for what a line says, not for when it is said.
SYNTAX_REFUSALS = {
    Refusal.SYNTAX,
    Refusal.LINE_TOO_LONG,
    Refusal.BAD_LINE_ENDING,
    Refusal.INVALID_UTF8,
    Refusal.INVALID_PARAMETER,
    Refusal.UNKNOWN_PARAMETER,
}


# -- driving the engine ---------------------------------------------------------------


def last_command(events: list[Event]) -> Event:
    return [e for e in events if not isinstance(e, MessageData)][-1]


def mail_line(path: GeneratedPath, smtputf8: bool) -> bytes:
    return b"MAIL FROM:" + path.octets + (b" SMTPUTF8" if smtputf8 else b"") + b"\r\n"


# -- paths ----------------------------------------------------------------------------


@given(st.sampled_from([None, True, False]), st.sampled_from([None, True, False]), st.data())
def test_paths_keep_the_filters(valid: bool | None, utf8: bool | None, data: st.DataObject) -> None:
    role: Literal["forward", "reverse"] = data.draw(st.sampled_from(["forward", "reverse"]))
    path = data.draw(paths(valid=valid, utf8=utf8, role=role))
    assert valid is None or path.valid is valid
    assert utf8 is None or path.utf8 is utf8
    assert path.utf8 is not path.text.isascii()
    assert path.valid is (path.flaw == "")
    assert path.octets == path.text.encode()


@given(paths(valid=True, role="reverse"))
def test_4_1_2_valid_reverse_paths_are_accepted_by_mail(path: GeneratedPath) -> None:
    """RFC 5321 4.1.2: Reverse-path = Path / "<>"; RFC 6531 3.3 with SMTPUTF8."""
    conn = new_conn(extensions=UTF8)
    events, _ = drive(conn, b"EHLO client.example\r\n" + mail_line(path, path.utf8))
    mail = last_command(events)
    assert isinstance(mail, Mail), (path, mail)
    if path.text == "<>":
        assert mail.reverse_path is None
    else:
        assert mail.reverse_path is not None and mail.reverse_path.text == path.text[1:-1]


@given(paths(valid=True, role="forward"))
def test_4_1_2_valid_forward_paths_are_accepted_by_rcpt(path: GeneratedPath) -> None:
    """RFC 5321 4.1.2: Forward-path = Path; 4.1.1.3: <Postmaster> without a domain."""
    conn = new_conn(extensions=UTF8)
    lines = b"EHLO client.example\r\nMAIL FROM:<> SMTPUTF8\r\nRCPT TO:" + path.octets + b"\r\n"
    events, _ = drive(conn, lines)
    recipient = last_command(events)
    assert isinstance(recipient, Recipient), (path, recipient)
    assert recipient.forward_path.text == path.text[1:-1]


@given(st.sampled_from(["reverse", "forward"]), st.data())
def test_4_1_2_invalid_paths_are_refused(
    role: Literal["reverse", "forward"], data: st.DataObject
) -> None:
    """RFC 5321 4.1.2, 4.1.3 and 4.5.3.1.1-3: a path that breaks the grammar or
    a length limit is refused with 501 (500 for a bare CR or LF, 2.3.8)."""
    path = data.draw(paths(valid=False, role=role))
    lines = b"EHLO client.example\r\n"
    if role == "reverse":
        lines += b"MAIL FROM:" + path.octets + b" SMTPUTF8\r\n"
    else:
        lines += b"MAIL FROM:<> SMTPUTF8\r\nRCPT TO:" + path.octets + b"\r\n"
    events, _ = drive(new_conn(extensions=UTF8), lines)
    refused = last_command(events)
    assert isinstance(refused, RejectedCommand), (path, refused)
    assert refused.reply.code == (500 if path.flaw == "bare CR or LF" else 501), (path, refused)


@given(paths(valid=True, utf8=True), st.sampled_from(["reverse", "forward"]))
def test_rfc6531_3_5_utf8_paths_need_smtputf8(path: GeneratedPath, role: str) -> None:
    """RFC 6531 3.5: a non-ASCII path without SMTPUTF8 is refused (550/553 5.6.7)."""
    assert not path.acceptable(smtputf8=False)
    conn = new_conn(extensions=UTF8)
    if role == "reverse":
        lines = b"EHLO client.example\r\nMAIL FROM:" + path.octets + b"\r\n"
    else:
        lines = b"EHLO client.example\r\nMAIL FROM:<>\r\nRCPT TO:" + path.octets + b"\r\n"
    events, _ = drive(conn, lines)
    refused = last_command(events)
    assert isinstance(refused, RejectedCommand) and refused.refusal is Refusal.NEEDS_SMTPUTF8


def test_paths_reach_the_edges() -> None:
    """The generator finds the limits and the special paths, not only easy ones."""
    find(paths(valid=True, role="reverse"), lambda p: p.text == "<>")
    find(paths(valid=True), lambda p: p.text.lower() == "<postmaster>")
    find(paths(valid=True, utf8=False), lambda p: len(p.text) == 256)
    find(paths(valid=True), lambda p: p.text.startswith('<"'))
    find(paths(valid=True), lambda p: "[IPv6:" in p.text or "[ipv6:" in p.text.lower())
    find(paths(valid=True), lambda p: p.text.startswith("<@"))
    find(paths(valid=False, utf8=True), lambda p: p.flaw == "local part over 64 octets")


# Two address-literal rules of RFC 5321 4.1.3 that paths() found the engine breaking.


def test_4_1_3_engine_accepts_ipv6_literal_with_ipv4_leading_zero() -> None:
    """RFC 5321 4.1.3: IPv6v4-comp ends in IPv4-address-literal, whose Snum is
    1*3DIGIT, so "001" is valid (and the engine takes [001.2.3.4] as IPv4)."""
    conn = new_conn()
    events, _ = drive(conn, b"EHLO c.example\r\nMAIL FROM:<a@[IPv6:::ffff:001.2.3.4]>\r\n")
    assert isinstance(last_command(events), Mail)


@pytest.mark.parametrize("literal", strategies._ONE_GROUP_COMPRESSIONS)
def test_4_1_3_engine_refuses_ipv6_literal_with_one_group_compression(literal: str) -> None:
    """RFC 5321 4.1.3: in IPv6-comp "::" represents at least 2 groups (at most 6
    groups besides it; at most 4 in IPv6v4-comp)."""
    conn = new_conn()
    events, _ = drive(conn, b"EHLO c.example\r\nMAIL FROM:<a@" + literal.encode() + b">\r\n")
    assert isinstance(last_command(events), RejectedCommand)


def test_paths_checks_its_role() -> None:
    with pytest.raises(ValueError):
        paths(role="sideways")  # type: ignore[arg-type]


# -- commands -------------------------------------------------------------------------


def prefix_for(verb: bytes) -> bytes:
    """The lines that put a session where ``verb`` is in sequence."""
    prefix = b"EHLO client.example\r\n"
    if verb in (b"RCPT", b"DATA", b"BDAT"):
        prefix += b"MAIL FROM:<> SMTPUTF8\r\n"
    if verb in (b"DATA", b"BDAT"):
        prefix += b"RCPT TO:<b@example.net>\r\n"
    return prefix


def answer_to_line(line: bytes, **options: object) -> Event:
    verb = re.split(rb"[ \r\n]", line, maxsplit=1)[0].upper()
    conn = new_conn(extensions=EVERYTHING, **options)
    drive(conn, prefix_for(verb))
    # A BDAT's octets follow it; a count too long to send is one the engine refuses.
    chunk = re.fullmatch(rb"BDAT (\d{1,7})( LAST)?\r\n", line, re.IGNORECASE)
    events, _ = drive(conn, line + (b"x" * int(chunk[1]) if chunk else b""))
    commands = [e for e in events if isinstance(e, Command)]
    assert len(commands) == 1, (line, events)
    return commands[0]


@given(commands())
def test_commands_are_one_line_each(line: bytes) -> None:
    """RFC 5321 2.3.8: a command line ends with CRLF, and these have only that one."""
    assert line.endswith(b"\r\n") and line.count(b"\r\n") == 1


@given(commands(malformed=False, extensions=EVERYTHING, verbs=strategies.KNOWN_VERBS))
def test_well_formed_commands_pass_the_syntax_checks(line: bytes) -> None:
    """RFC 5321 4.1.1 and 4.1.2: a well-formed line is never refused for its
    syntax (it may be for its place in the session). Under TLS, so that
    REQUIRETLS (RFC 8689) is valid."""
    event = answer_to_line(line, implicit_tls=True)
    assert not isinstance(event, UnknownCommand), (line, event)
    if isinstance(event, RejectedCommand):
        assert event.refusal not in SYNTAX_REFUSALS, (line, event)


@given(commands(malformed=False, verbs=strategies.UNKNOWN_VERBS))
def test_unknown_verbs_are_unknown(line: bytes) -> None:
    """RFC 5321 4.2.4: a command not recognized gets 500."""
    event = answer_to_line(line)
    assert isinstance(event, UnknownCommand) and event.reply.code == 500


@given(commands(malformed=True))
def test_malformed_commands_are_refused_for_their_syntax(line: bytes) -> None:
    """RFC 5321 4.1.1, 4.1.2, 4.5.3.1.4 (512 octets), 2.3.8 (bare CR/LF): a
    malformed line is refused (500/501/555) where its verb is in sequence."""
    event = answer_to_line(line)
    assert isinstance(event, RejectedCommand), (line, event)
    assert event.refusal in SYNTAX_REFUSALS, (line, event)
    assert event.reply.code in (500, 501, 555)


def test_commands_check_their_verbs() -> None:
    with pytest.raises(ValueError):
        commands(verbs=[])


# -- bodies ---------------------------------------------------------------------------


def deliver(body: bytes, **options: object) -> tuple[bytes, EndOfMessage]:
    """``body`` sent after DATA, as a client sends it: the content delivered
    and the end of the message."""
    conn = new_conn(**options)
    transaction = b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    events, _ = drive(conn, transaction)
    assert isinstance(events[-1], DataStart)
    events, _ = drive(conn, data_octets(body))
    end = events[-1]
    assert isinstance(end, EndOfMessage)
    return body_of(events), end


def as_received(body: bytes) -> bytes:
    return body if not body or body.endswith(b"\r\n") else body + b"\r\n"


@given(bodies())
def test_4_5_2_clean_bodies_round_trip(body: bytes) -> None:
    """RFC 5321 4.5.2: the client stuffs, the server unstuffs; a clean body
    arrives as it was and breaks no rule of the server."""
    delivered, end = deliver(body)
    assert delivered == body
    assert end.acceptable and end.size == len(body)


@given(bodies(eight_bit=False))
def test_clean_bodies_are_clean(body: bytes) -> None:
    """RFC 5321 2.3.8 and 4.5.3.1.6: CRLF line ends, at most 1000 octets a line."""
    assert body.isascii() and b"\0" not in body
    assert body == b"" or body.endswith(b"\r\n")
    lines = body.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line and len(line) <= 998 for line in lines)


@given(bodies(hostile=True))
def test_hostile_bodies_round_trip_under_the_pass_policies(body: bytes) -> None:
    """Under the "pass" policies the server delivers what was sent, whatever it is."""
    delivered, _ = deliver(body, bad_line_endings="pass", long_lines="pass")
    assert delivered == as_received(body)


_BAD_ENDING = re.compile(b"\r(?!\n)|(?<!\r)\n|\x00")


@given(bodies(hostile=True))
def test_2_3_8_hostile_bodies_are_flagged_for_what_they_hold(body: bytes) -> None:
    """RFC 5321 2.3.8 (bare CR/LF), 4.5.3.1.6 (1000 octets a line): the flags
    on the end of the message match what the body holds."""
    received = as_received(body)
    _, end = deliver(body)
    assert end.bad_line_endings is bool(_BAD_ENDING.search(received))
    assert end.long_lines is any(len(piece) >= 1000 for piece in received.split(b"\n"))


def test_bodies_reach_the_edges() -> None:
    find(bodies(), lambda b: b.startswith(b".") or b"\r\n." in b)
    find(bodies(), lambda b: b"\r\n.\r\n" in b"\r\n" + b)  # a line of just "."
    find(bodies(hostile=True), lambda b: b != b"" and not b.endswith(b"\r\n"))
    find(bodies(hostile=True), lambda b: b"\0" in b)


@given(bodies(hostile=True))
def test_4_1_1_4_data_octets_end_once(body: bytes) -> None:
    """RFC 5321 4.1.1.4: after stuffing, CRLF "." CRLF appears only at the end."""
    octets = data_octets(body)
    assert (b"\r\n" + octets).find(b"\r\n.\r\n") == len(octets) - 3
    assert dot_stuff(body).replace(b"\r\n..", b"\r\n.").removeprefix(b".") == body or (
        not body.startswith(b".")
    )


def test_dot_stuff_examples() -> None:
    assert dot_stuff(b".a\r\n..b\r\nc.\r\n") == b"..a\r\n...b\r\nc.\r\n"
    assert dot_stuff(b"a\n.b") == b"a\n.b"  # only CRLF ends a line
    assert data_octets(b"no end") == b"no end\r\n.\r\n"


def test_bodies_check_max_lines() -> None:
    with pytest.raises(ValueError):
        bodies(max_lines=-1)


# -- splits ---------------------------------------------------------------------------


@given(st.binary(max_size=300), st.data())
def test_splits_join_back(data: bytes, draw: st.DataObject) -> None:
    chunks = draw.draw(splits(data))
    assert b"".join(chunks) == data
    assert all(chunks)  # b"" would be EOF


def test_splits_cut_where_it_matters() -> None:
    data = b"MAIL FROM:<a@b.example>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\n"
    find(splits(data), lambda chunks: any(c.endswith(b"\r") for c in chunks[:-1]))
    for inside in (b"\r\n.", b"\r\n.\r"):
        find(splits(data), lambda chunks, end=inside: any(c.endswith(end) for c in chunks))
    find(splits(data), lambda chunks: len(chunks) == len(data))
    assert find(splits(data), lambda chunks: True) == [data]  # shrinks to all at once


# -- client sessions -------------------------------------------------------------------


def accept(conn: ServerConnection, event: Event) -> Reply:
    reply = default_answer(event)
    return conn.default_reply() if reply is None else reply


def play(
    conn: ServerConnection,
    writes: list[bytes],
    data: st.DataObject,
    answer: Callable[[ServerConnection, Event], Reply] = accept,
) -> tuple[list[Event], list[int]]:
    """Feed each write (cut by splits()) and answer every command; returns
    the events and the number of replies each write got, until the session
    ends. Only the engine's documented errors may escape."""
    events: list[Event] = []
    replies: list[int] = []
    for write in writes:
        count = 0
        for chunk in data.draw(splits(write)):
            conn.receive_data(chunk)
            while (event := conn.next_event()) is not NEED_DATA:
                assert event is not PAUSED and isinstance(event, Event)
                if isinstance(event, ConnectionClosed):
                    return events, [*replies, count]
                events.append(event)
                if isinstance(event, Command):
                    conn.send(answer(conn, event))
                    count += 1
        replies.append(count)
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)
    return events, replies


SESSION_EXTENSIONS = [
    Extensions(),
    Extensions(pipelining=False),
    Extensions(size=100_000, smtputf8=True, chunking=True, binarymime=True, help=True),
]


@given(st.sampled_from(SESSION_EXTENSIONS), st.data())
def test_sessions_get_replies_for_every_write(extensions: Extensions, data: st.DataObject) -> None:
    """Each write of a session, mistakes and all, gets at least one reply until
    the session ends; nothing but RemoteProtocolError (the error budget, RFC
    5321 4.5.3.2 aside) escapes."""
    writes = data.draw(client_sessions(extensions=extensions))
    assert writes and all(writes)
    conn = new_conn(extensions=extensions)
    try:
        _, replies = play(conn, writes, data)
    except RemoteProtocolError as error:
        conn.send(error.reply)
        return
    assert all(count >= 1 for count in replies), (writes, replies)


@given(st.sampled_from(SESSION_EXTENSIONS), st.data())
def test_2920_sessions_without_mistakes_are_never_refused(
    extensions: Extensions, data: st.DataObject
) -> None:
    """RFC 2920 3.1: a careful client pipelines only where it may, so a server
    with strict pipelining that accepts everything refuses nothing, and every
    transaction ends with an accepted message."""
    writes = data.draw(client_sessions(extensions=extensions, mistakes=False))
    conn = new_conn(extensions=extensions, strict_pipelining=True)
    events, _ = play(conn, writes, data)
    refusals = [e for e in events if isinstance(e, (RejectedCommand, UnknownCommand))]
    assert refusals == [], writes
    ends = [e for e in events if isinstance(e, EndOfMessage)]
    assert all(end.acceptable for end in ends)
    assert len(ends) == len([e for e in events if isinstance(e, Mail)])


def test_sessions_pipeline_only_when_asked() -> None:
    def commands_in(write: bytes) -> int:
        return write.count(b"\r\n")

    find(
        client_sessions(pipelining=True, mistakes=False, message_bodies=st.just(b"")),
        lambda writes: any(w.startswith(b"MAIL") and b"\r\nRCPT" in w for w in writes),
    )
    sessions = client_sessions(pipelining=False, mistakes=False, message_bodies=st.just(b""))

    @given(sessions)
    def one_command_a_write(writes: list[bytes]) -> None:
        assert all(commands_in(w) == 1 or w == b".\r\n" for w in writes), writes

    one_command_a_write()


def sends_ahead(writes: list[bytes]) -> bool:
    """A write where a command that ends a group (RFC 2920 3.1) has more after it."""
    enders = (b"EHLO", b"HELO", b"DATA", b"NOOP", b"VRFY", b"QUIT")
    for write in writes:
        for line in write.split(b"\r\n")[:-2]:  # all but the write's last line
            if line.split(b" ")[0].upper() in enders:
                return True
    return False


def test_sessions_have_mistakes_when_asked() -> None:
    find(
        client_sessions(mistakes=True),
        lambda writes: not writes[0].upper().startswith((b"EHLO", b"HELO")),
    )
    ahead = find(client_sessions(mistakes=True, pipelining=True), sends_ahead)
    conn = new_conn(strict_pipelining=True)
    with pytest.raises(RemoteProtocolError):
        drive(conn, ahead)


def test_client_sessions_check_limits() -> None:
    with pytest.raises(ValueError):
        client_sessions(max_recipients=0)


# -- the examples in the docstrings ----------------------------------------------------


def test_docstring_examples_run() -> None:
    results = doctest.testmod(strategies)
    assert results.attempted >= 10 and results.failed == 0
