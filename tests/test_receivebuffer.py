"""The receive buffer (_receivebuffer): CRLF lines, a cap, and no rescanning."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smtpstate._receivebuffer import LINE_TOO_LONG, ReceiveBuffer


def test_lines_come_out_one_at_a_time() -> None:
    buf = ReceiveBuffer()
    buf.append(b"NOOP\r\nQUIT\r\nRS")
    assert buf.extract_line(512) == b"NOOP"
    assert buf.extract_line(512) == b"QUIT"
    assert buf.extract_line(512) is None
    assert bytes(buf) == b"RS" and len(buf) == 2
    buf.append(b"ET\r\n")
    assert buf.extract_line(512) == b"RSET"
    buf.append(b"x")
    buf.clear()
    assert len(buf) == 0


def test_crlf_split_across_appends() -> None:
    buf = ReceiveBuffer()
    for byte in b"NOOP\r":
        buf.append(bytes([byte]))
        assert buf.extract_line(512) is None
    buf.append(b"\n")
    assert buf.extract_line(512) == b"NOOP"


def test_bare_cr_and_lf_stay_in_the_line() -> None:
    buf = ReceiveBuffer()
    buf.append(b"A\rB\nC\r\n")
    assert buf.extract_line(512) == b"A\rB\nC"


def test_limit_counts_the_crlf() -> None:
    buf = ReceiveBuffer()
    buf.append(b"x" * 510 + b"\r\n" + b"y" * 511 + b"\r\n")
    assert buf.extract_line(512) == b"x" * 510
    assert buf.extract_line(512) is LINE_TOO_LONG


def test_over_long_line_is_dropped_as_it_arrives() -> None:
    buf = ReceiveBuffer()
    for _ in range(100):
        buf.append(b"z" * 100)
        assert buf.extract_line(512) is None
        assert len(buf) <= 512 + 100
    buf.append(b"\r")
    assert buf.extract_line(512) is None
    buf.append(b"\nNOOP\r\n")
    assert buf.extract_line(512) is LINE_TOO_LONG
    assert buf.extract_line(512) == b"NOOP"


def test_over_long_line_keeps_a_trailing_cr() -> None:
    buf = ReceiveBuffer()
    buf.append(b"z" * 600 + b"\r")
    assert buf.extract_line(512) is None
    assert bytes(buf) == b"\r"
    buf.append(b"\n")
    assert buf.extract_line(512) is LINE_TOO_LONG


@given(st.lists(st.binary(max_size=300), max_size=40))
def test_bounded_and_same_lines_whatever_the_cuts(chunks: list[bytes]) -> None:
    limit = 64
    whole = b"".join(chunks)
    expected: list[object] = []
    rest = whole
    while b"\r\n" in rest:
        line, rest = rest.split(b"\r\n", 1)
        expected.append(line if len(line) + 2 <= limit else LINE_TOO_LONG)
    buf = ReceiveBuffer()
    got: list[object] = []
    for chunk in chunks:
        buf.append(chunk)
        while (line := buf.extract_line(limit)) is not None:
            got.append(line)
        assert len(buf) < limit + len(chunk)
    assert got == expected
