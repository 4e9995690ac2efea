"""An SMTP sink on asyncio's Protocol API.

    python examples/asyncio_server.py [--port 8025] [--maildir ./maildir] [--help]

This file is only the I/O loop around smtpstate.ServerConnection: the reply to
each event and the Maildir delivery are Session's (_policy.py), the command line
is _config.py's (see docs/adapters.md). Callbacks, not streams.
"""

from __future__ import annotations

import asyncio
import signal
import ssl

from _config import READ_SIZE, WRITE_THRESHOLD, Config, announce, log_error, parse_args
from _policy import Session

from smtpstate import NEED_DATA, ConnectionClosed, RemoteProtocolError

# One buffer for the reads of all connections (each read is copied out at once).
READ_BUFFER = memoryview(bytearray(READ_SIZE))


class SMTPProtocol(asyncio.BufferedProtocol):
    """One connection, with one timer for every wait: the client's next bytes (the
    phase's timeout), and replies it does not read (then it is dropped)."""

    def __init__(self, config: Config, sessions: set[SMTPProtocol]) -> None:
        self.config, self.sessions = config, sessions
        self.loop, self.out = asyncio.get_running_loop(), bytearray()  # out: batched replies
        self.timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0  # loop.time() by which the client must act
        self.paused = False  # the transport's buffer is full: the client does not read
        self.busy = False  # a TLS handshake runs, or the session is over
        self.held: list[bytes] | None = None  # during the handshake: see start_tls()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.session = Session(self.config, transport.get_extra_info("peername"))
        self.sessions.add(self)
        self.out += self.session.greeting()  # owed first; after the PROXY header if any
        self.pump()

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.receive(bytes(READ_BUFFER[:nbytes]))

    def eof_received(self) -> None:
        self.receive(b"")  # b"" means EOF

    def receive(self, data: bytes) -> None:
        if self.held is not None:  # decrypted before start_tls() returned: see there
            if len(self.held) > 1:  # sslproto gives one read (and EOF), then it returns
                return self.transport.abort()
            self.held.append(data)
            return
        self.session.conn.receive_data(data)
        self.pump()

    def pause_writing(self) -> None:  # back-pressure: read nothing more for now
        self.paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self.transport.resume_reading()
        self.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.sessions.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.session.close()  # an unfinished message is deleted from tmp/

    def pump(self) -> None:
        """Run the engine until it needs bytes, write the replies, then wait."""
        session, conn, tls_offered = self.session, self.session.conn, self.config.tls is not None
        try:
            while not self.paused and not self.busy:
                try:
                    event = conn.next_event()
                except RemoteProtocolError as exc:
                    return self.close(session.protocol_error(exc))
                if event is NEED_DATA:  # write the batched replies before waiting
                    if self.out:
                        self.flush()
                    if not self.paused:
                        session.written()
                        return self.wait(session.timeout)
                elif type(event) is ConnectionClosed:  # after 221/421, or EOF
                    return self.close()
                else:
                    self.out += session.handle(event)
                    if tls_offered and (tls := session.tls_context()) is not None:  # 220
                        self.busy = True
                        self.transport.pause_reading()  # now: no byte may reach the engine
                        self.handshake = self.loop.create_task(self.start_tls(tls))  # kept
                    elif len(self.out) >= WRITE_THRESHOLD:  # a client that does not read
                        self.flush()
            if self.paused:
                self.wait(session.write_timeout)
        except Exception:
            log_error(self.transport.get_extra_info("peername"))
            self.transport.abort()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """The handshake after the 220 (reading paused since: no plaintext reaches the
        engine). What came with the client's Finished reaches buffer_updated() before
        start_tls() returns: held until tls_established() (docs/adapters.md)."""
        self.flush()
        self.wait(self.session.timeout)  # for the handshake too
        self.held = []
        try:
            tls = await self.loop.start_tls(self.transport, self, context, server_side=True)
        except (OSError, asyncio.TimeoutError):  # ssl.SSLError is an OSError
            tls = None  # None also when the connection went, e.g. our timer aborted it
        held, self.held = self.held, None
        if tls is None or self.transport.is_closing():  # closing: too much was held
            self.transport.abort()
            return self.connection_lost(None)  # mid-handshake, the TLS layer does not
        self.transport, self.busy = tls, False
        self.session.conn.tls_established()  # before any decrypted byte
        for data in held:
            self.session.conn.receive_data(data)
        self.pump()

    def close(self, last: bytes = b"") -> None:
        """Write the last replies and close; drop a client that does not take them."""
        if self.busy:  # (at shutdown) closing already, or mid-handshake
            return self.transport.abort()
        self.out += last
        self.busy = True
        self.flush()
        self.transport.close()
        self.wait(self.session.write_timeout)

    def flush(self) -> None:
        # A new buffer after each write: from Python 3.12 the transport may keep a
        # view of what it could not send yet, and a viewed bytearray cannot change.
        out, self.out = self.out, bytearray()
        self.transport.write(out)

    def wait(self, timeout: float) -> None:
        """Set the deadline. Pushing it back costs no timer: an early one re-arms itself."""
        self.deadline = deadline = self.loop.time() + timeout
        timer = self.timer
        if timer is not None and timer.when() > deadline:
            timer.cancel()  # the deadline came closer
            timer = None
        if timer is None:
            self.timer = self.loop.call_at(deadline, self.expired)

    def expired(self) -> None:
        self.timer = None
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self.expired)
        elif self.paused or self.busy:
            self.transport.abort()  # the client does not read, or the handshake stalls
        else:
            self.close(self.session.timed_out())  # RFC 5321 4.5.3.2: 421 4.4.2


async def main(config: Config) -> None:
    sessions: set[SMTPProtocol] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTPProtocol(config, sessions), config.host, config.port
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    announce(config, server.sockets[0].getsockname())
    async with server:
        await stop.wait()
        server.close()
        for protocol in list(sessions):  # 421 4.3.2; an unfinished message is dropped
            protocol.close(protocol.session.shutting_down())
        for _ in range(20):  # give the 421s a moment (bounded), then drop the rest
            await asyncio.sleep(0.1 if sessions else 0)
        for protocol in list(sessions):
            protocol.transport.abort()


if __name__ == "__main__":
    asyncio.run(main(parse_args("SMTP sink on asyncio (Protocol callbacks)")))
