"""RFC 5321 3.8 and 2.3.8: odd input does not end the session. A server may
refuse it (500/501) or, to hang up, say 421 first; it must not just close."""

from __future__ import annotations

import random
import time

from ._suite import Check, Level, case

MUST, SHOULD = Level.MUST, Level.SHOULD


def _odd_line(t: Check, data: bytes, what: str) -> None:
    client = t.session()
    client.send(data)
    reply = client.reply()
    if reply.code != 421:
        t.expect_class(reply, "25", what)  # NOOP-like lines may pass; the rest get 5xx
    t.survives(client, reply, what)


@case("robust.nul-in-command", "RFC 5321 3.8", MUST, "NUL in a command: answered, session goes on")
def nul_command(t: Check) -> None:
    _odd_line(t, b"NO\x00OP\r\n", "a command with a NUL")


@case("robust.line-512", "RFC 5321 4.5.3.1.4, 4.3.2", MUST, "a 512-octet command line is not 500")
def line_512(t: Check) -> None:
    line = b"NOOP " + b"x" * (512 - 7)
    assert len(line) + 2 == 512
    t.expect(t.session().command(line), (250,), "a 512-octet NOOP line")


@case("robust.line-2000", "RFC 5321 4.5.3.1.4, 3.8", MUST,
      "a 2000-octet line: 500 (or 250 without a limit), session goes on")  # fmt: skip
def line_2000(t: Check) -> None:
    client = t.session()
    reply = client.command(b"NOOP " + b"x" * 1993)
    if reply.code != 421:
        t.expect(reply, (500, 501, 250), "a 2000-octet line")
    t.survives(client, reply, "a 2000-octet line")


@case("robust.line-10000", "RFC 5321 4.5.3.1.4, 3.8", MUST,
      "a 10,000-octet line: answered, session goes on")  # fmt: skip
def line_10000(t: Check) -> None:
    client = t.session()
    reply = client.command(b"NOOP " + b"x" * 9993)  # 10,000 octets with the CRLF
    if reply.code != 421:
        t.expect(reply, (500, 501, 250), "a 10,000-octet line")
    t.survives(client, reply, "a 10,000-octet line")


@case("robust.binary-garbage", "RFC 5321 3.8", MUST,
      "4 KB of random octets: answered, session goes on")  # fmt: skip
def garbage(t: Check) -> None:
    rng = random.Random(5321)
    noise = bytes(b for b in rng.randbytes(4096) if b not in (10, 13)) + b"\r\n"
    client = t.session()
    client.send(noise)
    reply = client.reply()
    t.survives(client, reply, "binary garbage")


@case("robust.high-bit-verb", "RFC 5321 3.8", MUST, "a verb with 8-bit octets gets 5xx")
def high_bit(t: Check) -> None:
    client = t.session()
    reply = client.command(b"\xff\xfeNOOP")
    if reply.code != 421:
        t.expect_class(reply, "5", "a verb with 8-bit octets")
    t.survives(client, reply, "a verb with 8-bit octets")


@case("robust.bare-lf-command", "RFC 5321 2.3.8, 3.8", MUST,
      "'NOOP LF': answered (500 or 250), session goes on")  # fmt: skip
def bare_lf(t: Check) -> None:
    client = t.session()
    client.send(b"NOOP\nNOOP\r\n")  # one line with a bare LF, or two if the server is lax
    reply = client.reply()
    t.survives(client, reply, "a command line with a bare LF")


@case("robust.http-request", "RFC 5321 3.8", MUST, "an HTTP request: 5xx, or 421 and close")
def http(t: Check) -> None:
    client = t.connect()
    reply = client.command("GET / HTTP/1.1")
    t.expect_class(reply, "45", "an HTTP request line")
    if reply.code == 421 and not client.wait_closed():
        t.fail("421 but the connection stayed open")


@case("robust.byte-by-byte", "RFC 5321 2.3.8", MUST, "EHLO sent one octet at a time gets 250")
def byte_by_byte(t: Check) -> None:
    client = t.connect()
    for octet in f"EHLO {t.target.helo_name}\r\n".encode():
        client.send(bytes([octet]))
    t.expect(client.reply(), (250,), "EHLO sent octet by octet")


@case("robust.pause-mid-line", "RFC 5321 2.3.8", MUST, "a command in two writes, 0.3 s apart")
def pause(t: Check) -> None:
    client = t.session()
    client.send(b"NO")
    time.sleep(0.3)
    client.send(b"OP\r\n")
    t.expect(client.reply(), (250,), "NOOP in two writes")


@case("robust.reconnect-after-abort", "RFC 5321 3.8", MUST,
      "a client that vanishes mid-DATA does not harm the next one")  # fmt: skip
def abort(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    client.send(b"Subject: cut off\r\n\r\nhalf a mess")
    client.close()
    t.deliver(t.session())


@case("robust.reconnect-after-silence", "RFC 5321 3.8", MUST,
      "a client that connects and leaves at once does not harm the next one")  # fmt: skip
def abort_early(t: Check) -> None:
    t.connect(greeting=False).close()
    t.deliver(t.session())
