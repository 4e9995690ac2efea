"""The benchmark baseline (``benchmarks/baseline.py``) delivers the right bytes.

It is the floor of every benchmark ratio and the minimal sink of the E2E
benchmark, so its shortcuts (each read used as it came, at most four octets
kept between reads) must not change what it delivers: for any body and any
cuts of the stream, the pieces join to the dot-unstuffed body (RFC 5321 4.5.2)
and the body ends at the first CRLF "." CRLF (RFC 5321 4.1.1.4). It checks
nothing else, so bare CR and LF pass through."""

from __future__ import annotations

import itertools
import os
import sys

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))

from baseline import MESSAGE_ACCEPTED, BaselineSession

COMMANDS = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"

# Lines with dots, bare CR and bare LF in every place, but no CRLF inside.
lines = st.lists(
    st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b" "]), max_size=8).map(
        lambda parts: b"".join(parts).replace(b"\r\n", b"\r-\n")
    ),
    max_size=8,
)


def wire_and_plain(body_lines: list[bytes]) -> tuple[bytes, bytes]:
    """The body as sent (a leading dot doubled) and as delivered."""
    wire = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in body_lines)
    plain = b"".join(ln + b"\r\n" for ln in body_lines)
    return wire, plain


def feed_in_pieces(stream: bytes, cuts: list[int]) -> tuple[bytes, bytes, bool]:
    replies: list[bytes] = []
    delivered: list[bytes] = []
    session = BaselineSession(replies.append, delivered.append)
    bounds = [0, *sorted(set(cuts)), len(stream)]
    for start, end in itertools.pairwise(bounds):
        session.feed(stream[start:end])
    return b"".join(replies), b"".join(delivered), session.closed


@given(
    first=lines,
    second=lines,
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12),
)
def test_4_5_2_and_4_1_1_4_baseline_delivers_the_unstuffed_bodies_however_cut(
    first: list[bytes], second: list[bytes], cuts: list[int]
) -> None:
    """Two pipelined messages and QUIT, cut anywhere: both bodies arrive whole
    and unstuffed, each message gets its 250, and QUIT closes the session."""
    wire_1, plain_1 = wire_and_plain(first)
    wire_2, plain_2 = wire_and_plain(second)
    stream = b"EHLO c\r\n" + COMMANDS + wire_1 + b".\r\n" + COMMANDS + wire_2 + b".\r\nQUIT\r\n"
    cuts = [cut for cut in cuts if cut < len(stream)]
    replies, delivered, closed = feed_in_pieces(stream, cuts)
    assert delivered == plain_1 + plain_2
    assert closed
    assert replies.count(b"354 ") == 2
    assert replies.endswith(MESSAGE_ACCEPTED + b"221 Bye\r\n")
    assert replies.count(MESSAGE_ACCEPTED) == 2 * 3  # MAIL, RCPT and the end, twice


def test_4_5_2_baseline_removes_a_dot_at_the_start_of_the_body_in_a_read_of_its_own() -> None:
    """A body whose first line is stuffed, with the dot alone in a read."""
    stream = b"EHLO c\r\n" + COMMANDS + b"..x\r\n.\r\nQUIT\r\n"
    start = stream.index(b"..x")
    _, delivered, closed = feed_in_pieces(stream, [start, start + 1, start + 2])
    assert delivered == b".x\r\n"
    assert closed


def test_4_1_1_4_baseline_ends_an_empty_body_cut_inside_its_terminator() -> None:
    """An empty body: its terminator is "." CRLF right after DATA."""
    stream = b"EHLO c\r\n" + COMMANDS + b".\r\nQUIT\r\n"
    start = stream.index(b".\r\nQUIT")
    replies, delivered, closed = feed_in_pieces(stream, [start, start + 1, start + 2])
    assert delivered == b""
    assert closed
    assert replies.endswith(MESSAGE_ACCEPTED + b"221 Bye\r\n")


@given(
    dot_lines=st.integers(min_value=0, max_value=3 * 64),
    cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=6),
)
def test_4_5_2_baseline_unstuffs_reads_with_many_stuffed_dots(
    dot_lines: int, cuts: list[int]
) -> None:
    """Past 64 stuffed dots in one read the baseline stops walking them and
    unstuffs the read with split/join: both ways deliver the same bytes."""
    body_lines = [b".x", b"y"] * dot_lines + [b"..", b"."]
    wire, plain = wire_and_plain(body_lines)
    stream = b"EHLO c\r\n" + COMMANDS + wire + b".\r\nQUIT\r\n"
    replies, delivered, closed = feed_in_pieces(stream, [c for c in cuts if c < len(stream)])
    assert delivered == plain
    assert closed
    assert replies.endswith(MESSAGE_ACCEPTED + b"221 Bye\r\n")


def test_4_5_2_baseline_delivers_a_read_without_stuffed_dots_as_it_came() -> None:
    """The usual read of a body: no stuffed dot, no terminator, so the very
    object read is delivered (no copy)."""
    replies: list[bytes] = []
    delivered: list[bytes] = []
    session = BaselineSession(replies.append, delivered.append)
    session.feed(b"EHLO c\r\n" + COMMANDS + b"first line\r\nsec")
    read = b"ond line\r\nthird"
    session.feed(read)
    assert delivered[-1] is read
    session.feed(b" line\r\n.\r\n")
    assert b"".join(delivered) == b"first line\r\nsecond line\r\nthird line\r\n"
