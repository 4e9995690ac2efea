"""The DATA body decoder (_data), alone and against a byte-by-byte reference."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpstate import RemoteProtocolError, _data
from smtpstate._data import (
    _BAD_LINE_ENDING,
    _MAX_WALKED_DOTS,
    END,
    DataReader,
    _find_end,
    _has_bad_line_ending,
)
from smtpstate._receivebuffer import ReceiveBuffer


def reader(**kw: object) -> DataReader:
    options: dict[str, object] = {
        "max_size": 0,
        "max_line": 1000,
        "bad_line_endings": "reject",
        "long_lines": "reject",
    }
    options.update(kw)
    return DataReader(**options)  # type: ignore[arg-type]


def decode(chunks: list[bytes], r: DataReader | None = None) -> tuple[bytes, bool, bytes]:
    """Feed chunks; return (body, ended, leftover)."""
    r = r or reader()
    buf = ReceiveBuffer()
    body = b""
    for n, chunk in enumerate(chunks):
        buf.append(chunk)
        while True:
            piece = r.read(buf)
            if piece is None:
                break
            if piece is END:
                assert r.read(buf) is END  # stays ended
                return body, True, bytes(buf) + b"".join(chunks[n + 1 :])
            body += piece
    return body, False, bytes(buf)


def reference(wire: bytes, max_line: int = 1000) -> tuple[bytes, bool, bool, bytes] | None:
    """The body a slow, obviously right decoder finds in ``wire`` (what follows
    "DATA" CRLF): (body, bad line endings, long lines, leftover), None if no end."""
    stream = b"\r\n" + wire
    end = stream.find(b"\r\n.\r\n")
    if end < 0:
        return None
    lines = stream[2 : end + 2].split(b"\r\n")
    body = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    crlf = body.count(b"\r\n")
    bad = body.count(b"\r") != crlf or body.count(b"\n") != crlf or b"\0" in body
    long = any(len(line) >= max_line for line in body.split(b"\n"))
    return body, bad, long, stream[end + 5 :]


def test_empty_body() -> None:
    assert decode([b".\r\nNOOP\r\n"]) == (b"", True, b"NOOP\r\n")


def test_dot_unstuffing_and_terminator() -> None:
    body, ended, rest = decode([b"..a\r\n.b\r\nc.\r\n..\r\n.\r\nQUIT\r\n"])
    assert (body, ended, rest) == (b".a\r\nb\r\nc.\r\n.\r\n", True, b"QUIT\r\n")


def test_byte_by_byte() -> None:
    wire = b"..a\r\n\r\n.\r\n"
    assert decode([bytes([b]) for b in wire]) == (b".a\r\n\r\n", True, b"")


@pytest.mark.parametrize("sneaky", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r"])
def test_only_crlf_dot_crlf_ends(sneaky: bytes) -> None:
    r = reader(bad_line_endings="pass")
    body, ended, _ = decode([b"a" + sneaky + b"MAIL FROM:<x@y>\r\n"], r)
    assert not ended
    assert b"MAIL" in body


def test_flags_and_size() -> None:
    r = reader(max_size=3)
    assert decode([b"abcd\r\n.\r\n"], r)[0] == b"abc"  # delivery stops at the limit
    event = r.end_event()
    assert event.oversized and event.reply is not None and event.reply.code == 552
    assert event.size == 6 and not event.acceptable

    r = reader()
    decode([b"a\nb\r\n.\r\n"], r)
    assert r.end_event().bad_line_endings and r.end_event().reply.code == 550  # type: ignore[union-attr]

    r = reader(max_line=1000)
    decode([b"x" * 999 + b"\r\n.\r\n"], r)
    assert r.end_event().long_lines and r.end_event().reply.code == 500  # type: ignore[union-attr]

    r = reader()
    decode([b"ok\r\n.\r\n"], r)
    assert r.end_event().acceptable


def test_delivery_stops_before_the_first_fault_however_cut() -> None:
    """Under "reject", what was delivered before the fault does not depend on
    how the bytes arrived: it stops just before the first faulty octet."""
    cases = [
        (reader(), b"ok\r\nab\ncd\r\n.\r\n", b"ok\r\nab"),
        (reader(), b"ok\r\n..\r\r\n.\r\n", b"ok\r\n."),
        (reader(), b"\0\r\n.\r\n", b""),
        (reader(max_size=5), b"ok\r\nabcdef\r\n.\r\n", b"ok\r\na"),
        (reader(max_line=10), b"ok\r\n" + b"x" * 20 + b"\r\n.\r\n", b"ok\r\n" + b"x" * 9),
    ]
    for template, wire, delivered in cases:
        for size in (1, 2, 3, 7, len(wire)):
            r = reader(
                max_size=template._max_size,
                max_line=template._max_line,
            )
            chunks = [wire[i : i + size] for i in range(0, len(wire), size)]
            body, ended, _ = decode(chunks, r)
            assert ended and body == delivered, (wire, size)
            assert r.end_event().reply is not None


def test_close_policy_raises() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode([b"a\x00b\r\n.\r\n"], reader(bad_line_endings="close"))
    assert info.value.reply.code == 421


def test_long_line_not_counting_the_stuffed_dot() -> None:
    """RFC 5321 4.5.3.1.6: 1000 octets with CRLF, not counting a stuffing dot."""
    r = reader()
    assert decode([b".." + b"x" * 997 + b"\r\n.\r\n"], r)[1]
    assert not r.end_event().long_lines


def test_long_line_counted_across_segments() -> None:
    r = reader()
    decode([b"x" * 500, b"y" * 499 + b"\r\n" + b"z" * 2500 + b"\r\n.\r\n"], r)
    assert r.end_event().long_lines
    r = reader()
    decode([b"ok\r\n" + b"x" * 998 + b"\r\n" + b"y" * 998, b"\r\n.\r\n"], r)
    assert not r.end_event().long_lines
    # An open line is held back until its CRLF, up to 4096 octets: a long one is
    # flagged when it ends or once it passes that hold limit.
    r, buf = reader(), ReceiveBuffer()
    buf.append(b"ok\r\n" + b"x" * 1500)
    assert r.read(buf) == b"ok\r\n" and r.read(buf) is None
    assert not r.long_lines
    buf.append(b"\r\n")
    r.read(buf)
    assert r.long_lines
    r = reader()
    decode([b"ok\r\n" + b"x" * 5000], r)
    assert r.long_lines


def test_long_line_window_hops() -> None:
    short = (b"s" * 100 + b"\r\n") * 30
    r = reader()
    decode([b"x\r\n" + short + b"y" * 1200 + b"\r\n" + short + b".\r\n"], r)
    assert r.end_event().long_lines
    r = reader()
    decode([b"x\r\n" + short + b"y" * 2500, b"\r\n.\r\n"], r)
    assert r.end_event().long_lines
    r = reader()
    decode([b"x\r\n" + short + short + b".\r\n"], r)
    assert not r.end_event().long_lines


wire_bytes = st.lists(
    st.sampled_from([b"\r\n", b".", b"\r", b"\n", b"a", b"\0", b"..", b"\r\n.", b"x" * 40]),
    max_size=60,
).map(b"".join)


@given(
    wire_bytes,
    st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=40),
    st.integers(min_value=4, max_value=60),
)
def test_differential_against_reference(wire: bytes, sizes: list[int], max_line: int) -> None:
    wire += b"\r\n.\r\nNEXT"
    expected = reference(wire, max_line)
    assert expected is not None
    chunks, i = [], 0
    while i < len(wire):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(wire[i : i + size])
        i += size
    r = reader(max_line=max_line, bad_line_endings="pass", long_lines="pass")
    body, ended, rest = decode(chunks, r)
    assert ended
    assert body == expected[0]
    assert rest == expected[3]
    assert r.size == len(expected[0])

    r = reader(max_line=max_line)
    decode(chunks, r)
    assert r.bad_line_endings == expected[1]
    assert r.long_lines == expected[2]


def test_open_line_past_the_hold_limit_is_delivered_but_not_a_partial_terminator() -> None:
    """An open line is held for its CRLF only up to 4096 octets: past that it is
    delivered as it comes, still never with a CR that may start CRLF.CRLF."""
    r, buf = reader(long_lines="pass"), ReceiveBuffer()
    buf.append(b"x" * 5000 + b"\r")
    assert r.read(buf) == b"x" * 5000
    buf.append(b"\n.\r\n")
    assert r.read(buf) == b"\r\n" and r.read(buf) is END


def test_long_line_without_lf_across_held_segments() -> None:
    """RFC 5321 4.5.3.1.6: a line grows across reads with no LF in a segment;
    it is still counted against the limit."""
    r, buf = reader(), ReceiveBuffer()
    buf.append(b"x" * 5000)
    assert r.read(buf) == b"x" * 999  # delivery stops before the octet over the limit
    buf.append(b"y" * 5000)
    assert r.read(buf) == b"" and r.long_lines


@given(
    st.one_of(
        st.lists(
            st.sampled_from([b"\r\n", b"\r", b"\n", b"\n\r", b"\r\r", b"\0", b"a", b"."]),
            max_size=30,
        ).map(b"".join),
        st.binary(max_size=64),
    )
)
def test_2_3_8_bad_line_ending_check_agrees_with_the_pattern(segment: bytes) -> None:
    """RFC 5321 2.3.8: the fast check (delete every CR, write every LF as
    CRLF, compare) finds a fault exactly when the regular expression that
    locates the first bare CR, bare LF or NUL finds one."""
    assert _has_bad_line_ending(segment) == (_BAD_LINE_ENDING.search(segment) is not None)


# -- the dot walk (_find_end, _unstuffed) and its fallback ----------------------

dotted_wire = st.lists(
    st.sampled_from([b"\r\n.", b"\r\n..", b"\r\n.\r", b"a", b"\r\n", b".", b"\r", b"\n", b"\0"]),
    max_size=200,
).map(b"".join)


@given(dotted_wire)
def test_4_1_1_4_the_dot_walk_finds_the_end_a_search_for_crlf_dot_crlf_finds(wire: bytes) -> None:
    """RFC 5321 4.1.1.4: the body ends at the first CRLF "." CRLF. Walking
    from one CRLF "." to the next finds the same place as searching for the
    whole terminator, and lists every CRLF "." before it (the stuffed dots)."""
    end, dots = _find_end(bytearray(wire))
    assert end == wire.find(b"\r\n.\r\n")
    stop = len(wire) if end < 0 else end
    every = [at for at in range(stop) if wire.startswith(b"\r\n.", at)]
    assert dots == (every if len(every) <= _MAX_WALKED_DOTS else None)


def pieces_of(chunks: list[bytes], r: DataReader) -> tuple[list[bytes], bool, bytes]:
    """Every piece ``read`` returns (not joined), whether the body ended, and the rest."""
    buf, pieces = ReceiveBuffer(), []
    for n, chunk in enumerate(chunks):
        buf.append(chunk)
        while (piece := r.read(buf)) is not None:
            if piece is END:
                return pieces, True, bytes(buf) + b"".join(chunks[n + 1 :])
            pieces.append(piece)
    return pieces, False, bytes(buf)


@given(
    dotted_wire,
    st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=20),
    st.sampled_from(["reject", "pass"]),
)
def test_4_5_2_dot_walk_and_its_fallback_give_the_same_pieces_however_cut(
    wire: bytes, sizes: list[int], policy: str
) -> None:
    """RFC 5321 4.5.2 (transparency), 4.1.1.4 (end of data), 4.5.3.1.6 (line
    length), SMTP smuggling: the walk over the stuffed dots and the fallback
    (one search for the end, one split/join) deliver the same pieces, the same
    flags and the same rest, for the same bytes cut the same way; and both
    agree with the byte-by-byte reference."""
    wire += b"\r\n.\r\nNEXT"
    chunks, i = [], 0
    while i < len(wire):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(wire[i : i + size])
        i += size
    results = []
    for most in (_MAX_WALKED_DOTS, 0, 10**9):  # as shipped, always, never falling back
        r = reader(max_line=40, bad_line_endings=policy, long_lines=policy)
        with mock.patch.object(_data, "_MAX_WALKED_DOTS", most):
            pieces, ended, rest = pieces_of(chunks, r)
        results.append((pieces, ended, rest, r.size, r.bad_line_endings, r.long_lines))
    assert results[0] == results[1] == results[2]
    expected = reference(wire, max_line=40)
    assert expected is not None
    pieces, ended, rest, size, bad, long = results[0]
    assert ended and rest == expected[3] and size == len(expected[0])
    assert (bad, long) == ((expected[1], expected[2]) if policy == "reject" else (False, False))
    if policy == "pass":
        assert b"".join(pieces) == expected[0]


def test_4_5_2_a_read_with_many_stuffed_dots_is_unstuffed_and_ended_by_the_fallback() -> None:
    """More stuffed dots in one read than the walk takes: the fallback still
    removes each of them, and a bare LF "." CRLF after them does not end the
    body (SMTP smuggling); only CRLF "." CRLF does."""
    many = b"..x\r\n" * (_MAX_WALKED_DOTS + 10)
    body, ended, rest = decode([b"a\r\n" + many + b"b\n.\r\nc\r\n.\r\nNEXT"], reader())
    assert ended and rest == b"NEXT"
    assert body == b"a\r\n" + b".x\r\n" * (_MAX_WALKED_DOTS + 10) + b"b"
