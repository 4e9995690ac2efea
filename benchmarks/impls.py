"""In-process drivers: the same byte streams through each implementation.

Every driver has ``run(sessions, mark=None)``: ``sessions`` is a list of
sessions, each a list of byte strings fed one after another, as if each came
from one ``recv()``. Replies go to a sink that drops them and message bodies
are dropped (set ``deliver`` to a callable to collect them: whole messages
or pieces, depending on the implementation). With ``mark=k`` the driver
returns ``time.perf_counter()`` taken right after the k-th feed of the first
session (for the first/second-half split of W3), else None.

A driver's ``name`` is what the tables show; ``available()`` says whether the
implementation can be imported in this Python.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import warnings
from typing import Any

from baseline import BaselineSession

Sessions = list[list[bytes]]


def discard(data: object) -> None:
    """The sink for reply bytes and body pieces."""


class Baseline:
    name = "baseline"

    @staticmethod
    def available() -> bool:
        return True

    def __init__(self) -> None:
        self.deliver = discard

    def run(self, sessions: Sessions, mark: int | None = None) -> float | None:
        marked = None
        deliver = self.deliver
        for feeds in sessions:
            session = BaselineSession(discard, deliver)
            for index, data in enumerate(feeds, 1):
                session.feed(data)
                if index == mark and marked is None:
                    marked = time.perf_counter()
        return marked


class Smtpstate:
    """smtpstate with a sink application: every rejection is answered with the
    reply the event suggests, DATA with 354, QUIT with 221, everything else with
    250; MessageData is dropped. Every engine check stays on (the defaults)."""

    name = "smtpstate"

    @staticmethod
    def available() -> bool:
        return True

    def __init__(self) -> None:
        import smtpstate

        self.smtpstate = smtpstate
        self.deliver = discard
        self.greeting = smtpstate.Reply(220, "bench ESMTP")
        ok = smtpstate.Reply(250, "OK")
        self.ok = ok
        # The reply for each event type; None: the event carries its own.
        self.answers: dict[type, Any] = {
            smtpstate.Hello: smtpstate.Reply(250, "bench"),
            smtpstate.Mail: ok,
            smtpstate.Recipient: ok,
            smtpstate.DataStart: smtpstate.Reply(354, "End data with <CR><LF>.<CR><LF>"),
            smtpstate.Reset: ok,
            smtpstate.Noop: ok,
            smtpstate.Quit: smtpstate.Reply(221, "Bye"),
            smtpstate.RejectedCommand: None,
            smtpstate.UnknownCommand: None,
            smtpstate.EndOfMessage: None,
        }

    def run(self, sessions: Sessions, mark: int | None = None) -> float | None:
        st = self.smtpstate
        server_connection = st.ServerConnection
        need_data = st.NEED_DATA
        message_data = st.MessageData
        connection_closed = st.ConnectionClosed
        end_of_message = st.EndOfMessage
        answers = self.answers
        greeting = self.greeting
        ok = self.ok
        deliver = self.deliver
        marked = None
        for feeds in sessions:
            conn = server_connection("bench")
            discard(conn.send(greeting))
            for index, data in enumerate(feeds, 1):
                conn.receive_data(data)
                while True:
                    event = conn.next_event()
                    if event is need_data:
                        break
                    kind = type(event)
                    if kind is message_data:
                        deliver(event.data)
                        continue
                    if kind is connection_closed:
                        break
                    reply = answers.get(kind)
                    if reply is None:
                        # EndOfMessage: 250 unless it suggests a rejection
                        reply = event.reply or ok if kind is end_of_message else event.reply
                    discard(conn.send(reply))
                if index == mark and marked is None:
                    marked = time.perf_counter()
        return marked


class _AiosmtpdHandler:
    def __init__(self, deliver: Any) -> None:
        self.deliver = deliver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.deliver(envelope.content)
        return "250 OK"


class _FakeTransport(asyncio.Transport):
    """Enough of a transport for aiosmtpd: writes are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 2525) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Aiosmtpd:
    """aiosmtpd's ``SMTP`` protocol on an event loop with a fake transport. After
    each feed (``data_received``), the loop runs until the protocol's task waits
    for more bytes again, so each feed is handled completely before the next."""

    name = "aiosmtpd"

    @staticmethod
    def available() -> bool:
        try:
            import aiosmtpd.smtp  # noqa: F401
        except ImportError:
            return False
        return True

    def __init__(self, data_size_limit: int | None = None) -> None:
        from aiosmtpd.smtp import SMTP

        self.smtp_class = SMTP
        self.data_size_limit = data_size_limit
        self.loop = asyncio.new_event_loop()
        self.deliver = discard

    def run(self, sessions: Sessions, mark: int | None = None) -> float | None:
        return self.loop.run_until_complete(self._run(sessions, mark))

    async def _run(self, sessions: Sessions, mark: int | None) -> float | None:
        marked = None
        handler = _AiosmtpdHandler(self.deliver)
        for feeds in sessions:
            protocol = self.smtp_class(
                handler,
                hostname="bench",
                data_size_limit=self.data_size_limit,
                loop=self.loop,
            )
            transport = _FakeTransport()
            protocol.connection_made(transport)
            task = protocol._handler_coroutine
            reader = protocol._reader
            while reader._waiter is None and not task.done():
                await asyncio.sleep(0)
            for index, data in enumerate(feeds, 1):
                protocol.data_received(data)
                while reader._waiter is None and not task.done():
                    await asyncio.sleep(0)
                if index == mark and marked is None:
                    marked = time.perf_counter()
            if not task.done():
                protocol.eof_received()
            while not task.done():
                await asyncio.sleep(0)
            protocol.connection_lost(None)
        return marked


