"""Extensions (_extensions): EHLO keywords and MAIL/RCPT parameter checks."""

from __future__ import annotations

import pytest

from smtpstate import CommandRejected, Extensions


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


def code(result: CommandRejected | None) -> int | None:
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
