"""STARTTLS (RFC 3207) and AUTH (RFC 4954) in the three example servers, each a
real process on loopback, driven by smtplib, swaks and raw sockets. The
certificate is self-signed and made at test time with the openssl CLI."""

from __future__ import annotations

import base64
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import EXAMPLES, HOST, Server, StartServer, require_swaks
from .test_example_servers import SENDER, Raw, message, only_delivery

USER, PASSWORD = "alice", "s3cret pass"
GOOD = f"{USER}:{PASSWORD}"
PLAIN_GOOD = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())


@pytest.fixture
def start_tls_server(start_server: StartServer, cert: tuple[Path, Path]) -> StartServer:
    """``start_tls_server(*args)``: an example with STARTTLS and the user alice."""

    def start(*args: str, auth: bool = True) -> Server:
        options = ["--tls-cert", str(cert[0]), "--tls-key", str(cert[1])]
        if auth:
            options += ["--auth", GOOD, "--auth", "bob:other"]
        return start_server(*options, *args)

    return start


def received(server: Server) -> bytes:
    return only_delivery(server)[1]


class TLSRaw(Raw):
    """A raw client that can switch to TLS after the 220 to STARTTLS."""

    def upgrade(self, context: ssl.SSLContext) -> None:
        assert self.buffer == b"", self.buffer  # nothing may come before the handshake
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")


# -- smtplib ------------------------------------------------------------------------


def test_smtplib_starttls_login_arrives_byte_exact(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_tls_server()
    data = message("tls-login", b".leading dot\r\n\xc3\xa9 8bit\r\nend\r\n")
    with server.smtp() as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert client.esmtp_features["auth"].split() == ["CRAM-MD5"]  # PLAIN, LOGIN need TLS
        code, _ = client.starttls(context=client_context)
        assert code == 220
        client.ehlo()
        assert not client.has_extn("starttls")  # RFC 3207 4.2: not offered again
        assert client.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "CRAM-MD5"]
        code, _ = client.login(USER, PASSWORD)
        assert code == 235
        assert client.sendmail(SENDER, ["rcpt@mx.test"], data) == {}
    _, trace, body = only_delivery(server)
    assert body == data
    assert b" with ESMTPSA id " in trace  # RFC 3848 / RFC 4954 7


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_each_mechanism(
    start_tls_server: StartServer, client_context: ssl.SSLContext, mechanism: str
) -> None:
    server = start_tls_server()
    with server.smtp() as client:
        client.starttls(context=client_context)
        client.ehlo()
        client.user, client.password = USER, PASSWORD
        method = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login}
        code, _ = client.auth(mechanism, method.get(mechanism, client.auth_cram_md5))
        assert code == 235
        # RFC 4954 4: a second AUTH gets 503 (smtplib returns it, taking it as success).
        code, _ = client.auth(mechanism, method.get(mechanism, client.auth_cram_md5))
        assert code == 503