class _FakeSocket:
    """Enough of a socket for asyncore/asynchat: ``recv`` hands out what the
    driver put in ``pending``, ``send`` drops everything."""

    _numbers = itertools.count(10_000)

    def __init__(self) -> None:
        self.pending = b""
        self.number = next(self._numbers)

    def fileno(self) -> int:
        return self.number

    def setblocking(self, flag: bool) -> None:
        pass

    def getpeername(self) -> tuple[str, int]:
        return ("127.0.0.1", 2525)

    def recv(self, size: int) -> bytes:
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def send(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


class _SocketModule:
    """``smtpd`` calls ``socket.getfqdn()`` for every session (a resolver
    lookup); the benchmark answers it at once and leaves the rest alone."""

    @staticmethod
    def getfqdn(name: str = "") -> str:
        return "bench"

    def __getattr__(self, name: str) -> Any:
        return getattr(socket, name)


class _SmtpdServer:
    def __init__(self, deliver: Any) -> None:
        self.deliver = deliver

    def process_message(self, peer: Any, mailfrom: Any, rcpttos: Any, data: Any, **kw: Any) -> None:
        self.deliver(data)


class Smtpd:
    """The stdlib ``smtpd.SMTPChannel`` (asynchat) with a fake socket: each feed
    becomes the next ``recv()`` and ``handle_read()`` is called until it is used up."""

    name = "smtpd"

    @staticmethod
    def available() -> bool:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import smtpd  # noqa: F401
        except ImportError:
            return False
        return True

    def __init__(self, data_size_limit: int = 0) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import smtpd
        smtpd.socket = _SocketModule()  # type: ignore[attr-defined]
        self.channel_class = smtpd.SMTPChannel
        self.data_size_limit = data_size_limit
        self.deliver = discard

    def run(self, sessions: Sessions, mark: int | None = None) -> float | None:
        marked = None
        server = _SmtpdServer(self.deliver)
        for feeds in sessions:
            sock = _FakeSocket()
            channel = self.channel_class(
                server, sock, ("127.0.0.1", 2525), data_size_limit=self.data_size_limit, map={}
            )
            for index, data in enumerate(feeds, 1):
                sock.pending = data
                while sock.pending:
                    channel.handle_read()
                if index == mark and marked is None:
                    marked = time.perf_counter()
            channel.close()
        return marked


ALL = (Smtpstate, Baseline, Aiosmtpd, Smtpd)
