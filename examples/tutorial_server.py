"""The tutorial's complete server (docs/tutorial.md): blocking sockets, one
connection at a time, each accepted message written to SPOOL_DIR/*.eml.

    python examples/tutorial_server.py [SPOOL_DIR [PORT]]    # spool, 2525
"""

import os
import socket
import sys
import tempfile
from typing import BinaryIO

import smtpstate
from smtpstate import NEED_DATA, Reply

HOSTNAME = "mx.example.org"
LOCAL_DOMAINS = {"example.org"}
BATCHED = (smtpstate.Mail, smtpstate.Recipient, smtpstate.Reset)


def decide(conn: smtpstate.ServerConnection, event: smtpstate.Command) -> Reply:
    if isinstance(event, smtpstate.Recipient):
        domain = event.forward_path.domain.lower()
        if domain not in LOCAL_DOMAINS:
            return Reply(550, "Relaying denied", "5.7.1")
    return conn.default_reply()


def serve(sock: socket.socket, spool_dir: str) -> None:
    extensions = smtpstate.Extensions(size=10_000_000)
    conn = smtpstate.ServerConnection(HOSTNAME, extensions, smtpstate.Options(max_errors=10))
    sock.sendall(conn.send(conn.default_reply()))  # 220 mx.example.org ESMTP
    outbox = bytearray()
    spool: BinaryIO | None = None  # the file a body is written to, while it arrives
    path = ""  # its temporary name
    helo = ""
    try:
        while True:
            try:
                event = conn.next_event()
            except smtpstate.RemoteProtocolError as error:
                outbox += conn.send(error.reply)
                return
            if event is NEED_DATA:
                sock.sendall(outbox)
                outbox.clear()
                try:
                    conn.receive_data(sock.recv(65536))
                except TimeoutError:
                    outbox += conn.send(Reply(421, f"{HOSTNAME} timeout, closing", "4.4.2"))
                    return
                continue
            if isinstance(event, smtpstate.ConnectionClosed):
                return
            if isinstance(event, smtpstate.MessageData):
                assert spool is not None  # a body comes only after our 354
                spool.write(event.data)
                continue
            if isinstance(event, smtpstate.EndOfMessage):
                assert spool is not None
                spool.close()
                spool = None
                if event.reply is None:  # event.acceptable: the body broke no rule
                    os.rename(path, path[:-4] + ".eml")
                else:
                    os.unlink(path)
                reply = conn.default_reply()  # 250, or the engine's rejection
            else:  # a Command (never PAUSED: each command is answered before the next)
                assert isinstance(event, smtpstate.Command)
                reply = decide(conn, event)
                if isinstance(event, smtpstate.Hello) and reply.code == 250:
                    helo = event.domain
            outbox += conn.send(reply)
            if isinstance(event, smtpstate.DataStart) and reply.code == 354:
                fd, path = tempfile.mkstemp(dir=spool_dir, suffix=".tmp")
                spool = os.fdopen(fd, "wb")
                spool.write(f"Received: from {helo} by {HOSTNAME}\r\n".encode())
            if not isinstance(event, BATCHED):
                sock.sendall(outbox)
                outbox.clear()
    finally:
        if outbox:
            sock.sendall(outbox)
        if spool is not None:  # the client left in the middle of a body
            spool.close()
            os.unlink(path)


if __name__ == "__main__":
    spool_dir = sys.argv[1] if len(sys.argv) > 1 else "spool"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 2525
    os.makedirs(spool_dir, exist_ok=True)
    with socket.create_server(("127.0.0.1", port)) as listener:
        print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
        while True:
            client, _ = listener.accept()
            with client:
                client.settimeout(300)
                serve(client, spool_dir)
