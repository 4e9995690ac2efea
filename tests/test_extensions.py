"""Extensions (_extensions): EHLO keywords and MAIL/RCPT parameter checks."""

from __future__ import annotations

import pytest

from smtpstate import Extensions, Mail, Recipient, RejectedCommand

from .helpers import session


def test_default_keywords() -> None:
    assert Extensions().ehlo_keywords() == ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]


def test_all_keywords_in_stable_order() -> None:
    ext = Extensions(size=1000, smtputf8=True, help=True, expn=True)
    assert ext.ehlo_keywords() == [
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "HELP",
    ]
    assert Extensions(size=0).ehlo_keywords()[1] == "SIZE"


def test_none_enabled() -> None:
    ext = Extensions(pipelining=False, eightbitmime=False, enhanced_status_codes=False)
    assert ext.ehlo_keywords() == []


@pytest.mark.parametrize("size", [-1, 1.5, "10"])
def test_bad_size_config(size: object) -> None:
    with pytest.raises(ValueError):
        Extensions(size=size)  # type: ignore[arg-type]


def test_smtputf8_needs_8bitmime() -> None:
    with pytest.raises(ValueError):
        Extensions(smtputf8=True, eightbitmime=False)


def code(result: RejectedCommand | None) -> int | None:
    return None if result is None else result.reply.code


def test_mail_params() -> None:
    ext = Extensions(size=100, smtputf8=True)
    good = {"SIZE": "100", "BODY": "8bitmime", "SMTPUTF8": None}
    assert code(ext.check_mail_params(good)) is None
    assert code(ext.check_mail_params({"SIZE": "101"})) == 552
    assert code(ext.check_mail_params({"SIZE": None})) == 501
    assert code(ext.check_mail_params({"SIZE": "1" * 21})) == 501
    assert code(ext.check_mail_params({"SIZE": "\u00b2"})) == 501  # str.isdigit() says yes
    assert code(ext.check_mail_params({"BODY": "BINARYMIME"})) == 501
    assert code(ext.check_mail_params({"BODY": None})) == 501
    assert code(ext.check_mail_params({"SMTPUTF8": "yes"})) == 501
    assert code(ext.check_mail_params({"XFOO": None})) == 555
    assert code(Extensions(size=0).check_mail_params({"SIZE": "9" * 20})) is None


def test_params_of_disabled_extensions_are_555() -> None:
    ext = Extensions(eightbitmime=False)
    for params in ({"SIZE": "1"}, {"BODY": "7BIT"}, {"SMTPUTF8": None}):
        assert code(ext.check_mail_params(params)) == 555


def test_rcpt_params() -> None:
    assert code(Extensions().check_rcpt_params({})) is None
    assert code(Extensions().check_rcpt_params({"NOTIFY": "NEVER"})) == 555


def test_mail_line_allowance() -> None:
    assert Extensions().mail_line_allowance() == 0
    assert Extensions(size=0, smtputf8=True).mail_line_allowance() == 36


# -- CHUNKING, DSN, REQUIRETLS, MT-PRIORITY and keywords the application defines --


@pytest.mark.parametrize("name", ["XTRACE", "x-trace", "X-Trace"])
def test_extra_mail_param_never_gets_555(name: str) -> None:
    """A parameter the application allows is passed through, whatever its case
    or value, so a new extension never breaks delivery."""
    ext = Extensions(extra_mail_params=(name,))
    assert ext.check_mail_params({name.upper(): "any+20thing"}) is None
    assert ext.check_mail_params({name.upper(): None}) is None
    assert code(ext.check_mail_params({"OTHER": None})) == 555


def test_extra_rcpt_param_never_gets_555() -> None:
    """Likewise for RCPT parameters."""
    ext = Extensions(extra_rcpt_params=("x-rcpt",))
    assert ext.check_rcpt_params({"X-RCPT": "v"}) is None
    assert code(ext.check_rcpt_params({"X-OTHER": "v"})) == 555


def test_extra_params_reach_the_events() -> None:
    """Through a connection: the value is on the event's params, unchanged."""
    ext = Extensions(extra_mail_params=("XMAIL",), extra_rcpt_params=("XRCPT",))
    wire = b"EHLO c\r\nMAIL FROM:<a@b.example> xmail=1\r\nRCPT TO:<c@d.example> XRCPT=v+41\r\n"
    _, events, _ = session(wire, ext)
    assert isinstance(events[1], Mail) and events[1].params == {"XMAIL": "1"}
    assert isinstance(events[2], Recipient) and events[2].params == {"XRCPT": "v+41"}


def test_extra_keywords_are_advertised_last() -> None:
    """Extra EHLO lines come after the built-in keywords, as given."""
    ext = Extensions(extra_keywords=("XTRACE", "FUTURE 1 2"))
    assert ext.ehlo_keywords()[-2:] == ["XTRACE", "FUTURE 1 2"]


@pytest.mark.parametrize(
    "config",
    [
        {"extra_keywords": ("X\r\n250 Y",)},
        {"extra_keywords": ("",)},
        {"extra_keywords": ("-X",)},
        {"extra_mail_params": ("X=1",)},
        {"extra_rcpt_params": ("",)},
    ],
)
def test_extra_names_are_checked(config: dict[str, tuple[str, ...]]) -> None:
    """Keywords and parameter names must follow the grammar (RFC 5321 4.1.1.1,
    4.1.2): no reply injection through configuration."""
    with pytest.raises(ValueError):
        Extensions(**config)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keyword", "value", "code_"),
    [("CHUNKING", None, 555), ("DSN", None, 555)],
)
def test_keywords_are_not_parameters(keyword: str, value: str | None, code_: int) -> None:
    """CHUNKING and DSN are EHLO keywords, not MAIL parameters."""
    assert code(Extensions(chunking=True, dsn=True).check_mail_params({keyword: value})) == code_


def test_optional_extension_keywords_in_stable_order() -> None:
    """CHUNKING, BINARYMIME, DSN, MT-PRIORITY and the application's own keywords, in a
    stable order; REQUIRETLS only under TLS."""
    ext = Extensions(
        chunking=True, binarymime=True, dsn=True, requiretls=True, mt_priority=True,
        extra_keywords=("XTRACE",),
    )  # fmt: skip
    tail = ["CHUNKING", "BINARYMIME", "DSN", "MT-PRIORITY", "XTRACE"]
    assert ext.ehlo_keywords()[-5:] == tail
    assert ext.ehlo_keywords(tls_active=True)[-6:] == [*tail[:3], "REQUIRETLS", *tail[3:]]
