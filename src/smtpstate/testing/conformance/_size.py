"""RFC 1870: the SIZE keyword and the MAIL SIZE= parameter."""

from __future__ import annotations

from ._suite import Check, Level, case, message

MUST, SHOULD = Level.MUST, Level.SHOULD
SIZE = ("SIZE",)


def _limit(t: Check) -> int:
    params = t.target.extensions["SIZE"]
    return int(params[0]) if params and params[0].isdigit() else 0


@case("size.keyword-syntax", "RFC 1870 4", MUST, "SIZE has no parameter or one number", needs=SIZE)
def keyword(t: Check) -> None:
    params = t.target.extensions["SIZE"]
    if len(params) > 1 or (params and not params[0].isdigit()):
        t.fail(f"SIZE parameters {params}: expected none or one number")


@case("size.declared-within", "RFC 1870 6.1", MUST, "MAIL SIZE=1000 gets 250", needs=SIZE)
def within(t: Check) -> None:
    t.mail(t.session(), "SIZE=1000")


@case("size.declared-over-limit", "RFC 1870 6.1", MUST, "MAIL SIZE=limit+1 gets 552", needs=SIZE)
def over(t: Check) -> None:
    limit = _limit(t)
    if not limit:
        t.skip("SIZE advertises no fixed limit")
    reply = t.session().command(f"MAIL FROM:<{t.target.mail_from}> SIZE={limit + 1}")
    t.expect(reply, (552,), "declared size over the limit")


@case("size.not-a-number", "RFC 1870 5, RFC 5321 4.1.1.11", MUST, "SIZE=abc gets 501", needs=SIZE)
def not_number(t: Check) -> None:
    reply = t.session().command(f"MAIL FROM:<{t.target.mail_from}> SIZE=abc")
    t.expect(reply, (501, 555), "SIZE=abc")


@case("size.empty-value", "RFC 1870 5", MUST, "SIZE= with no value is refused", needs=SIZE)
def empty(t: Check) -> None:
    reply = t.session().command(f"MAIL FROM:<{t.target.mail_from}> SIZE=")
    t.expect(reply, (501, 555), "SIZE=")


@case("size.zero", "RFC 1870 5", MUST, "SIZE=0 is valid syntax and gets 250", needs=SIZE)
def zero(t: Check) -> None:
    t.mail(t.session(), "SIZE=0")


@case("size.lowercase", "RFC 5321 2.4, RFC 1870 5", MUST, "size=1000 works as SIZE", needs=SIZE)
def lowercase(t: Check) -> None:
    t.mail(t.session(), "size=1000")


@case("size.message-accepted", "RFC 1870 6.1", MUST, "a message under its declared SIZE gets 250",
      needs=SIZE)  # fmt: skip
def accepted(t: Check) -> None:
    body = message()
    client = t.session()
    t.mail(client, f"SIZE={len(body) + 100}")
    t.rcpt(client)
    t.expect(t.data(client, body), (250,), "end of data")


@case("size.message-over-limit", "RFC 1870 6.3", SHOULD,
      "a message larger than the limit is refused with 552", needs=SIZE)  # fmt: skip
def body_over(t: Check) -> None:
    limit = _limit(t)
    if not limit or limit > 64 * 1024 * 1024:
        t.skip("no limit, or one over 64 MiB")
    client = t.session()
    t.transaction(client)
    line = b"z" * 98 + b"\r\n"
    reply = t.data(client, message(line * (limit // len(line) + 10)))
    t.expect(reply, (552, 554, 550), "end of a message over the limit")
