"""Coverage-guided fuzzing of the engine with atheris.

    python fuzz/fuzz_engine.py -max_total_time=60          # a minute
    python fuzz/fuzz_engine.py fuzz/corpus -max_total_time=3600

The first input byte picks the configuration and the cut points, the second
the optional features (CHUNKING/BINARYMIME, LMTP, PROXY protocol, XCLIENT,
XFORWARD, DSN, REQUIRETLS, MT-PRIORITY), the rest is what the client sends.
Each input is run twice, whole and cut in pieces, and the target fails when:
- anything but RemoteProtocolError escapes the engine;
- the two runs give different events (data joined) or different reply bytes;
- the receive buffer holds more than one line limit plus one piece while
  commands are read;
- a reply is owed but next_event() does not say PAUSED.
"""

from __future__ import annotations

import itertools
import re
import secrets
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import smtpstate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import merge_data, reply_to

# CRAM-MD5 challenges are random; the two runs of one input must see the same.
secrets.token_hex = lambda nbytes=None: "0" * 32

POLICIES: tuple[smtpstate._data.BodyPolicy, ...] = ("reject", "pass", "close")


GREETING = smtpstate.Reply(220, "mx.example ESMTP")


def run(data: bytes, config: int, features: int, pieces: list[bytes]) -> tuple[list[object], bytes]:
    chunking = bool(features & 1)
    ext = smtpstate.Extensions(
        size=(config >> 2) * 64 or None,
        smtputf8=bool(config & 1),
        starttls=bool(config & 2),
        auth=("PLAIN", "LOGIN", "CRAM-MD5"),
        auth_without_tls=bool(config & 4),
        chunking=chunking,
        binarymime=chunking and bool(features & 2),
        dsn=bool(features & 4),
        requiretls=bool(features & 8),
        mt_priority=bool(features & 8),
        extra_mail_params=("XTRA",) if features & 4 else (),
    )
    proxy = bool(features & 32)
    conn = smtpstate.ServerConnection(
        "mx.example",
        ext,
        smtpstate.Options(
            bad_line_endings=POLICIES[(config >> 1) % 3],
            lmtp=bool(features & 16),
            proxy_protocol=proxy,
        ),
        xclient=bool(features & 64),
        xforward=bool(features & 128),
    )
    out = bytearray() if proxy else bytearray(conn.send(GREETING))
    events: list[object] = []
    feed = iter([*pieces, b""])
    largest_piece = max((len(p) for p in pieces), default=0)
    allowance = max(ext.line_allowance("MAIL"), ext.line_allowance("RCPT"))
    line_cap = conn.options.max_command_line + allowance
    while True:
        try:
            event = conn.next_event()
        except smtpstate.RemoteProtocolError as error:
            events.append(("RemoteProtocolError", error.reply))
            out += conn.send(error.reply)
            return merge_data(events), bytes(out)  # type: ignore[arg-type]
        if event is smtpstate.NEED_DATA:
            if conn.state is smtpstate.State.PROXY_HEADER:
                assert len(conn.trailing_data[0]) <= 16 + 65535 + largest_piece
            elif conn.state is smtpstate.State.AUTH_EXCHANGE:
                assert len(conn.trailing_data[0]) <= 12288 + largest_piece
            elif conn.state is not smtpstate.State.IN_DATA:
                assert len(conn.trailing_data[0]) <= line_cap + largest_piece
            conn.receive_data(next(feed))
            continue
        if event is smtpstate.PAUSED:
            assert conn.state is smtpstate.State.TLS_PENDING
            conn.tls_established()
            continue
        assert isinstance(event, smtpstate.Event)
        events.append(event)
        if isinstance(event, smtpstate.ConnectionClosed):
            return merge_data(events), bytes(out)  # type: ignore[arg-type]
        if isinstance(event, smtpstate.ProxyHeader):
            assert conn.next_event() is smtpstate.PAUSED
            out += conn.send(GREETING)
        if isinstance(event, smtpstate.Command):
            assert conn.next_event() is smtpstate.PAUSED
            out += conn.send(reply_to(conn, event))
            while conn.awaiting_reply is event:  # LMTP: one reply per recipient
                out += conn.send(reply_to(conn, event))


# Bytes sent after STARTTLS, before the handshake, are dropped (RFC 3207 4.2), so
# how many are dropped depends on the reads. A real client waits for the 220, so
# no read spans the end of a STARTTLS line: both runs cut there.
_STARTTLS_END = re.compile(rb"(?i)STARTTLS *\r\n")  # the engine allows trailing spaces


def phases(data: bytes) -> list[bytes]:
    bounds = [0, *(match.end() for match in _STARTTLS_END.finditer(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def test_one_input(raw: bytes) -> None:
    if len(raw) < 2:
        return
    config, features, data = raw[0], raw[1], raw[2:]
    step = (config % 13) + 1
    whole = run(data, config, features, phases(data))
    pieces = [p[i : i + step] for p in phases(data) for i in range(0, len(p), step)]
    cut = run(data, config, features, pieces)
    assert whole == cut, (whole, cut)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
