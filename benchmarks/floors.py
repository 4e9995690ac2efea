"""Costs that engine work cannot remove, beside the baseline's.

    python benchmarks/floors.py          # W1: the API and the events of a session
    python benchmarks/floors.py W2       # W2: the C passes of the body checks

- **API**: the sink application of ``impls.py`` driving a stand-in connection
  that does no protocol work: each ``receive_data`` queues the events a real
  connection would give for that feed (made once, in advance), ``next_event``
  pops them and ``send`` returns canned bytes. What remains is the cost of the
  calls the API needs (receive, next event until NEED_DATA, send) and of the
  application's dispatch.
- **events**: building the events one W1 session yields (frozen dataclasses).

Both are printed next to the baseline's cost of a whole W1 session, measured
in the same run (min over repeats: the machine is shared). See
docs/performance.md, "Why W1 and W4 stay near 5x".

``W2`` times, on W2's 64 KiB reads, the bytes-method passes and nothing else:
the split/join that both the baseline and the decoder fall back to on a read
with many stuffed dots, then the walk over the stuffed dots that both use on
W2's reads, then the decoder's checks, each added to the ones before, beside
the baseline and smtpstate on the whole of W2. See
docs/performance.md, "W2: the body path against the true minimum".
"""

from __future__ import annotations

import os
import sys
import time
import timeit
import types
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import impls
import run

import smtpstate as st

MAILBOX = st.Mailbox(local_part="a", domain="example.org", text="a@example.org")
# The events of one W1 session, feed by feed (EHLO, MAIL, RCPT, DATA, body, QUIT).
EVENTS_BY_FEED: list[list[Any]] = [
    [st.Hello(domain="client.example.org", extended=True)],
    [st.Mail(reverse_path=MAILBOX)],
    [st.Recipient(forward_path=MAILBOX)],
    [st.DataStart()],
    [st.MessageData(data=b"x"), st.EndOfMessage(size=1)],
    [st.Quit(), st.ConnectionClosed(mid_transaction=False, mid_body=False)],
]
WIRE = b"250 OK\r\n"


class StandIn:
    """A connection that does no protocol work: see the module docstring."""

    def __init__(self, hostname: str) -> None:
        self.feeds = 0
        self.pending: list[Any] = []

    def receive_data(self, data: bytes) -> None:
        self.pending = list(EVENTS_BY_FEED[self.feeds])
        self.feeds += 1

    def next_event(self) -> Any:
        return self.pending.pop(0) if self.pending else st.NEED_DATA

    def send(self, reply: st.Reply) -> bytes:
        return WIRE


def build_w1_events() -> None:
    st.Hello(domain="client.example.org", extended=True)
    st.Mail(
        reverse_path=st.Mailbox(
            local_part="sender", domain="example.org", text="sender@example.org"
        ),
        params={},
    )
    st.Recipient(
        forward_path=st.Mailbox(
            local_part="recipient", domain="example.net", text="recipient@example.net"
        ),
        params={},
    )
    st.MessageData(data=b"x")
    st.EndOfMessage(size=1000)
    st.ConnectionClosed(mid_transaction=False, mid_body=False)


def w1() -> None:
    body, _ = run.make_body(1000, seed=1)
    sessions = [[*run.COMMANDS, body + b".\r\n", run.QUIT]] * 2000
    baseline = impls.Baseline()
    stand_in = impls.Smtpstate()
    # The driver reads everything from its module: the same names, our connection.
    exports = {name: getattr(st, name) for name in st.__all__}
    stand_in.smtpstate = types.SimpleNamespace(**{**exports, "ServerConnection": StandIn})
    real = impls.Smtpstate()
    times: dict[str, list[float]] = {"baseline": [], "API": [], "smtpstate": []}
    for _ in range(15):
        for name, driver in (("baseline", baseline), ("API", stand_in), ("smtpstate", real)):
            started = time.perf_counter()
            driver.run(sessions)
            times[name].append((time.perf_counter() - started) / len(sessions))
    events = min(timeit.repeat(build_w1_events, number=20000, repeat=7)) / 20000
    base = min(times["baseline"])
    rows = [
        ("baseline, whole W1 session", base),
        ("API alone (stand-in connection)", min(times["API"])),
        ("the events of one session", events),
        ("smtpstate, whole W1 session", min(times["smtpstate"])),
    ]
    print("| cost per W1 session | µs | / baseline |")
    print("|---|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e6:.2f} | {seconds / base:.2f}x |")


