"""The three example servers, each a real process on loopback, driven by real
clients: smtplib, curl, swaks and raw sockets. Every delivered file is checked
byte for byte after the two trace headers the server prepends."""

from __future__ import annotations

import hashlib
import signal
import smtplib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import EXAMPLES, RawClient, Server, StartServer, require_program

SENDER = "sender@client.test"


def message(tag: str, body: bytes = b"") -> bytes:
    """A small message with CRLF line ends, ending in CRLF."""
    head = f"From: {SENDER}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@client.test>\r\n\r\n"
    return head.encode() + (body or f"body of {tag}\r\n".encode())


def split_delivered(path: Path) -> tuple[bytes, bytes, bytes]:
    """(Return-Path line, Received header, the message as the client sent it)."""
    raw = path.read_bytes()
    return_path, rest = raw.split(b"\r\n", 1)
    assert return_path.startswith(b"Return-Path: <"), raw[:200]
    assert rest.startswith(b"Received: from "), raw[:400]
    end = rest.index(b"\r\n") + 2
    while rest[end : end + 1] in (b" ", b"\t"):  # folded header lines
        end = rest.index(b"\r\n", end) + 2
    return return_path, rest[:end], rest[end:]


def only_delivery(server: Server) -> tuple[bytes, bytes, bytes]:
    files = server.new()
    assert len(files) == 1, files
    assert server.tmp() == []
    return split_delivered(files[0])


class Raw(RawClient):
    """A bare socket client for what smtplib will not do (cut off, pipeline)."""

    def __init__(self, server: Server) -> None:
        super().__init__(server.port, timeout=10)

    def start_body(self, rcpt: bytes = b"rcpt@mx.test") -> None:
        assert self.reply().startswith(b"220")
        assert self.command(b"EHLO client.test").startswith(b"250")
        assert self.command(b"MAIL FROM:<" + SENDER.encode() + b">").startswith(b"250")
        assert self.command(b"RCPT TO:<" + rcpt + b">").startswith(b"250")
        assert self.command(b"DATA").startswith(b"354")


# -- smtplib ---------------------------------------------------------------------


def test_one_message(server: Server) -> None:
    data = message("one")
    with server.smtp() as client:
        assert client.sendmail(SENDER, ["rcpt@mx.test"], data) == {}
    return_path, received, body = only_delivery(server)
    assert return_path == b"Return-Path: <sender@client.test>"
    assert received.startswith(
        b"Received: from client.test ([127.0.0.1])\r\n\tby mx.test with ESMTP id "
    )
    assert b"for <rcpt@mx.test>;" in received
    assert body == data


def test_fifty_recipients(server: Server) -> None:
    data = message("fifty")
    recipients = [f"r{i}@mx.test" for i in range(50)]
    with server.smtp() as client:
        assert client.sendmail(SENDER, recipients, data) == {}
    _, received, body = only_delivery(server)
    assert b" for " not in received  # RFC 5321 7.2: do not list the other recipients
    assert body == data


def test_lines_starting_with_dots(server: Server) -> None:
    body = b".\r\n..\r\n.leading dot\r\n...three\r\nend .\r\n.\r\n"
    data = message("dots", body)
    with server.smtp() as client:
        client.sendmail(SENDER, ["rcpt@mx.test"], data)
    assert only_delivery(server)[2] == data


def test_8bit_body(server: Server) -> None:
    body = bytes(range(128, 256)) + b"\r\n" + "grüße, 日本語\r\n".encode()
    data = message("8bit", body)
    with server.smtp() as client:
        client.sendmail(SENDER, ["rcpt@mx.test"], data, mail_options=["BODY=8BITMIME"])
    assert only_delivery(server)[2] == data


