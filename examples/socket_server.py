"""An SMTP sink on standard-library sockets, one thread per connection.

    python examples/socket_server.py [--port 8025] [--maildir ./maildir] [--help]

This file is only the I/O loop around smtpstate.ServerConnection: the reply to
each event and the Maildir delivery are Session's (_policy.py), the command line
is _config.py's (see docs/adapters.md).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import sys
import threading
import time
from types import FrameType
from typing import Any

from _config import READ_SIZE, WRITE_THRESHOLD, Config, announce, log_error, parse_args
from _policy import Session

from smtpstate import NEED_DATA, ConnectionClosed, RemoteProtocolError

_live: set[socket.socket] = set()  # open client sockets, shut down on exit
_live_lock = threading.Lock()


def start_tls(sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
    """The handshake after the 220 to STARTTLS, bounded by the socket's timeout.
    Bytes the client sent ahead are still in the kernel: they reach the TLS
    layer (and break the handshake), never the engine.

    ``wrap_socket`` takes the descriptor over and detaches ``sock`` (closing it
    then closes nothing), so a failed handshake closes the TLS socket here."""
    with _live_lock:
        _live.discard(sock)
        tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        _live.add(tls)
    try:
        tls.do_handshake()
    except BaseException:
        with _live_lock:
            _live.discard(tls)
        tls.close()
        raise
    return tls


def set_timeout(sock: socket.socket, seconds: float) -> None:
    """``settimeout()`` only when the value changes: each call is a system call
    (ioctl) that also hands the interpreter lock to another thread."""
    if sock.gettimeout() != seconds:
        sock.settimeout(seconds)


def serve_client(sock: socket.socket, peer: tuple[Any, ...], config: Config) -> None:
    session = Session(config, peer)
    conn = session.conn
    out = bytearray(session.greeting())  # owed first; after the PROXY header if any
    try:
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                out += session.protocol_error(exc)
                break
            if event is NEED_DATA:
                if out:  # write the batched replies before waiting (RFC 2920 3.2)
                    set_timeout(sock, session.write_timeout)
                    sock.sendall(out)
                    out.clear()
                    session.written()
                set_timeout(sock, session.timeout)  # the phase's timeout (RFC 5321 4.5.3.2)
                try:
                    data = sock.recv(READ_SIZE)
                except TimeoutError:
                    out += session.timed_out()
                    break
                conn.receive_data(data)  # b"" at EOF
            elif isinstance(event, ConnectionClosed):  # after 221/421, or EOF
                break
            else:
                out += session.handle(event)
                if (tls := session.tls_context()) is not None:  # 220 to STARTTLS sent
                    sock.sendall(out)  # in plaintext
                    out.clear()
                    set_timeout(sock, session.timeout)  # bounds the handshake
                    sock = start_tls(sock, tls)
                    conn.tls_established()
                if len(out) >= WRITE_THRESHOLD:  # a client that does not read
                    set_timeout(sock, session.write_timeout)
                    sock.sendall(out)
                    out.clear()
        if out:
            set_timeout(sock, session.write_timeout)
            sock.sendall(out)
    except OSError:
        pass  # the client went away or stopped reading
    except Exception:
        log_error(peer)
    finally:
        session.close()  # an unfinished message is deleted from tmp/
        with _live_lock:
            _live.discard(sock)
        sock.close()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# SIGINT and SIGTERM are blocked in every thread, and let in only while the main
# thread waits in accept(). Python runs signal handlers in the main thread alone:
# a signal that the kernel gave a connection thread would leave accept() asleep,
# and one taken between starting a thread and listing it would skip its join.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _accept(server: socket.socket) -> tuple[socket.socket, Any]:
    """``server.accept()``, the one place where a stop signal arrives."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        return server.accept()
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def main() -> None:
    config = parse_args("SMTP sink on plain sockets, a thread per connection")
    server = socket.create_server((config.host, config.port))
    signal.signal(signal.SIGTERM, _stop)
    announce(config, server.getsockname())
    threads: list[threading.Thread] = []
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # inherited by the threads
    try:
        while True:
            sock, peer = _accept(server)
            with _live_lock:
                _live.add(sock)
            thread = threading.Thread(target=serve_client, args=(sock, peer, config), daemon=True)
            thread.start()
            threads = [t for t in threads if t.is_alive()]
            threads.append(thread)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        with _live_lock:  # wake every reader with EOF: unfinished mail is dropped
            for sock in _live:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    sys.exit(0)


if __name__ == "__main__":
    main()
