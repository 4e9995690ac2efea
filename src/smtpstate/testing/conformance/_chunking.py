"""RFC 3030: CHUNKING (BDAT) and BINARYMIME. A BDAT chunk is exactly the octets
counted, with no dot-stuffing and no end-of-data line."""

from __future__ import annotations

from ._client import Client
from ._suite import Check, Level, case, message

MUST = Level.MUST
CHUNKING = ("CHUNKING",)


def bdat(client: Client, chunk: bytes, last: bool = False) -> int:
    client.send(f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk)
    return client.reply().code


@case("chunking.bdat-last", "RFC 3030 2", MUST, "one BDAT LAST chunk gets 250", needs=CHUNKING)
def last(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    if (code := bdat(client, message(), last=True)) != 250:
        t.fail(f"BDAT LAST got {code}")


@case("chunking.two-chunks", "RFC 3030 2", MUST, "each chunk gets its own 250", needs=CHUNKING)
def two(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    body = message()
    codes = [bdat(client, body[:20]), bdat(client, body[20:], last=True)]
    if codes != [250, 250]:
        t.fail(f"replies {codes}, expected [250, 250]")


@case("chunking.zero-last", "RFC 3030 2", MUST, "BDAT 0 LAST ends the message", needs=CHUNKING)
def zero_last(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    codes = [bdat(client, message()), bdat(client, b"", last=True)]
    if codes != [250, 250]:
        t.fail(f"replies {codes}, expected [250, 250]")


@case("chunking.no-dot-stuffing", "RFC 3030 2", MUST,
      "'CRLF.CRLF' inside a chunk is data, not an end", needs=CHUNKING)  # fmt: skip
def no_dots(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    chunk = message(b"before\r\n.\r\nQUIT\r\n..\r\nafter\r\n")
    if (code := bdat(client, chunk, last=True)) != 250:
        t.fail(f"BDAT LAST got {code}")
    t.expect(client.command("NOOP"), (250,), "NOOP after the chunk")


@case("chunking.binarymime", "RFC 3030 3", MUST,
      "BODY=BINARYMIME: NUL, bare CR and LF in a chunk get 250", needs=("BINARYMIME",))  # fmt: skip
def binarymime(t: Check) -> None:
    if "CHUNKING" not in t.target.extensions:
        t.skip("CHUNKING not advertised")
    client = t.session()
    t.transaction(client, "BODY=BINARYMIME")
    chunk = message(bytes(range(256)) + b"\r\n")
    if (code := bdat(client, chunk, last=True)) != 250:
        t.fail(f"BDAT LAST with binary content got {code}")


@case("chunking.data-after-bdat", "RFC 3030 2", MUST, "DATA after a BDAT chunk gets 503",
      needs=CHUNKING)  # fmt: skip
def data_after(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    if (code := bdat(client, message())) != 250:
        t.fail(f"BDAT got {code}")
    t.expect(client.command("DATA"), (503,), "DATA after BDAT")


@case("chunking.binarymime-data-503", "RFC 3030 3", MUST,
      "DATA after MAIL BODY=BINARYMIME gets 503", needs=("BINARYMIME",))  # fmt: skip
def binarymime_data(t: Check) -> None:
    client = t.session()
    t.transaction(client, "BODY=BINARYMIME")
    t.expect(client.command("DATA"), (503,), "DATA with BINARYMIME")


@case("chunking.bdat-without-mail", "RFC 3030 2, RFC 5321 4.1.4", MUST,
      "BDAT without MAIL is refused with 503", needs=CHUNKING)  # fmt: skip
def no_mail(t: Check) -> None:
    client = t.session()
    code = bdat(client, b"hello\r\n", last=True)
    if code != 503:
        t.fail(f"BDAT without MAIL got {code}, expected 503")
    t.expect(client.command("NOOP"), (250,), "NOOP after (the chunk must have been read)")


@case("chunking.bdat-without-rcpt", "RFC 3030 2, RFC 5321 3.3", MUST,
      "BDAT without RCPT is refused (503/554)", needs=CHUNKING)  # fmt: skip
def no_rcpt(t: Check) -> None:
    client = t.session()
    t.mail(client)
    code = bdat(client, b"hello\r\n", last=True)
    if code not in (503, 554):
        t.fail(f"BDAT without RCPT got {code}, expected 503/554")
    t.expect(client.command("NOOP"), (250,), "NOOP after (the chunk must have been read)")


@case("chunking.bad-count", "RFC 3030 2, RFC 5321 4.1.4", Level.SHOULD, "BDAT abc gets 501",
      needs=CHUNKING)  # fmt: skip
def bad_count(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("BDAT abc"), (501, 500), "BDAT abc")


@case("chunking.rset-mid-message", "RFC 3030 2", MUST, "RSET after a chunk clears the message",
      needs=CHUNKING)  # fmt: skip
def rset_mid(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    if (code := bdat(client, message())) != 250:
        t.fail(f"BDAT got {code}")
    t.expect(client.command("RSET"), (250,), "RSET")
    t.expect(client.command(f"RCPT TO:<{t.target.rcpt}>"), (503,), "RCPT after RSET")
    t.deliver(client)


@case("chunking.pipelined-chunks", "RFC 3030 4.2, RFC 2920 3.2", MUST,
      "two chunks in one write: two 250s", needs=("CHUNKING", "PIPELINING"))  # fmt: skip
def pipelined(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    body = message()
    first, second = body[:30], body[30:]
    client.send(b"BDAT %d\r\n%sBDAT %d LAST\r\n%s" % (len(first), first, len(second), second))
    codes = [r.code for r in client.replies(2)]
    if codes != [250, 250]:
        t.fail(f"replies {codes}, expected [250, 250]")


@case("chunking.new-transaction-after-last", "RFC 3030 2", MUST,
      "after BDAT LAST, a new MAIL gets 250", needs=CHUNKING)  # fmt: skip
def after_last(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    if (code := bdat(client, message(), last=True)) != 250:
        t.fail(f"BDAT LAST got {code}")
    t.deliver(client)
