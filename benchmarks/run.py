"""smtpstate benchmarks: one command, one process, one run.

    python benchmarks/run.py            # the full run (about 4 minutes on 2 cores)
    python benchmarks/run.py --quick    # a tiny run of everything (CI smoke test)

The same byte streams go through smtpstate, the baseline of ``baseline.py``,
aiosmtpd's protocol and the stdlib ``smtpd`` (the last two when importable),
in-process; then MEM runs each implementation in a fresh subprocess, and E2E
runs servers on 127.0.0.1 against the bundled load generator (``e2e.py``).
Repeats go round-robin over the implementations, so a slow spell of a shared
machine hits all of them. The tables report the median, the spread
((max - min) / median) and the cost per unit as a ratio to the baseline's.
Nothing here asserts a speed: ``--quick`` only proves the harness works.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e
import impls

MB = 1_000_000  # throughput is in MB/s of wire bytes, MB = 10**6 bytes
COMMANDS = [
    b"EHLO client.example.org\r\n",
    b"MAIL FROM:<sender@example.org>\r\n",
    b"RCPT TO:<recipient@example.net>\r\n",
    b"DATA\r\n",
]
QUIT = b"QUIT\r\n"
DOT_LINE_SHARE = 0.01  # lines of the message that start with "." (stuffed on the wire)


def make_body(size: int, seed: int = 5) -> tuple[bytes, bytes]:
    """A message body of about ``size`` wire octets: (wire form, unstuffed form).

    Lines of 10 to 150 printable octets plus CRLF; 1 % of them start with a dot,
    which the client doubles on the wire."""
    rng = random.Random(seed)
    # "." among them, about one octet in 73, as in prose: a sink cannot skip the
    # text between the stuffed dots by looking for "." alone.
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.;:-+/=()"
    wire: list[bytes] = []
    plain: list[bytes] = []
    total = 0
    while total < size:
        line = bytes(rng.choices(alphabet, k=rng.randint(10, 150))).strip() or b"x"
        if rng.random() < DOT_LINE_SHARE:
            line = b"." + line
        plain.append(line + b"\r\n")
        wire_line = (b"." + line if line.startswith(b".") else line) + b"\r\n"
        wire.append(wire_line)
        total += len(wire_line)
    return b"".join(wire), b"".join(plain)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def memory_block(size: int = 65536) -> bytes:
    """Exactly ``size`` octets of whole body lines (for MEM, fed again and again)."""
    wire, _ = make_body(size - 200, seed=7)
    pad = size - len(wire) - 2
    return wire + b"x" * pad + b"\r\n"


# -- in-process workloads ------------------------------------------------------


@dataclass
class Workload:
    key: str
    title: str
    unit: str  # what one "unit" is: the ratio column compares the cost per unit
    rate_unit: str  # how the throughput column is labelled
    # impl name -> (sessions, units in them, mark for the half split or None)
    inputs: Callable[[str], tuple[impls.Sessions, float, int | None]]
    halves: bool = False
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)  # seconds per unit
    half_ratios: dict[str, list[float]] = field(default_factory=dict)


def build_workloads(quick: bool) -> list[Workload]:
    w1_sessions = 50 if quick else 5000
    w2_size = 200_000 if quick else 10 * MB
    w3_size = 20_000 if quick else 10 * MB
    w3_peer_size = 10_000 if quick else 1 * MB
    w4_repeat = 2 if quick else 50

    body_1k, _ = make_body(1000, seed=1)
    session_1k = [*COMMANDS, body_1k + b".\r\n", QUIT]
    body_10m, _ = make_body(w2_size, seed=2)
    w2_feeds = [*COMMANDS, *chunked(body_10m + b".\r\n", 65536), QUIT]

    w3_bodies: dict[int, bytes] = {}

    def w3_inputs(name: str) -> tuple[impls.Sessions, float, int | None]:
        size = w3_size if name in ("smtpstate", "baseline") else w3_peer_size
        if size not in w3_bodies:
            w3_bodies[size] = make_body(size, seed=3)[0]
        body = w3_bodies[size]
        feeds = [*COMMANDS, *chunked(body + b".\r\n", 7), QUIT]
        return [feeds], len(body) / MB, len(COMMANDS) + len(body) // 14

    pipelined = b"".join(
        [COMMANDS[0]] + [b"".join(COMMANDS[1:]) + body_1k + b".\r\n"] * 100 + [QUIT]
    )
    return [
        Workload(
            "W1",
            "W1: sessions of EHLO, MAIL, RCPT, DATA + 1 KB, QUIT; one command a feed",
            "session",
            "sessions/s",
            lambda name: ([session_1k] * w1_sessions, w1_sessions, None),
        ),
        Workload(
            "W2",
            f"W2: a {w2_size / MB:g} MB body, 1 % dot lines, in 64 KiB chunks",
            "MB",
            "MB/s",
            lambda name: ([w2_feeds], len(body_10m) / MB, None),
        ),
        Workload(
            "W3",
            f"W3: the body in 7-byte chunks ({w3_size / MB:g} MB for smtpstate and the "
            f"baseline, {w3_peer_size / MB:g} MB for aiosmtpd and smtpd)",
            "MB",
            "MB/s",
            w3_inputs,
            halves=True,
        ),
        Workload(
            "W4",
            f"W4: 100 transactions (1 KB bodies) pipelined in one buffer, x{w4_repeat} sessions",
            "transaction",
            "transactions/s",
            lambda name: ([[pipelined]] * w4_repeat, 100 * w4_repeat, None),
        ),
    ]


def verify(drivers: list) -> None:
    """Before timing: every driver must take the messages and deliver the
    unstuffed body, whole, for 1 KB, 64 KiB chunks and 7-byte chunks."""
    _, plain = make_body(20_000, seed=9)
    wire = make_body(20_000, seed=9)[0]
    for chunk in (len(wire) + 3, 65536, 7):
        feeds = [*COMMANDS, *chunked(wire + b".\r\n", chunk), QUIT]
        for driver in drivers:
            got: list[bytes] = []
            driver.deliver = got.append
            try:
                driver.run([feeds])
            finally:
                driver.deliver = impls.discard
            body = b"".join(got)
            if driver.name == "smtpd":  # smtpd hands over lines joined by LF
                ok = body == plain[:-2].replace(b"\r\n", b"\n")
            else:
                ok = body == plain
            if not ok:
                raise SystemExit(f"{driver.name} delivered a wrong body (chunks of {chunk})")


def measure(workloads: list[Workload], drivers: list, rounds: int, budget: float) -> None:
    """Round-robin repeats; a driver that has used ``budget`` seconds on a
    workload stops once it has at least ``min(3, rounds)`` samples."""
    for workload in workloads:
        print(f"  {workload.key} ...", file=sys.stderr, flush=True)
        spent = {d.name: 0.0 for d in drivers}
        prepared = {d.name: workload.inputs(d.name) for d in drivers}
        for round_no in range(rounds):
            for driver in drivers:
                samples = workload.samples.setdefault(driver.name, [])
                if spent[driver.name] > budget and len(samples) >= min(3, rounds):
                    continue
                sessions, units, mark = prepared[driver.name]
                start = time.perf_counter()
                marked = driver.run(sessions, mark)
                end = time.perf_counter()
                spent[driver.name] += end - start
                samples.append((end - start) / units)
                if workload.halves and marked is not None:
                    ratio = (end - marked) / (marked - start)
                    workload.half_ratios.setdefault(driver.name, []).append(ratio)
            if round_no == 0 and all(spent[d.name] > budget for d in drivers):
                break


def spread(samples: list[float]) -> float:
    return (max(samples) - min(samples)) / statistics.median(samples)


def workload_table(workloads: list[Workload]) -> str:
    rows = [
        "| workload | implementation | throughput (median) | cost per unit (median) "
        "| spread | cost / baseline | runs | 2nd/1st half |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        base = statistics.median(workload.samples["baseline"])
        for name, samples in workload.samples.items():
            cost = statistics.median(samples)
            halves = ""
            if workload.halves and name in workload.half_ratios:
                halves = f"{statistics.median(workload.half_ratios[name]):.2f}"
            rows.append(
                f"| {workload.key} | {name} | {1 / cost:,.0f} {workload.rate_unit} "
                f"| {format_seconds(cost)}/{workload.unit} | {spread(samples):.0%} "
                f"| {cost / base:.2f}x | {len(samples)} | {halves} |"
            )
    return "\n".join(rows)


def format_seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.2f} µs"


# -- MEM: a fresh process per implementation ----------------------------------


def mem_child(name: str, mode: str, chunks: int) -> None:
    """Receive one body of ``chunks`` x 64 KiB and print the peak growth (JSON)."""
    import resource
    import tracemalloc

    driver = next(cls for cls in impls.ALL if cls.name == name)()
    block = memory_block()
    # A driver takes a list of feeds; this list holds the same 64 KiB object
    # ``chunks`` times, so the input itself costs 8 bytes a chunk.
    feeds = [*COMMANDS, *([block] * chunks), b".\r\n", QUIT]
    driver.run([[*COMMANDS, b"RSET\r\n", QUIT]])  # warm up imports and caches
    if mode == "tracemalloc":
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        driver.run([feeds])
        growth = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        driver.run([feeds])
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    print(json.dumps({"growth": growth, "body": len(block) * chunks}))


def run_mem(names: list[str], chunks: int, timeout: float) -> str:
    rows = [
        "| implementation | body | peak growth, tracemalloc | peak growth, ru_maxrss "
        "| growth / body size |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        print(f"  MEM {name} ...", file=sys.stderr, flush=True)
        result = {}
        for mode in ("tracemalloc", "rss"):
            try:
                out = subprocess.run(
                    [
                        sys.executable,
                        os.path.abspath(__file__),
                        "--mem-child",
                        name,
                        mode,
                        str(chunks),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=True,
                )
                result[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            except (subprocess.SubprocessError, ValueError, IndexError) as error:
                result[mode] = {
                    "growth": float("nan"),
                    "body": 65536 * chunks,
                    "error": type(error).__name__,
                }
        body = result["tracemalloc"]["body"]
        traced = result["tracemalloc"]["growth"]
        rows.append(
            f"| {name} | {body / 2**20:.0f} MiB | {traced / 2**20:.2f} MiB "
            f"| {result['rss']['growth'] / 2**20:.2f} MiB | {traced / body:.3f} |"
        )
    return "\n".join(rows)


# -- main ----------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def versions(drivers: list) -> str:
    from importlib import metadata

    parts = [f"Python {platform.python_version()}"]
    for package in ("smtpstate", "aiosmtpd"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{package} {metadata.version(package)}")
    if any(d.name == "smtpd" for d in drivers):
        parts.append("smtpd (stdlib)")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run of everything")
    parser.add_argument("--skip-mem", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--only",
        choices=("inprocess", "mem", "e2e"),
        help="run one part only (E2E: narrowed further by the options below)",
    )
    e2e.add_options(parser.add_argument_group("E2E"))
    parser.add_argument(
        "--loadgen",
        choices=("auto", "bundled", "smtp-source"),
        default="auto",
        help="E2E load generator: Postfix's smtp-source where installed (auto), or not",
    )
    parser.add_argument(
        "--mem-child", nargs=3, metavar=("IMPL", "MODE", "CHUNKS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.mem_child:
        name, mode, chunks = args.mem_child
        mem_child(name, mode, int(chunks))
        return

    started = time.perf_counter()
    drivers = [cls() for cls in impls.ALL if cls.available()]
    missing = [cls.name for cls in impls.ALL if not cls.available()]
    command = "python " + " ".join(["benchmarks/run.py", *sys.argv[1:]])
    out = [
        f"Command: `{command}`  ",
        f"Date: {datetime.date.today().isoformat()}  ",
        f"Machine: {machine()}  ",
        f"Versions: {versions(drivers)}",
    ]
    if missing:
        out.append(f"\nNot importable here, so not measured: {', '.join(missing)}.")

    if args.only in (None, "inprocess"):
        print("verifying the drivers ...", file=sys.stderr, flush=True)
        verify(drivers)
        workloads = build_workloads(args.quick)
        print("in-process workloads ...", file=sys.stderr, flush=True)
        rounds, budget = (1, 0.5) if args.quick else (7, 25)
        measure(workloads, drivers, rounds=rounds, budget=budget)
        out += ["", "### In-process workloads", ""]
        out += [f"- {w.title}" for w in workloads]
        out += ["", workload_table(workloads)]

    if args.only == "mem" or (args.only is None and not args.skip_mem):
        chunks = 16 if args.quick else 1600
        out += [
            "",
            f"### MEM: one {chunks * 64 // 1024} MiB body in 64 KiB chunks, fresh process each",
            "",
        ]
        out.append(run_mem([d.name for d in drivers], chunks, timeout=60 if args.quick else 300))

    if args.only == "e2e" or (args.only is None and not args.skip_e2e):
        print("E2E over loopback ...", file=sys.stderr, flush=True)
        out += ["", "### E2E over 127.0.0.1", ""]
        out.append(e2e.run_all(args.quick, args.loadgen, **e2e.selection(args)))

    out += ["", f"Total time of this run: {time.perf_counter() - started:.0f} s"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