def long_line(segment: bytes, limit: int = 1000) -> bool:
    """The decoder's long-line test: one ``rfind`` per window of the limit's width."""
    start = 0
    while len(segment) - start >= limit:
        last = segment.rfind(b"\n", start, start + limit)
        if last < 0:
            return True
        start = last + 1
    return False


def walk_and_unstuff(chunk: bytes) -> bytes:
    """The first pass of the decoder and of the baseline: from one CRLF "." to
    the next (the end, or a stuffed dot), then one copy without the stuffed
    dots, joined from ``memoryview`` slices."""
    pieces, start = [], 0
    with memoryview(chunk) as view:
        at = chunk.find(b"\r\n.")
        while at >= 0 and not chunk.startswith(b"\r\n", at + 3):
            pieces.append(view[start : at + 2])
            start = at + 3
            at = chunk.find(b"\r\n.", start)
        pieces.append(view[start:])
        return b"".join(pieces)


def hop_to_stuffed_dots(chunk: bytes) -> int:
    """A sink that looks for "." alone (one ``memchr`` a hop) and keeps those
    after a CRLF: it skips the text between periods, so it beats the walk on
    text without periods and loses on text with them, as W2's is."""
    found, at = 0, chunk.find(b".")
    while at >= 0:
        found += chunk.startswith(b"\r\n", at - 2)
        at = chunk.find(b".", at + 1)
    return found


def w2_passes(chunks: list[bytes], upto: int) -> None:
    """The fallback's two passes over each read (``upto`` 1), or the first
    ``upto`` of the passes the body decoder makes (2: the baseline's one);
    0: only the hops from "." to "." of another would-be minimum."""
    for chunk in chunks:
        if upto == 0:
            hop_to_stuffed_dots(chunk)
            continue
        if upto == 1:
            chunk.find(b"\r\n.\r\n")  # the end of the body
            b"\r\n".join(chunk.split(b"\r\n."))  # dot-unstuffing
            continue
        segment = walk_and_unstuff(chunk)  # 2: the end and dot-unstuffing
        found = False
        if upto > 2:
            found = b"\0" in segment  # 3: NUL
        if upto > 3:
            # 4: bare CR or LF: deleting CR, writing LF as CRLF rebuilds the segment
            found = segment.replace(b"\r", b"").replace(b"\n", b"\r\n") != segment
        if upto > 4:
            found = long_line(segment)  # 5: line length
        if found:
            raise AssertionError("W2's body breaks no rule")


def w2() -> None:
    body, _ = run.make_body(10 * run.MB, seed=2)
    feeds = [*run.COMMANDS, *run.chunked(body + b".\r\n", 65536), run.QUIT]
    # Whole lines, about 64 KiB each, as the decoder cuts them (at the last CRLF).
    chunks, start = [], 0
    while start < len(body):
        end = body.rfind(b"\r\n", start, start + 65536) + 2
        chunks.append(body[start:end])
        start = end
    drivers = {"baseline": impls.Baseline(), "smtpstate": impls.Smtpstate()}
    passes = {
        'hop from "." to "." (not a candidate on text with periods)': 0,
        "find the end, split/join (the fallback past 64 stuffed dots in a read)": 1,
        "walk the stuffed dots, join (the baseline's pass, and the decoder's)": 2,
        "... and look for NUL": 3,
        "... and for bare CR or LF (delete CR, LF as CRLF, compare)": 4,
        "... and for long lines (every engine check)": 5,
    }
    times: dict[str, list[float]] = {name: [] for name in [*drivers, *passes]}
    for _ in range(9):
        for name, driver in drivers.items():
            started = time.perf_counter()
            driver.run([feeds])
            times[name].append(time.perf_counter() - started)
        for label, upto in passes.items():
            started = time.perf_counter()
            w2_passes(chunks, upto)
            times[label].append(time.perf_counter() - started)
    base = min(times["baseline"])
    mb = len(body) / run.MB
    print("| W2, 10 MB in 64 KiB reads | ms | MB/s | / baseline |")
    print("|---|---:|---:|---:|")
    for label in ["baseline", *passes, "smtpstate"]:
        seconds = min(times[label])
        name = f"{label}, whole W2" if label in drivers else f"C passes only: {label}"
        print(f"| {name} | {seconds * 1e3:.1f} | {mb / seconds:.0f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    w2() if sys.argv[1:] == ["W2"] else w1()
