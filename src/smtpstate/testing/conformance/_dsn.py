"""RFC 3461: the DSN parameters of MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT)."""

from __future__ import annotations

from ._suite import Check, Level, case

MUST = Level.MUST
DSN = ("DSN",)
BAD = (501, 555, 504)  # RFC 5321 4.1.1.11: a parameter value that is not acceptable


def _rcpt_reply(t: Check, params: str) -> int:
    client = t.session()
    t.mail(client)
    return client.command(f"RCPT TO:<{t.target.rcpt}> {params}").code


def _good_rcpt(name: str, params: str, section: str) -> None:
    @case(f"dsn.{name}", section, MUST, f"RCPT ... {params} gets 250", needs=DSN)
    def check(t: Check) -> None:
        if (code := _rcpt_reply(t, params)) not in (250, 251):
            t.fail(f"RCPT with {params} got {code}")


def _bad_rcpt(name: str, params: str, section: str) -> None:
    @case(f"dsn.{name}", section, MUST, f"RCPT ... {params} is refused", needs=DSN)
    def check(t: Check) -> None:
        if (code := _rcpt_reply(t, params)) not in BAD:
            t.fail(f"RCPT with {params} got {code}, expected 501/555")


def _mail(name: str, params: str, good: bool, section: str) -> None:
    verdict = "gets 250" if good else "is refused"

    @case(f"dsn.{name}", section, MUST, f"MAIL ... {params} {verdict}", needs=DSN)
    def check(t: Check) -> None:
        code = t.session().command(f"MAIL FROM:<{t.target.mail_from}> {params}").code
        if good and code != 250:
            t.fail(f"MAIL with {params} got {code}")
        if not good and code not in BAD:
            t.fail(f"MAIL with {params} got {code}, expected 501/555")


_good_rcpt("notify-success-failure", "NOTIFY=SUCCESS,FAILURE", "RFC 3461 4.1")
_good_rcpt("notify-never", "NOTIFY=NEVER", "RFC 3461 4.1")
_good_rcpt("notify-delay", "NOTIFY=DELAY", "RFC 3461 4.1")
_good_rcpt("orcpt-rfc822", "ORCPT=rfc822;bob@example.com", "RFC 3461 4.2")
_good_rcpt("orcpt-xtext", "ORCPT=rfc822;a+2Bb@example.com", "RFC 3461 4, 4.2")
_bad_rcpt("notify-unknown", "NOTIFY=SOMETIMES", "RFC 3461 4.1")
_bad_rcpt("notify-never-and-success", "NOTIFY=NEVER,SUCCESS", "RFC 3461 4.1")
_bad_rcpt("orcpt-no-type", "ORCPT=bob@example.com", "RFC 3461 4.2")
_mail("ret-full", "RET=FULL", True, "RFC 3461 4.3")
_mail("ret-hdrs", "RET=HDRS", True, "RFC 3461 4.3")
_mail("ret-unknown", "RET=SOME", False, "RFC 3461 4.3")
_mail("envid", "ENVID=QQ314159", True, "RFC 3461 4.4")
_mail("envid-xtext", "ENVID=id+2Bplus", True, "RFC 3461 4, 4.4")
_mail("envid-bad-xtext", "ENVID=bad+ZZhex", False, "RFC 3461 4")
_mail("ret-and-envid", "RET=HDRS ENVID=QQ314159", True, "RFC 3461 4.3, 4.4")
