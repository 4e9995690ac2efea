"""Shared test helpers: drive a connection with bytes and an answering function."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from smtpstate import (
    NEED_DATA,
    PAUSED,
    Authentication,
    AuthenticationChallenge,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Extensions,
    Hello,
    Help,
    MessageData,
    Options,
    Quit,
    RejectedCommand,
    Reply,
    ServerConnection,
    StartTLS,
    State,
    UnknownCommand,
    XClient,
)

# What a test answers to an event; None stands for ``conn.default_reply()``.
Answer = Callable[[Event], "Reply | None"]

GREETING = Reply(220, "mx.example.org ESMTP")


PASSWORD = "secret"


def default_answer(event: Event) -> Reply | None:
    """The suggested reply where there is one, else the ordinary success code.
    A flagged body or BDAT chunk gets its suggested rejection; XCLIENT a new
    220. AUTH succeeds for the password ``PASSWORD``; STARTTLS is accepted.
    HELO/EHLO/LHLO get None: the connection's default, which names the server
    (RFC 5321 4.1.1.1)."""
    if isinstance(event, Hello):
        return None
    if isinstance(event, (RejectedCommand, UnknownCommand, AuthenticationChallenge)):
        return event.reply
    if isinstance(event, Authentication):
        if event.check_password(PASSWORD):
            return Reply(235, "Authentication succeeded", "2.7.0")
        return Reply(535, "Authentication credentials invalid", "5.7.8")
    if isinstance(event, StartTLS):
        return Reply(220, "Ready to start TLS")
    if isinstance(event, (EndOfMessage, EndOfChunk)) and event.reply is not None:
        return event.reply
    if isinstance(event, XClient):
        return Reply(220, "mx.example.org ESMTP")  # XCLIENT: a new greeting
    if isinstance(event, DataStart):
        return Reply(354, "End data with <CR><LF>.<CR><LF>")
    if isinstance(event, Quit):
        return Reply(221, "Bye")
    if isinstance(event, Help):
        return Reply(214, "See RFC 5321")
    return Reply(250, "OK")


def split_options(kwargs: dict[str, object]) -> dict[str, object]:
    """``kwargs`` for ServerConnection, with the names of Options fields
    gathered into ``options=Options(...)`` (so tests can say ``require_tls=True``)."""
    fields = {f.name for f in dataclasses.fields(Options) if f.init}
    options = {name: kwargs.pop(name) for name in list(kwargs) if name in fields}
    if options:
        kwargs["options"] = Options(**options)  # type: ignore[arg-type]
    return kwargs


def reply_to(conn: ServerConnection, event: Event, answer: Answer = default_answer) -> Reply:
    """``answer(event)``, or the connection's default when it gives None."""
    reply = answer(event)
    return conn.default_reply() if reply is None else reply


def new_conn(greet: bool = True, **kwargs: object) -> ServerConnection:
    """A connection (greeted with 220 unless ``greet`` is False); Options
    fields may be given as keywords (see split_options)."""
    kwargs.setdefault("hostname", "mx.example.org")
    conn = ServerConnection(**split_options(kwargs))  # type: ignore[arg-type]
    if greet:
        conn.send(GREETING)
    return conn


def drive(
    conn: ServerConnection,
    data: bytes | Iterable[bytes] = b"",
    answer: Answer = default_answer,
    *,
    eof: bool = False,
) -> tuple[list[Event], bytes]:
    """Feed ``data`` (one chunk or several) and answer every command until the
    connection needs more bytes or is closed; returns (events, reply bytes)."""
    chunks = [c for c in ([data] if isinstance(data, bytes) else data) if c]  # b"" is EOF
    events: list[Event] = []
    out = bytearray()
    pending = iter(chunks)
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            chunk = next(pending, None)
            if chunk is None:
                if not eof:
                    return events, bytes(out)
                eof = False
                conn.receive_data(b"")
            else:
                conn.receive_data(chunk)
            continue
        if event is PAUSED:
            # drive() answers every command, so only a TLS hand-off pauses.
            assert conn.state is State.TLS_PENDING
            return events, bytes(out)
        assert isinstance(event, Event)
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events, bytes(out)
        if isinstance(event, MessageData):
            continue
        out += conn.send(reply_to(conn, event, answer))
        while conn.awaiting_reply is event:  # LMTP: one reply per recipient
            out += conn.send(reply_to(conn, event, answer))


def merge_data(events: Iterable[object]) -> list[object]:
    """``events`` with runs of MessageData joined into one."""
    merged: list[object] = []
    for event in events:
        if isinstance(event, MessageData) and merged and isinstance(merged[-1], MessageData):
            merged[-1] = MessageData(data=merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


def body_of(events: Iterable[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, MessageData))


def codes(replies: bytes) -> list[int]:
    """The code of each reply (the last line of each multi-line reply)."""
    return [int(line[:3]) for line in replies.split(b"\r\n") if line[3:4] == b" "]


def session(
    data: bytes, extensions: Extensions | None = None, answer: Answer = default_answer, **kw: object
) -> tuple[ServerConnection, list[Event], bytes]:
    """A greeted connection driven by ``data``; returns it with its events and replies."""
    conn = new_conn(extensions=extensions, **kw)
    events, out = drive(conn, data, answer)
    return conn, events, out


def commands(events: Iterable[Event]) -> list[type[Event]]:
    return [type(e) for e in events]


# A complete, ordinary session.
EHLO_MAIL = b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