def test_smtputf8_address(server: Server) -> None:
    data = message("utf8", "Grüße\r\n".encode())
    with server.smtp() as client:
        client.sendmail(
            "jörg@exämple.test",
            ["用户@例子.test"],
            data,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    return_path, received, body = only_delivery(server)
    assert return_path == "Return-Path: <jörg@exämple.test>".encode()
    assert b"with UTF8SMTP id" in received
    assert "for <用户@例子.test>".encode() in received
    assert body == data


def test_twenty_megabyte_message(server: Server) -> None:
    line = b"".join(bytes([65 + i % 26]) for i in range(76)) + b"\r\n"
    data = message("big", line * (20_000_000 // len(line)))
    with server.smtp(timeout=60) as client:
        assert client.sendmail(SENDER, ["rcpt@mx.test"], data) == {}
    body = only_delivery(server)[2]
    assert len(body) == len(data)
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()


# -- curl and swaks ---------------------------------------------------------------


def test_curl(server: Server, tmp_path: Path) -> None:
    curl = require_program("curl")
    data = message("curl")
    (tmp_path / "curl.eml").write_bytes(data)
    subprocess.run(
        [curl, "--silent", "--show-error", "--max-time", "20",
         f"smtp://127.0.0.1:{server.port}/client.test",
         "--mail-from", SENDER, "--mail-rcpt", "rcpt@mx.test",
         "--upload-file", str(tmp_path / "curl.eml")],
        check=True, timeout=30, capture_output=True,
    )  # fmt: skip
    assert only_delivery(server)[2] == data


def test_swaks(server: Server) -> None:
    swaks = require_program("swaks")
    result = subprocess.run(
        [swaks, "--server", "127.0.0.1", "--port", str(server.port), "--timeout", "20",
         "--helo", "client.test", "--from", SENDER, "--to", "rcpt@mx.test",
         "--header", "Subject: from swaks", "--body", "hello from swaks"],
        timeout=30, capture_output=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout.decode(errors="replace")
    return_path, _, body = only_delivery(server)
    assert return_path == b"Return-Path: <sender@client.test>"
    assert b"Subject: from swaks\r\n" in body
    assert b"\r\n\r\nhello from swaks\r\n" in body
    # The transcript shows each line swaks sent (" -> ..."): the stored body is
    # exactly the lines between DATA and the final dot.
    sent = [
        line[4:].rstrip(b"\r") for line in result.stdout.split(b"\n") if line.startswith(b" -> ")
    ]
    data = sent[sent.index(b"DATA") + 1 : sent.index(b".")]
    assert body == b"".join(line + b"\r\n" for line in data)


# -- load, disconnects, limits ------------------------------------------------------


def test_fifty_clients_ten_messages_each(server: Server) -> None:
    def client(n: int) -> list[str]:
        tags = []
        with server.smtp(timeout=30) as smtp:
            for i in range(10):
                tag = f"c{n}m{i}"
                smtp.sendmail(SENDER, [f"r{n}@mx.test"], message(tag, f"{tag}\r\n".encode()))
                tags.append(tag)
        return tags

    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        sent = [tag for tags in pool.map(client, range(50)) for tag in tags]
    assert len(sent) == 500
    files = server.new()
    assert len(files) == 500
    delivered = sorted(
        split_delivered(path)[2].rsplit(b"\r\n\r\n", 1)[1].decode() for path in files
    )
    assert delivered == sorted(f"{tag}\r\n" for tag in sent)  # none lost, none doubled
    assert server.tmp() == []
    assert time.monotonic() - started < 60


def test_disconnect_mid_body_delivers_nothing(server: Server) -> None:
    raw = Raw(server)
    raw.start_body()
    raw.sock.sendall(b"Subject: cut off\r\n\r\n" + b"partial line\r\n" * 1000 + b"no end")
    assert server.wait_until(lambda: len(server.tmp()) == 1)  # the spool file exists
    raw.close()
    assert server.wait_until(lambda: server.tmp() == [])  # and is deleted
    assert server.new() == []
    data = message("after")  # the server keeps serving
    with server.smtp() as client:
        client.sendmail(SENDER, ["rcpt@mx.test"], data)
    assert only_delivery(server)[2] == data


def test_a_stalled_client_does_not_stall_others(server: Server) -> None:
    stalled = Raw(server)
    assert stalled.reply().startswith(b"220")
    stalled.sock.sendall(b"EHLO half.test\r\nMAIL FROM:<half")  # and nothing more
    other = Raw(server)
    other.start_body()
    other.sock.sendall(b"Subject: x\r\n\r\npartial")  # a body that never ends
    data = message("unstalled")
    started = time.monotonic()
    with server.smtp(timeout=10) as client:
        client.sendmail(SENDER, ["rcpt@mx.test"], data)
    assert time.monotonic() - started < 5
    assert split_delivered(server.new()[0])[2] == data
    stalled.close()
    other.close()


def test_message_over_the_size_limit_gets_552(start_server: StartServer) -> None:
    server = start_server("--max-message-size", "10000")
    data = message("big", b"x" * 70 + b"\r\n") * 200
    with server.smtp() as client:  # smtplib declares SIZE=: refused at MAIL
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(SENDER, ["rcpt@mx.test"], data)
        assert refused.value.smtp_code == 552
    raw = Raw(server)  # no SIZE declared: refused after the whole body
    raw.start_body()
    raw.sock.sendall(data + b".\r\n")
    assert raw.reply().startswith(b"552 5.3.4 ")
    assert raw.command(b"QUIT").startswith(b"221")
    raw.close()
    assert server.wait_until(lambda: server.tmp() == [])
    assert server.new() == []


def test_pipelined_commands_get_their_replies_in_order(server: Server) -> None:
    raw = Raw(server)
    assert raw.reply().startswith(b"220")
    assert raw.command(b"EHLO client.test").startswith(b"250-mx.test")
    raw.sock.sendall(
        b"MAIL FROM:<sender@client.test>\r\nRCPT TO:<a@mx.test>\r\nRCPT TO:<b@mx.test>\r\n"
        b"RCPT TO:<bad address>\r\nDATA\r\n"
    )
    codes = [raw.reply()[:3] for _ in range(5)]
    assert codes == [b"250", b"250", b"250", b"501", b"354"]
    raw.sock.sendall(b"Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    codes = [raw.reply()[:3] for _ in range(4)]
    assert codes == [b"250", b"250", b"250", b"221"]
    assert raw.sock.recv(100) == b""  # closed after 221
    raw.close()
    assert only_delivery(server)[2] == b"Subject: piped\r\n\r\nbody\r\n"


def test_idle_timeout_answers_421_and_closes(start_server: StartServer) -> None:
    server = start_server("--initial-timeout", "0.5", "--data-timeout", "0.5")
    raw = Raw(server)
    assert raw.reply().startswith(b"220")
    assert raw.reply().startswith(b"421 4.4.2 ")
    assert raw.sock.recv(100) == b""
    raw.close()
    raw = Raw(server)  # in the middle of a body: the spool file is removed
    raw.start_body()
    raw.sock.sendall(b"Subject: slow\r\n\r\nsome")
    assert raw.reply().startswith(b"421 4.4.2 ")
    raw.close()
    assert server.wait_until(lambda: server.tmp() == [])
    assert server.new() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_mid_message_stops_cleanly(server: Server, signum: signal.Signals) -> None:
    raw = Raw(server)
    raw.start_body()
    raw.sock.sendall(b"Subject: interrupted\r\n\r\n" + b"line\r\n" * 100)
    assert server.wait_until(lambda: len(server.tmp()) == 1)
    server.proc.send_signal(signum)
    assert server.proc.wait(10) == 0
    try:
        rest = raw.sock.recv(1000)  # 421 (asyncio, trio) or just the close
        assert rest == b"" or rest.startswith(b"421 4.3.2 ")
    except ConnectionResetError:
        pass
    raw.close()
    assert server.new() == []
    assert server.tmp() == []


def test_defaults_write_to_maildir_in_the_current_folder(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(cwd=tmp_path, maildir=False)
    assert "./maildir" in server.stdout.read_text().splitlines()[1]
    assert {p.name for p in server.maildir.iterdir()} == {"tmp", "new", "cur"}
    data = message("defaults")
    with server.smtp() as client:
        client.sendmail(SENDER, ["rcpt@mx.test"], data)
    assert only_delivery(server)[2] == data


def test_discard_accepts_and_stores_nothing(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server("--discard", cwd=tmp_path, maildir=False)
    with server.smtp() as client:
        assert client.sendmail(SENDER, ["rcpt@mx.test"], message("gone")) == {}
    assert not server.maildir.exists()


def test_bad_recipient_limit_is_refused_at_startup() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "socket_server.py"), "--max-recipients", "5"],
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert b"at least 100" in result.stderr
