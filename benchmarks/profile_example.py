"""The asyncio example server's cost per message, in-process: its protocol
(adapter, ``Session`` policy and engine) driven through a stand-in transport,
the way asyncio drives it, beside the minimal sink of ``e2e.py`` fed the same
reads. No socket and no event loop turn: what is left is the Python time of
one message that the servers' own code adds.

    python benchmarks/profile_example.py            # CPU µs per message, median of 7
    python benchmarks/profile_example.py --maildir  # delivering to a Maildir
    python benchmarks/profile_example.py --profile  # cProfile, own time by layer
    python benchmarks/profile_example.py --examples DIR  # another copy of examples/

CPU time of the process (``time.process_time``), not wall time: on a shared
machine it moves much less.

One message is the reads ``smtp-source -d`` makes the server take: MAIL, RCPT,
DATA, then the 1 KB body with its terminator, each answered before the next.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# --examples DIR: another copy of the examples (an older commit's), to compare.
_FLAG = "--examples"
EXAMPLES = (
    sys.argv[sys.argv.index(_FLAG) + 1]
    if _FLAG in sys.argv[:-1]
    else os.path.join(os.path.dirname(HERE), "examples")
)
sys.path.insert(0, EXAMPLES)

import asyncio_server  # noqa: E402
import e2e  # noqa: E402
import run  # noqa: E402
from _config import Config  # noqa: E402

BODY = run.make_body(1000, seed=11)[0] + b".\r\n"
MESSAGE = [
    b"MAIL FROM:<sender@example.org>\r\n",
    b"RCPT TO:<recipient@example.net>\r\n",
    b"DATA\r\n",
    BODY,
]


class StandInTransport(asyncio.Transport):
    """Takes the writes and counts them; reading is never really paused."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def _example_session(config: Config, messages: int) -> None:
    protocol = asyncio_server.SMTPProtocol(config, set())
    protocol.connection_made(StandInTransport())
    buffer = asyncio_server.READ_BUFFER

    def feed(data: bytes) -> None:  # what asyncio does: fill the buffer, say how much
        buffer[: len(data)] = data
        protocol.buffer_updated(len(data))

    feed(b"HELO loadgen.example.org\r\n")
    for _ in range(messages):
        for data in MESSAGE:
            feed(data)
    feed(b"QUIT\r\n")
    protocol.connection_lost(None)


def _baseline_session(messages: int) -> None:
    protocol = e2e._BaselineProtocol()
    protocol.connection_made(StandInTransport())
    protocol.data_received(b"HELO loadgen.example.org\r\n")
    for _ in range(messages):
        for data in MESSAGE:
            protocol.data_received(data)
    protocol.data_received(b"QUIT\r\n")


async def _measure(kind: str, config: Config, messages: int, repeats: int) -> list[float]:
    """µs per message, one sample per repeat, ten sessions a repeat."""
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(10):
            if kind == "example":
                _example_session(config, messages // 10)
            else:
                _baseline_session(messages // 10)
        samples.append((time.process_time() - start) / messages * 1e6)
    return samples


LAYERS = (
    ("adapter (asyncio_server.py)", ("asyncio_server.py",)),
    ("policy (_policy.py)", ("_policy.py",)),
    ("trace headers (_trace.py)", ("_trace.py",)),
    ("Maildir (_maildir.py)", ("_maildir.py",)),
    ("engine (smtpstate)", (os.sep + "smtpstate" + os.sep,)),
)


def _layer(filename: str) -> str:
    for layer, marks in LAYERS:
        if any(mark in filename for mark in marks):
            return layer
    return "Python and the standard library (email.utils, time, os, ...)"


def _profile(config: Config, messages: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(_measure("example", config, messages, 1))
    profiler.disable()
    stats = pstats.Stats(profiler)
    own: dict[str, float] = {}
    calls: dict[str, int] = {}
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (filename, _, name), (_, ncalls, tottime, _, _) in entries:
        if "profile_example.py" in filename or "_lsprof" in name:
            continue
        layer = _layer(filename)
        own[layer] = own.get(layer, 0.0) + tottime
        calls[layer] = calls.get(layer, 0) + ncalls
    total = sum(own.values())
    rows = [
        f"cProfile, own time by layer ({messages} messages; profiling inflates every call)",
        "",
        "| layer | share of own time | own µs per message, profiled | function calls per message |",
        "|---|---:|---:|---:|",
    ]
    for layer, seconds in sorted(own.items(), key=lambda item: -item[1]):
        rows.append(
            f"| {layer} | {seconds / total:.0%} | {seconds / messages * 1e6:.1f} "
            f"| {calls[layer] / messages:.1f} |"
        )
    every = sum(calls.values()) / messages
    rows.append(f"| all | 100% | {total / messages * 1e6:.1f} | {every:.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--maildir", action="store_true", help="deliver, not --discard")
    parser.add_argument("--profile", action="store_true", help="cProfile by layer")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(_FLAG, metavar="DIR", help="the example servers' folder to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-example-") as folder:
        config = Config(hostname="bench.example.org", discard=not args.maildir, maildir=folder)
        if args.maildir:
            for sub in ("tmp", "new", "cur"):
                os.mkdir(os.path.join(folder, sub))
        if args.profile:
            print(_profile(config, args.messages))
            return
        example: list[float] = []
        baseline: list[float] = []
        for _ in range(args.repeats):  # round-robin, one sample each a round
            example += asyncio.run(_measure("example", config, args.messages, 1))
            baseline += asyncio.run(_measure("baseline", config, args.messages, 1))
            if args.maildir:  # keep the folder small
                e2e._empty_maildir(folder)
    mode = "Maildir" if args.maildir else "--discard"
    ex, base = statistics.median(example), statistics.median(baseline)
    print(f"asyncio example ({mode}): {ex:.1f} µs/message (min {min(example):.1f})")
    print(f"minimal sink (e2e.py):  {base:.1f} µs/message (min {min(baseline):.1f})")
    print(f"difference: {ex - base:.1f} µs/message; example / sink: {ex / base:.2f}x")


if __name__ == "__main__":
    main()