def test_smtplib_bad_password_gets_535(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_tls_server()
    with server.smtp() as client:
        client.starttls(context=client_context)
        for user, password in ((USER, "wrong"), ("nobody", PASSWORD), ("bob", PASSWORD)):
            client.ehlo()
            client.user, client.password = user, password
            with pytest.raises(Exception, match="535"):
                client.auth("PLAIN", client.auth_plain)


# -- swaks --------------------------------------------------------------------------


def swaks(
    server: Server, auth: str | None = None, password: str = PASSWORD
) -> subprocess.CompletedProcess[bytes]:
    """swaks with STARTTLS (``--tls``), and AUTH ``auth`` as alice when given. A
    swaks without TLS or that mechanism skips the test (fails it in CI)."""
    program = require_swaks(tls=True, auth=auth)
    options = [] if auth is None else ["--auth", auth, "--auth-user", USER,
                                       "--auth-password", password]  # fmt: skip
    return subprocess.run(
        [program, "--server", "127.0.0.1", "--port", str(server.port), "--timeout", "20",
         "--helo", "client.test", "--from", SENDER, "--to", "rcpt@mx.test",
         "--header", "Subject: swaks over TLS", "--body", "hello over TLS", "--tls", *options],
        timeout=30, capture_output=True,
    )  # fmt: skip


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_tls_auth_good_credentials(start_tls_server: StartServer, mechanism: str) -> None:
    server = start_tls_server()
    result = swaks(server, mechanism)
    transcript = result.stdout.decode(errors="replace")
    assert result.returncode == 0, transcript
    assert "<~  235 " in transcript  # "<~": a reply read over TLS
    _, trace, body = only_delivery(server)
    assert b" with ESMTPSA id " in trace
    assert b"\r\n\r\nhello over TLS\r\n" in body


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_tls_auth_bad_credentials_get_535(
    start_tls_server: StartServer, mechanism: str
) -> None:
    server = start_tls_server()
    result = swaks(server, mechanism, password="not it")
    transcript = result.stdout.decode(errors="replace")
    assert result.returncode != 0, transcript
    assert "<~* 535 5.7.8 " in transcript
    assert server.new() == []


def test_swaks_tls_without_auth(start_tls_server: StartServer) -> None:
    server = start_tls_server(auth=False)
    result = swaks(server)
    assert result.returncode == 0, result.stdout.decode(errors="replace")
    assert b" with ESMTPS id " in received(server)


# -- policies -------------------------------------------------------------------------


def test_require_tls_gives_530_before_starttls(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_tls_server("--require-tls")
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"530 5.7.0 ")
        assert raw.command(b"AUTH CRAM-MD5").startswith(b"530 5.7.0 ")
        assert raw.command(b"STARTTLS").startswith(b"220 ")
        raw.upgrade(client_context)
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
    finally:
        raw.close()


def test_require_auth_gives_530_before_auth(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_tls_server("--require-auth")
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"STARTTLS").startswith(b"220 ")
        raw.upgrade(client_context)
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"530 5.7.0 ")
        assert raw.command(b"AUTH PLAIN " + PLAIN_GOOD).startswith(b"235 2.7.0 ")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
    finally:
        raw.close()


def test_plain_before_tls_gets_538(start_tls_server: StartServer) -> None:
    """RFC 4954 4: a mechanism that sends the password in the clear is refused
    before TLS (538 5.7.11), and not advertised."""
    server = start_tls_server()
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        ehlo = raw.command(b"EHLO client.test")
        assert b"250-AUTH CRAM-MD5\r\n" in ehlo
        assert raw.command(b"AUTH PLAIN " + PLAIN_GOOD).startswith(b"538 5.7.11 ")
        assert raw.command(b"AUTH LOGIN").startswith(b"538 5.7.11 ")
    finally:
        raw.close()


def test_auth_without_tls_allows_plain(start_tls_server: StartServer) -> None:
    server = start_tls_server("--auth-without-tls")
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        ehlo = raw.command(b"EHLO client.test")
        assert b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n" in ehlo
        assert raw.command(b"AUTH PLAIN " + PLAIN_GOOD).startswith(b"235 2.7.0 ")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
        assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250 ")
        assert raw.command(b"DATA").startswith(b"354 ")
        assert raw.command(b"Subject: plain\r\n\r\nbody\r\n.").startswith(b"250 ")
        assert raw.command(b"QUIT").startswith(b"221 ")
    finally:
        raw.close()
    assert b" with ESMTPA id " in received(server)


# -- the STARTTLS boundary ----------------------------------------------------------


def test_command_pipelined_after_starttls_is_never_run(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    """RFC 3207 4.2 (CVE-2011-0411): a MAIL sent in the same packet as STARTTLS
    is dropped. After the handshake the session starts afresh: the first reply is
    the one to the first command sent under TLS, and MAIL without EHLO gets 503."""
    server = start_tls_server()
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        raw.sock.sendall(b"STARTTLS\r\nMAIL FROM:<x@y>\r\n")
        assert raw.reply().startswith(b"220 ")
        raw.upgrade(client_context)
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"503 ")
        ehlo = raw.command(b"EHLO client.test")
        assert ehlo.startswith(b"250")
        assert b"STARTTLS" not in ehlo
        assert raw.command(b"STARTTLS").startswith(b"503 ")  # TLS is already on
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
        assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250 ")
        assert raw.command(b"DATA").startswith(b"354 ")
        assert raw.command(b"Subject: s\r\n\r\nbody\r\n.").startswith(b"250 ")
        assert raw.command(b"QUIT").startswith(b"221 ")
    finally:
        raw.close()
    return_path, _, _ = only_delivery(server)
    assert return_path == b"Return-Path: <a@client.test>"  # never x@y


