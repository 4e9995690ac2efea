"""An SMTP sink on asyncio streams.

    python examples/asyncio_server.py [--port 8025] [--maildir ./maildir] [--help]

The shared policy and Maildir delivery are in _common.py; this file is only the
I/O loop around smtpstate.ServerConnection (see docs/adapters.md).
"""

from __future__ import annotations

import asyncio
import signal
import ssl

from _common import READ_SIZE, WRITE_THRESHOLD, Config, Session, announce, log_error, parse_args

from smtpstate import NEED_DATA, ConnectionClosed, RemoteProtocolError


async def start_tls(
    writer: asyncio.StreamWriter, replies: bytearray, context: ssl.SSLContext, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Write the replies up to the 220 to STARTTLS, then run the handshake with
    the public loop.start_tls(). Reading stops first, so the ClientHello reaches
    TLS and not the old reader; a new reader gets what TLS decrypts, and any
    plaintext the old one buffered is dropped with it, never parsed.
    (StreamWriter.start_tls(), 3.11+, keeps the old reader and its buffer.)"""
    transport = writer.transport
    assert isinstance(transport, asyncio.Transport)
    transport.pause_reading()
    writer.write(replies)
    await asyncio.wait_for(writer.drain(), timeout)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    protocol = asyncio.StreamReaderProtocol(reader)
    tls = await loop.start_tls(
        transport, protocol, context, server_side=True, ssl_handshake_timeout=timeout
    )
    assert tls is not None
    protocol.connection_made(tls)  # start_tls() leaves this call to its caller
    return reader, asyncio.StreamWriter(tls, protocol, reader, loop)


async def serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, config: Config
) -> None:
    session = Session(config, writer.get_extra_info("peername"))
    tcp = writer  # after STARTTLS, `writer` is the TLS stream on top of this one
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
                    writer.write(out)
                    out.clear()
                    await asyncio.wait_for(writer.drain(), session.write_timeout)
                    session.written()
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), session.timeout)
                except asyncio.TimeoutError:
                    out += session.timed_out()
                    break
                conn.receive_data(data)  # b"" at EOF
            elif isinstance(event, ConnectionClosed):  # after 221/421, or EOF
                break
            else:
                out += session.handle(event)
                if (tls := session.tls_context()) is not None:  # 220 to STARTTLS
                    reader, writer = await start_tls(writer, out, tls, session.timeout)
                    out.clear()
                    conn.tls_established()
                if len(out) >= WRITE_THRESHOLD:  # a client that does not read
                    writer.write(out)
                    out.clear()
                    await asyncio.wait_for(writer.drain(), session.write_timeout)
        if out:
            writer.write(out)
            await asyncio.wait_for(writer.drain(), session.write_timeout)
    except asyncio.CancelledError:  # the server is stopping
        writer.write(session.shutting_down())
        raise
    except (OSError, asyncio.TimeoutError):
        # The client went away or stopped reading. close() would wait to flush the
        # unread replies for ever: abort drops them and closes now (back-pressure).
        writer.transport.abort()
    except Exception:
        log_error(writer.get_extra_info("peername"))
    finally:
        session.close()  # an unfinished message is deleted from tmp/
        writer.close()
        tcp.close()  # (after STARTTLS) once collected, it would close the socket anyway


async def main(config: Config) -> None:
    sessions: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        try:
            await serve_client(reader, writer, config)
        except asyncio.CancelledError:
            pass  # the server is stopping; end this connection's task quietly
        finally:
            sessions.discard(task)

    server = await asyncio.start_server(on_connect, config.host, config.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    announce(config, server.sockets[0].getsockname())
    async with server:
        await stop.wait()
        server.close()
        # Cancel each session (it drops its unfinished message). Before Python 3.12,
        # wait_for() can lose a cancellation that lands as its read completes, so
        # cancel again until all are done (a bounded number of times).
        for _ in range(10):
            if not sessions:
                break
            for task in sessions:
                task.cancel()
            await asyncio.wait(list(sessions), timeout=0.5)


if __name__ == "__main__":
    asyncio.run(main(parse_args("SMTP sink on asyncio streams")))
