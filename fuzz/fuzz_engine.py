"""Coverage-guided fuzzing of the engine with atheris.

    python fuzz/fuzz_engine.py -max_total_time=60          # a minute
    python fuzz/fuzz_engine.py fuzz/corpus -max_total_time=3600

The first input byte picks the configuration and the cut points, the rest is
what the client sends. Each input is run twice, whole and cut in pieces, and
the target fails when:
- anything but RemoteProtocolError escapes the engine;
- the two runs give different events (data joined) or different reply bytes;
- the receive buffer holds more than one line limit plus one piece while
  commands are read;
- a reply is owed but next_event() does not say PAUSED.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import smtpstate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import default_answer, merge_data

POLICIES: tuple[smtpstate._data.BodyPolicy, ...] = ("reject", "pass", "close")


def run(data: bytes, config: int, pieces: list[bytes]) -> tuple[list[object], bytes]:
    conn = smtpstate.ServerConnection(
        "mx.example",
        smtpstate.Extensions(
            size=(config >> 2) * 64 or None,
            smtputf8=bool(config & 1),
            starttls=bool(config & 2),
            auth=("PLAIN", "LOGIN", "CRAM-MD5"),
            auth_without_tls=bool(config & 4),
        ),
        bad_line_endings=POLICIES[(config >> 1) % 3],
    )
    out = bytearray(conn.send(smtpstate.Reply(220, "mx.example ESMTP")))
    events: list[object] = []
    feed = iter([*pieces, b""])
    largest_piece = max((len(p) for p in pieces), default=0)
    while True:
        try:
            event = conn.next_event()
        except smtpstate.RemoteProtocolError as error:
            events.append(("RemoteProtocolError", error.reply))
            out += conn.send(error.reply)
            return merge_data(events), bytes(out)  # type: ignore[arg-type]
        if event is smtpstate.NEED_DATA:
            if conn.state is not smtpstate.State.IN_DATA:
                assert len(conn.trailing_data[0]) <= conn.max_command_line + largest_piece
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
        if isinstance(event, smtpstate.Command):
            assert conn.next_event() is smtpstate.PAUSED
            out += conn.send(default_answer(event))


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    config, data = raw[0], raw[1:]
    step = (config % 13) + 1
    whole = run(data, config, [data] if data else [])
    cut = run(data, config, [data[i : i + step] for i in range(0, len(data), step)])
    assert whole == cut, (whole, cut)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
