"""Reply: validation on construction and the wire format (RFC 5321 4.2, 4.5.3.1.5;
RFC 2034)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpstate import LocalProtocolError, Reply
from smtpstate._replies import _MAX_RENDERINGS


@pytest.mark.parametrize("code", [199, 600, 0, "250", 250.0, True])
def test_bad_codes_are_refused(code: object) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a\rb", "a\nb", "a\0b", "\x7f", "tab\there", ["ok", "x\r\n"]])
def test_control_characters_are_refused(text: str | list[str]) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, text)


def test_non_str_lines_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, [b"bytes"])  # type: ignore[list-item]


@pytest.mark.parametrize("enhanced", ["2.0", "2.0.0.0", "2.01.0", "2.1000.0", "x.0.0", "3.0.0"])
def test_malformed_enhanced_codes_are_refused(enhanced: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, "ok", enhanced)


def test_4_2_second_digit_is_0_to_5() -> None:
    """RFC 5321 4.2: the second digit of a reply code is 0 to 5."""
    with pytest.raises(LocalProtocolError, match="200 to 559"):
        Reply(260, "x")
    assert Reply(554, "x").code == 554


def test_enhanced_class_must_match_code() -> None:
    with pytest.raises(LocalProtocolError, match="does not match"):
        Reply(250, "ok", "5.0.0")


def test_single_line() -> None:
    assert Reply(250, "OK").to_bytes() == b"250 OK\r\n"
    # RFC 5321 4.2: Reply-code [ SP textstring ] CRLF: no text, no space.
    assert Reply(250).to_bytes() == b"250\r\n"
    assert Reply(250, []).to_bytes() == b"250\r\n"
    assert Reply(250).to_bytes(True) == b"250 2.0.0\r\n"
    assert Reply(250, ["a", ""]).to_bytes() == b"250-a\r\n250\r\n"
    # RFC 4954 4: an empty challenge is still "334 ".
    assert Reply(334).to_bytes() == b"334 \r\n"
    assert Reply(250).reply_class == 2


def test_multi_line_uses_dash_then_space() -> None:
    assert Reply(250, ["a", "b", "c"]).to_bytes() == b"250-a\r\n250-b\r\n250 c\r\n"


def test_enhanced_prefix_on_every_line_with_default() -> None:
    assert Reply(550, ["a", "b"]).to_bytes(True) == b"550-5.0.0 a\r\n550 5.0.0 b\r\n"
    assert Reply(250, "ok", "2.1.5").to_bytes(True) == b"250 2.1.5 ok\r\n"
    assert Reply(250, "ok", "2.1.5").to_bytes(False) == b"250 ok\r\n"


def test_no_enhanced_code_on_3xx() -> None:
    assert Reply(354, "go").to_bytes(True) == b"354 go\r\n"


def test_extra_lines_follow_the_text() -> None:
    assert Reply(250, "hi").to_bytes(False, ["X", "Y"]) == b"250-hi\r\n250-X\r\n250 Y\r\n"


def test_long_lines_are_split_at_spaces() -> None:
    text = " ".join(["word"] * 300)
    wire = Reply(250, text).to_bytes(True)
    lines = wire.split(b"\r\n")[:-1]
    assert len(lines) > 1
    assert all(len(line) + 2 <= 512 for line in lines)
    assert all(line.startswith(b"250-2.0.0 ") for line in lines[:-1])
    assert lines[-1].startswith(b"250 2.0.0 ")
    assert b" ".join(line[10:] for line in lines) == text.encode()


def test_long_lines_without_spaces_are_cut_between_characters() -> None:
    text = "é" * 400  # 800 octets, two per character
    lines = Reply(250, text).to_bytes().split(b"\r\n")[:-1]
    assert all(len(line) + 2 <= 512 for line in lines)
    assert "".join(line[4:].decode() for line in lines) == text


@given(st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=2000))
def test_any_text_fits_in_512_octet_lines(text: str) -> None:
    wire = Reply(550, text, "5.1.1").to_bytes(True)
    assert wire.endswith(b"\r\n")
    for line in wire.split(b"\r\n")[:-1]:
        assert len(line) + 2 <= 512
        assert line[:3] == b"550"


def test_renderings_are_kept_up_to_a_bound() -> None:
    """A Reply keeps its wire bytes per (enhanced, extra lines), so a constant
    sent again costs a lookup; past a few renderings it renders each time,
    with the same bytes, so an application cannot make it grow."""
    reply = Reply(250, "bench")
    renderings = [reply.to_bytes(False, [f"KEYWORD{i}"]) for i in range(20)]
    assert renderings[19] == b"250-bench\r\n250 KEYWORD19\r\n"
    assert [reply.to_bytes(False, [f"KEYWORD{i}"]) for i in range(20)] == renderings
    assert len(reply._wire) == _MAX_RENDERINGS  # the cache stopped growing at its bound
    assert reply.to_bytes(True, ("A", "B")) == b"250-2.0.0 bench\r\n250-2.0.0 A\r\n250 2.0.0 B\r\n"
