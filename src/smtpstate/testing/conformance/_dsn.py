"""RFC 3461: the DSN parameters of MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT).
Section 5.1: valid parameters change nothing in the reply (MUST); an invalid or
repeated RET/ENVID gets 501 (MUST); an invalid or repeated NOTIFY/ORCPT gets 501
(SHOULD)."""

from __future__ import annotations

from ._suite import Check, Level, case

MUST, SHOULD = Level.MUST, Level.SHOULD
DSN = ("DSN",)


def _rcpt_reply(t: Check, params: str) -> int:
    client = t.session()
    t.mail(client)
    return client.command(f"RCPT TO:<{t.target.rcpt}> {params}").code


def _rcpt(name: str, params: str, good: bool, section: str) -> None:
    verdict = "gets 250" if good else "gets 501"

    @case(f"dsn.{name}", section, MUST if good else SHOULD, f"RCPT ... {params} {verdict}",
          needs=DSN)  # fmt: skip
    def check(t: Check) -> None:
        code = _rcpt_reply(t, params)
        if good and code not in (250, 251):
            t.fail(f"RCPT with {params} got {code}")
        if not good and code != 501:
            t.fail(f"RCPT with {params} got {code}, expected 501")


def _mail(name: str, params: str, good: bool, section: str) -> None:
    verdict = "gets 250" if good else "gets 501"

    @case(f"dsn.{name}", section, MUST, f"MAIL ... {params} {verdict}", needs=DSN)
    def check(t: Check) -> None:
        code = t.session().command(f"MAIL FROM:<{t.target.mail_from}> {params}").code
        if good and code != 250:
            t.fail(f"MAIL with {params} got {code}")
        if not good and code != 501:
            t.fail(f"MAIL with {params} got {code}, expected 501")


_rcpt("notify-success-failure", "NOTIFY=SUCCESS,FAILURE", True, "RFC 3461 4.1, 5.1")
_rcpt("notify-never", "NOTIFY=NEVER", True, "RFC 3461 4.1, 5.1")
_rcpt("notify-delay", "NOTIFY=DELAY", True, "RFC 3461 4.1, 5.1")
_rcpt("notify-lowercase", "NOTIFY=success,delay", True, "RFC 3461 4.1")
_rcpt("orcpt-rfc822", "ORCPT=rfc822;bob@example.com", True, "RFC 3461 4.2, 5.1")
_rcpt("orcpt-xtext", "ORCPT=rfc822;a+2Bb@example.com", True, "RFC 3461 4, 4.2")
_rcpt("notify-and-orcpt", "NOTIFY=FAILURE ORCPT=rfc822;bob@example.com", True, "RFC 3461 5.1")
_rcpt("notify-unknown", "NOTIFY=SOMETIMES", False, "RFC 3461 4.1, 5.1")
_rcpt("notify-never-and-success", "NOTIFY=NEVER,SUCCESS", False, "RFC 3461 4.1, 5.1")
_rcpt("orcpt-no-type", "ORCPT=bob@example.com", False, "RFC 3461 4.2, 5.1")
_rcpt("notify-twice", "NOTIFY=SUCCESS NOTIFY=FAILURE", False, "RFC 3461 4.5, 5.1")
_mail("ret-full", "RET=FULL", True, "RFC 3461 4.3, 5.1")
_mail("ret-hdrs", "RET=HDRS", True, "RFC 3461 4.3, 5.1")
_mail("ret-unknown", "RET=SOME", False, "RFC 3461 4.3, 5.1")
_mail("ret-twice", "RET=FULL RET=HDRS", False, "RFC 3461 4.5, 5.1")
_mail("envid", "ENVID=QQ314159", True, "RFC 3461 4.4, 5.1")
_mail("envid-xtext", "ENVID=id+2Bplus", True, "RFC 3461 4, 4.4")
_mail("envid-bad-xtext", "ENVID=bad+ZZhex", False, "RFC 3461 4, 5.1")
_mail("ret-and-envid", "RET=HDRS ENVID=QQ314159", True, "RFC 3461 4.3, 4.4")