def test_plaintext_sent_after_starttls_separately_is_never_run(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    """Plaintext that arrives after STARTTLS in a later packet, before the
    handshake: whichever layer receives it (the engine, a framework's buffer, the
    TLS layer), it is never run. Either the handshake fails on it, or the session
    under TLS starts afresh."""
    server = start_tls_server()
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        raw.sock.sendall(b"STARTTLS\r\n")
        time.sleep(0.05)
        raw.sock.sendall(b"MAIL FROM:<x@y>\r\n")
        assert raw.reply().startswith(b"220 ")
        raw.sock.settimeout(3)  # a TLS layer may wait for the rest of a bogus record
        try:
            raw.upgrade(client_context)
            first = raw.command(b"MAIL FROM:<a@client.test>")
        except (OSError, EOFError):
            return  # the TLS layer took the plaintext as a broken handshake
        assert first.startswith(b"503 "), first
    finally:
        raw.close()


def test_failed_handshake_ends_only_that_session(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_tls_server()
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"STARTTLS").startswith(b"220 ")
        raw.sock.sendall(b"this is not a TLS ClientHello\r\n" * 4)
        raw.sock.settimeout(2)  # the TLS layer may wait for the rest of a bogus record
        try:
            rest = raw.sock.recv(4096)
            assert not rest.startswith(b"250"), rest
        except OSError:
            pass
    finally:
        raw.close()
    with server.smtp() as client:  # the server still serves others
        client.starttls(context=client_context)
        client.login(USER, PASSWORD)
        assert client.sendmail(SENDER, ["rcpt@mx.test"], message("after")) == {}
    assert len(server.new()) == 1


def test_bad_options_are_refused(adapter: str, tmp_path: Path) -> None:
    """The server refuses to start on inconsistent TLS/AUTH options (exit 2)."""
    for args in (
        ["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "k.pem")],
        ["--tls-cert", "cert.pem"],
        ["--auth", "no-colon"],
        ["--auth", ":password"],
        ["--require-tls"],
        ["--require-auth"],
        ["--auth-without-tls"],
    ):
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / f"{adapter}.py"), "--host", HOST, "--port", "0",
             "--maildir", str(tmp_path / "box"), *args],
            capture_output=True, timeout=30,
        )  # fmt: skip
        assert result.returncode == 2, (args, result.stderr)
        assert b"error:" in result.stderr


def test_sigterm_mid_message_over_tls_stops_cleanly(
    start_tls_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_tls_server()
    raw = TLSRaw(server)
    try:
        assert raw.reply().startswith(b"220 ")
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"STARTTLS").startswith(b"220 ")
        raw.upgrade(client_context)
        assert raw.command(b"EHLO client.test").startswith(b"250")
        assert raw.command(b"AUTH PLAIN " + PLAIN_GOOD).startswith(b"235 ")
        assert raw.command(b"MAIL FROM:<a@client.test>").startswith(b"250 ")
        assert raw.command(b"RCPT TO:<rcpt@mx.test>").startswith(b"250 ")
        assert raw.command(b"DATA").startswith(b"354 ")
        raw.sock.sendall(b"Subject: interrupted\r\n\r\n" + b"line\r\n" * 100)
        assert server.wait_until(lambda: len(server.tmp()) == 1)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
        try:
            rest = raw.sock.recv(1000)  # 421 (asyncio, trio) or just the close
            assert rest == b"" or rest.startswith(b"421 4.3.2 "), rest
        except OSError:
            pass
    finally:
        raw.close()
    assert server.new() == []
    assert server.tmp() == []
