"""The stdlib smtplib client against the engine over a socketpair: the one
engine test with sockets (h11 tests against the stdlib the same way)."""

from __future__ import annotations

import smtplib
import socket
import threading

import pytest

from smtpstate import (
    NEED_DATA,
    ConnectionClosed,
    EndOfMessage,
    Event,
    Extensions,
    MessageData,
    Recipient,
    Reply,
    ServerConnection,
)

from .helpers import default_answer, reply_to

TIMEOUT = 5.0


class Server(threading.Thread):
    """Runs the adapter loop on one end of the pair, recording what it got."""

    def __init__(self, sock: socket.socket, extensions: Extensions | None = None) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.extensions = extensions or Extensions(size=100_000, smtputf8=True)
        self.authenticated: str | None = None
        self.events: list[Event] = []
        self.body = b""
        self.error: BaseException | None = None

    def answer(self, event: Event) -> Reply | None:
        if isinstance(event, Recipient) and event.forward_path.local_part == "nobody":
            return Reply(550, "No such user", "5.1.1")
        return default_answer(event)

    def run(self) -> None:
        try:
            conn = ServerConnection("mx.test", self.extensions)
            self.sock.sendall(conn.send(Reply(220, "mx.test ESMTP")))
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    conn.receive_data(self.sock.recv(65536))
                    continue
                assert isinstance(event, Event)
                self.events.append(event)
                if isinstance(event, ConnectionClosed):
                    break
                if isinstance(event, MessageData):
                    self.body += event.data
                    continue
                self.sock.sendall(conn.send(reply_to(conn, event, self.answer)))
                self.authenticated = conn.authenticated
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.sock.close()


class PairSMTP(smtplib.SMTP):
    """smtplib.SMTP that talks over an already connected socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._pair_socket = sock
        super().__init__("mx.test", 25, local_hostname="client.test", timeout=TIMEOUT)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._pair_socket


MESSAGE = (
    b"From: alice@example.org\r\n"
    b"To: bob@example.net, carol@example.net\r\n"
    b"Subject: interop\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b".\r\n"
    b"caf\xc3\xa9 8-bit text\r\n" + b"x" * 900 + b"\r\n"
    b"last line\r\n"
)


def test_smtplib_sends_a_message_to_several_recipients() -> None:
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(TIMEOUT)
    client_sock.settimeout(TIMEOUT)
    server = Server(server_sock)
    server.start()
    try:
        with PairSMTP(client_sock) as client:
            client.ehlo()
            assert client.has_extn("pipelining") and client.has_extn("size")
            refused = client.sendmail(
                "alice@example.org",
                ["bob@example.net", "nobody@example.net", "carol@example.net"],
                MESSAGE,
                mail_options=["BODY=8BITMIME"],
            )
            assert refused == {"nobody@example.net": (550, b"5.1.1 No such user")}
            assert client.noop()[0] == 250
    finally:
        server.join(TIMEOUT)
        client_sock.close()
    assert not server.is_alive()
    assert server.error is None, server.error
    # smtplib dot-stuffs on the way out; the engine must undo exactly that.
    assert server.body == MESSAGE
    end = next(e for e in server.events if isinstance(e, EndOfMessage))
    assert end.size == len(MESSAGE) and end.acceptable
    accepted = [e for e in server.events if isinstance(e, Recipient)]
    assert len(accepted) == 3
    assert server.events[-1] == ConnectionClosed()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_login_with_each_mechanism(mechanism: str) -> None:
    """smtplib's login() (PLAIN with an initial response, LOGIN, CRAM-MD5 with
    its HMAC) against the engine's SASL code; a wrong password gets 535."""
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(TIMEOUT)
    client_sock.settimeout(TIMEOUT)
    server = Server(server_sock, Extensions(auth=(mechanism,), auth_without_tls=True))
    server.start()
    try:
        with PairSMTP(client_sock) as client:
            client.ehlo()
            assert client.esmtp_features["auth"].strip() == mechanism
            with pytest.raises(smtplib.SMTPAuthenticationError) as info:
                client.login("user", "wrong")
            assert info.value.smtp_code == 535
            assert client.login("user", "secret")[0] == 235
            assert (
                client.sendmail("a@example.org", ["b@example.net"], b"Subject: x\r\n\r\nhi\r\n")
                == {}
            )
    finally:
        server.join(TIMEOUT)
        client_sock.close()
    assert server.error is None, server.error
    assert server.authenticated == "user"
    assert server.body == b"Subject: x\r\n\r\nhi\r\n"
