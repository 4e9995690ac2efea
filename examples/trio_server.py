"""An SMTP sink on trio.

    python examples/trio_server.py [--port 8025] [--maildir ./maildir] [--help]

This file is only the I/O loop around smtpstate.ServerConnection: the reply to
each event and the Maildir delivery are Session's (_policy.py), the command line
is _config.py's (see docs/adapters.md).
"""

from __future__ import annotations

import contextlib
import signal
from functools import partial

import trio
from _config import READ_SIZE, WRITE_THRESHOLD, Config, announce, log_error, parse_args
from _policy import Session

from smtpstate import NEED_DATA, ConnectionClosed, RemoteProtocolError


async def serve_client(tcp: trio.SocketStream, config: Config) -> None:
    stream: trio.abc.Stream = tcp  # a trio.SSLStream after STARTTLS
    try:
        peer = tcp.socket.getpeername()
    except OSError:  # already gone
        peer = None
    session = Session(config, peer)
    conn = session.conn
    out = bytearray(session.greeting())  # owed first; after the PROXY header if any
    # One cancel scope bounds every wait: its deadline moves before each read,
    # write and handshake (a new scope per wait cost more than the engine's work).
    # On expiry, a read gets 421 (RFC 5321 4.5.3.2); a write or handshake, a drop.
    timer = trio.CancelScope()
    reading = False  # what the timer bounds now

    def arm(seconds: float) -> None:
        """Let the next wait take at least ``seconds`` and at most a tenth more.
        Moving a trio deadline costs more than a command's engine work, so it
        moves only when it falls outside that window: about once per phase, not
        once per read and write."""
        earliest = trio.current_time() + seconds
        if not earliest <= timer.deadline <= earliest + seconds / 10:
            timer.deadline = earliest + seconds / 10

    async def flush() -> None:
        nonlocal reading
        reading = False
        arm(session.write_timeout)  # a client not reading
        await stream.send_all(out)
        out.clear()
        session.written()

    try:
        with timer:
            while True:
                try:
                    event = conn.next_event()
                except RemoteProtocolError as exc:
                    out += session.protocol_error(exc)
                    break
                if event is NEED_DATA:
                    if out:  # write the batched replies before waiting (RFC 2920 3.2)
                        await flush()
                    reading = True
                    arm(session.timeout)
                    data = await stream.receive_some(READ_SIZE)
                    conn.receive_data(bytes(data))  # b"" at EOF; bytes(b) is b, no copy
                elif type(event) is ConnectionClosed:  # after 221/421, or EOF
                    break
                else:
                    out += session.handle(event)
                    if (tls := session.tls_context()) is not None:  # 220 to STARTTLS
                        await flush()  # in plaintext
                        stream = trio.SSLStream(tcp, tls, server_side=True)
                        arm(session.timeout)
                        await stream.do_handshake()  # reading is False: a stall drops
                        conn.tls_established()
                    if len(out) >= WRITE_THRESHOLD:  # a client that pipelines without reading
                        await flush()
            if out:
                await flush()
        if timer.cancelled_caught and reading:  # the client was silent too long
            with trio.move_on_after(session.write_timeout):
                await stream.send_all(out + session.timed_out())
    except trio.Cancelled:  # the server is stopping
        with trio.move_on_after(1) as scope:
            scope.shield = True
            with contextlib.suppress(
                trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError
            ):
                await stream.send_all(session.shutting_down())
        raise
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # the client went away
    except Exception:
        log_error(peer)
    finally:
        session.close()  # an unfinished message is deleted from tmp/
        await trio.aclose_forcefully(stream)


async def main(config: Config) -> None:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            handler = partial(serve_client, config=config)
            listeners = await nursery.start(
                partial(trio.serve_tcp, handler, config.port, host=config.host)
            )
            announce(config, listeners[0].socket.getsockname())
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()  # each session drops its unfinished message


if __name__ == "__main__":
    trio.run(main, parse_args("SMTP sink on trio"))
