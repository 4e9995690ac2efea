"""RFC 5321 4.1.1.4, 4.5.2 and 4.5.3.1.6: DATA, the end of data, transparency and
text lines; and SMTP smuggling: only CRLF "." CRLF ends the data.

Over TCP the suite cannot see the stored message, only the replies: a server
that took a bare-LF dot for the end of data answers the end early and then
answers the smuggled commands too, which shows as extra replies."""

from __future__ import annotations

from ._client import Client
from ._suite import Check, Level, case, message

MUST, SHOULD = Level.MUST, Level.SHOULD

END_CODES = (250, 451, 452, 552, 554, 450, 550)  # 4.3.2: the replies to the end of data


@case("data.code-354", "RFC 5321 4.1.1.4, 4.3.2", MUST, "DATA after RCPT gets 354")
def data_354(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")


@case("data.end-250", "RFC 5321 4.1.1.4", MUST, "a plain message gets 250")
def data_250(t: Check) -> None:
    t.deliver(t.session())


@case("data.empty-message", "RFC 5321 4.1.1.4", MUST, "'.' right after 354 ends the data")
def data_empty(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    reply = t.data(client, b"")
    t.expect(reply, END_CODES, "end of an empty message")


@case("data.dot-stuffing", "RFC 5321 4.5.2", MUST, "lines starting with '..' do not end the data")
def data_dots(t: Check) -> None:
    client = t.session()
    body = message(b"..\r\n..leading dot\r\n...\r\n. not the end\r\n")
    t.deliver(client, body)
    t.expect(client.command("NOOP"), (250,), "NOOP after the message")


@case("data.dot-space-line", "RFC 5321 4.5.2", MUST, "a line '. ' does not end the data")
def data_dot_space(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    client.send(message(b". \r\nstill data\r\n") + b".\r\n")
    t.expect(client.reply(), (250,), "end of data")
    _only_reply_is_221(t, client)


@case("data.text-line-1000", "RFC 5321 4.5.3.1.6", MUST, "a 1000-octet text line is received")
def data_line_1000(t: Check) -> None:
    t.deliver(t.session(), message(b"x" * 998 + b"\r\n"))


@case("data.long-line", "RFC 5321 4.5.3.1.6, 3.8", MUST,
      "a 5000-octet line: 250 or a refusal, and the session goes on")  # fmt: skip
def data_long_line(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    reply = t.data(client, message(b"y" * 5000 + b"\r\n"))
    t.expect(reply, (*END_CODES, 500), "end of data with a long line")
    t.survives(client, reply, "a message with a long line")


@case("data.many-lines", "RFC 5321 4.1.1.4", MUST, "a message of 20,000 lines gets 250")
def data_many_lines(t: Check) -> None:
    t.deliver(t.session(), message(b"line of text\r\n" * 20_000))


@case("data.one-megabyte", "RFC 5321 4.5.3.1.7", SHOULD, "a 1 MB message: 250 (or 552)")
def data_megabyte(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    line = b"0123456789" * 7 + b"\r\n"
    reply = t.data(client, message(line * (1_048_576 // len(line))))
    t.expect(reply, (250, 552), "end of a 1 MB message")


@case("data.eight-bit-without-8bitmime", "RFC 6152 3, RFC 5321 2.4", SHOULD,
      "8-bit octets without BODY=8BITMIME: 250 or refused, no lost session")  # fmt: skip
def data_8bit(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    reply = t.data(client, message("caf\u00e9 na\u00efve\r\n".encode()))
    t.expect(reply, (250, 554, 550), "end of data with 8-bit octets")
    t.survives(client, reply, "8-bit data")


@case("data.nul-octet", "RFC 5321 4.5.2, 3.8", SHOULD,
      "a NUL in the body: 250 or refused, no lost session")  # fmt: skip
def data_nul(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    reply = t.data(client, message(b"nul\x00here\r\n"))
    t.expect(reply, END_CODES, "end of data with a NUL")
    t.survives(client, reply, "a NUL in the body")


@case("data.rset-after-message", "RFC 5321 4.1.1.5", MUST, "RSET after a message gets 250")
def data_rset(t: Check) -> None:
    client = t.session()
    t.deliver(client)
    t.expect(client.command("RSET"), (250,), "RSET")


@case("data.in-tcp-pieces", "RFC 5321 4.5.2, 2.3.8", MUST,
      "the end of data split across writes is still the end")  # fmt: skip
def data_split_end(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    client.send(message() + b"\r")
    client.send(b"\n.")
    client.send(b"\r")
    client.send(b"\n")
    t.expect(client.reply(), (250,), "end of data sent in pieces")


# -- SMTP smuggling ---------------------------------------------------------------


def _only_reply_is_221(t: Check, client: Client) -> None:
    client.send(b"QUIT\r\n")
    codes = [r.code for r in client.replies_until_closed()]
    if codes != [221]:
        t.fail(f"the data ended early: after its end came the replies {codes}, not just 221")


def _smuggle(t: Check, fake_end: bytes) -> None:
    """Body, the fake end, a smuggled transaction, the real end: exactly one reply
    to the data (or a 421 and close), and QUIT then gets only its 221."""
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    smuggled = (
        f"MAIL FROM:<smuggled@example.org>\r\nRCPT TO:<{t.target.rcpt}>\r\nDATA\r\n"
        "Subject: smuggled\r\n\r\nsmuggled\r\n"
    ).encode()
    client.send(message(b"first line") + fake_end + smuggled + b".\r\n")
    reply = client.reply()
    if reply.code == 421:
        if not client.wait_closed():
            t.fail("421 during the data but the connection stayed open")
        return
    t.expect(reply, END_CODES, "end of data")
    _only_reply_is_221(t, client)


SMUGGLING = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-cr": b"\r.\r",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "lf-dot-cr": b"\n.\r",
    "crlf-dot-nul-crlf": b"\r\n.\x00\r\n",
}


def _smuggling_case(name: str, fake_end: bytes) -> None:
    shown = repr(fake_end)[2:-1]

    @case(f"smuggling.{name}", "RFC 5321 4.5.2, 2.3.8", MUST,
          f"'{shown}' does not end the data")  # fmt: skip
    def check(t: Check) -> None:
        _smuggle(t, fake_end)


for _name, _sequence in SMUGGLING.items():
    _smuggling_case(_name, _sequence)


@case("smuggling.dot-dot-crlf", "RFC 5321 4.5.2", MUST, "CRLF '..' CRLF does not end the data")
def smuggle_stuffed(t: Check) -> None:
    _smuggle(t, b"\r\n..\r\n")


@case("data.commands-in-body", "RFC 5321 4.1.1.4, 4.5.2", MUST,
      "lines that read like commands inside the body are data")  # fmt: skip
def commands_in_body(t: Check) -> None:
    client = t.session()
    t.transaction(client)
    t.expect(client.command("DATA"), (354,), "DATA")
    client.send(message(b"RSET\r\nQUIT\r\nMAIL FROM:<x@example.org>\r\nDATA\r\n") + b".\r\n")
    t.expect(client.reply(), END_CODES, "end of data")
    _only_reply_is_221(t, client)
