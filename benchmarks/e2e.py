"""E2E over loopback: servers in their own processes, driven by Postfix's
``smtp-source`` where it is installed (Debian package ``postfix``; or set
``SMTP_SOURCE`` to the program), else by the bundled asyncio load generator.

    python benchmarks/e2e.py serve baseline|aiosmtpd   # a server on 127.0.0.1, port 0

Servers: the asyncio example server (``examples/asyncio_server.py --discard``),
aiosmtpd's ``Controller`` with a handler that drops the message, and a minimal
asyncio server built on ``baseline.py``. Each prints ``listening on
127.0.0.1:PORT`` once it accepts connections, like the example server does.

Both generators do the same per client: one connection, a greeting (EHLO for
the bundled one, HELO for ``smtp-source``), then transactions (MAIL, RCPT,
DATA, body) one command at a time, waiting for each reply; then QUIT. The
bundled generator sends until the time is up; ``smtp-source`` sends a count of
messages, sized from a short first run to take about as long. Messages/s counts
completed transactions over the wall-clock time of the whole cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from baseline import BaselineSession

HERE = os.path.dirname(os.path.abspath(__file__))

# With two CPUs or more, the servers run on one and the load generator on
# another, so that they do not take turns on the same core: on a shared 2-core
# machine that turn-taking moved the servers' rates by 2x between runs.
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
SERVER_CPUS, LOADGEN_CPUS = ({_CPUS[0]}, {_CPUS[1]}) if len(_CPUS) >= 2 else (None, None)


def _pinned(cpus: set[int] | None) -> Any:
    """A ``preexec_fn`` that runs the child on ``cpus`` (None: anywhere)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


ROOT = os.path.dirname(HERE)
EXAMPLE = os.path.join(ROOT, "examples", "asyncio_server.py")


# -- servers -------------------------------------------------------------------


class _BaselineProtocol(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.session = BaselineSession(transport.write, _drop)

    def data_received(self, data: bytes) -> None:
        self.session.feed(data)
        if self.session.closed:
            self.transport.close()


def _drop(data: bytes) -> None:
    pass


async def _serve_baseline() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_BaselineProtocol, "127.0.0.1", 0)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def _serve_aiosmtpd() -> None:
    import socket

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    with socket.socket() as probe:  # Controller wants a port number: find a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="bench")
    controller.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


SERVERS = {
    "baseline": [sys.executable, os.path.abspath(__file__), "serve", "baseline"],
    "aiosmtpd": [sys.executable, os.path.abspath(__file__), "serve", "aiosmtpd"],
    "smtpstate (examples/asyncio_server.py --discard)": [
        sys.executable,
        EXAMPLE,
        "--port",
        "0",
        "--discard",
    ],
}


def available(name: str) -> bool:
    if name == "aiosmtpd":
        try:
            import aiosmtpd.controller  # noqa: F401
        except ImportError:
            return False
    if name.startswith("smtpstate"):
        return os.path.exists(EXAMPLE)
    return True


class Server:
    """A server subprocess, stopped by its own PID when the block ends."""

    def __init__(self, command: list[str]) -> None:
        self.command = command

    def __enter__(self) -> int:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            preexec_fn=_pinned(SERVER_CPUS),
        )
        deadline = time.monotonic() + 20
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                return int(match[1])
        self.__exit__()
        raise RuntimeError(f"server did not start: {self.command}")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- load generator ----------------------------------------------------------------


async def _reply(reader: asyncio.StreamReader, expect: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line.startswith(expect):
            raise RuntimeError(f"expected {expect!r}, got {line!r}")
        if line[3:4] != b"-":
            return


async def _client(port: int, message: bytes, deadline: float, done: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _reply(reader, b"220")
        writer.write(b"EHLO loadgen.example.org\r\n")
        await _reply(reader, b"250")
        while time.perf_counter() < deadline:
            writer.write(b"MAIL FROM:<sender@example.org>\r\n")
            await _reply(reader, b"250")
            writer.write(b"RCPT TO:<recipient@example.net>\r\n")
            await _reply(reader, b"250")
            writer.write(b"DATA\r\n")
            await _reply(reader, b"354")
            writer.write(message)
            await writer.drain()
            await _reply(reader, b"250")
            done[0] += 1
        writer.write(b"QUIT\r\n")
        await _reply(reader, b"221")
    finally:
        writer.close()


async def load(port: int, clients: int, message: bytes, seconds: float) -> float:
    """Messages per second for ``clients`` concurrent connections."""
    done = [0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.wait_for(
        asyncio.gather(*(_client(port, message, deadline, done) for _ in range(clients))),
        timeout=seconds + 60,
    )
    return done[0] / (time.perf_counter() - start)


def find_smtp_source() -> str | None:
    """Postfix's smtp-source: ``SMTP_SOURCE``, else on PATH, else Debian's place."""
    found = os.environ.get("SMTP_SOURCE") or shutil.which("smtp-source")
    if found is None and os.access("/usr/sbin/smtp-source", os.X_OK):
        found = "/usr/sbin/smtp-source"
    return found


def _smtp_source_run(program: str, port: int, clients: int, length: int, count: int) -> float:
    """Seconds for ``count`` messages of ``length`` payload octets, ``clients``
    connections at once, each kept open for all its messages (-d)."""
    command = [
        program,
        *("-s", str(clients), "-m", str(count), "-l", str(length), "-d"),
        *("-M", "loadgen.example.org", "-f", "sender@example.org"),
        *("-t", "recipient@example.net", f"127.0.0.1:{port}"),
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, preexec_fn=_pinned(LOADGEN_CPUS)
    )
    if done.returncode != 0:
        raise RuntimeError(f"smtp-source failed: {done.stderr.strip()}")
    return time.perf_counter() - start


def load_smtp_source(program: str, port: int, clients: int, length: int, seconds: float) -> float:
    """Messages per second with smtp-source: a short run sizes one of about
    ``seconds`` (bounded to 200,000 messages), which is the one measured."""
    probe = clients * 5
    rate = probe / _smtp_source_run(program, port, clients, length, probe)
    count = min(200_000, max(clients, int(rate * seconds)))
    return count / _smtp_source_run(program, port, clients, length, count)


def run_all(quick: bool, loadgen: str = "auto") -> str:
    """The E2E table; ``loadgen`` is "bundled", "smtp-source" or "auto" (the
    latter where installed)."""
    import run  # the body generator

    program = find_smtp_source() if loadgen != "bundled" else None
    if loadgen == "smtp-source" and program is None:
        raise RuntimeError("smtp-source is not installed (Debian package postfix)")

    sizes = {"1 KB": 1000, "1 MB": 1_000_000}
    messages = {label: run.make_body(size, seed=11)[0] + b".\r\n" for label, size in sizes.items()}
    client_counts = (1, 10) if quick else (1, 10, 100)
    seconds, repeats = (0.2, 1) if quick else (1.5, 3)
    if program is None and LOADGEN_CPUS is not None:
        os.sched_setaffinity(0, LOADGEN_CPUS)  # the bundled generator runs in this process
    names = [name for name in SERVERS if available(name)]
    missing = [name for name in SERVERS if name not in names]
    samples: dict[tuple[str, str, int], list[float]] = {}
    # All servers run at once (an idle one costs nothing) and the cells go
    # round-robin over them, so a busy spell of a shared machine hits them all.
    with contextlib.ExitStack() as stack:
        ports = {}
        for name in list(names):
            print(f"  E2E starting {name} ...", file=sys.stderr, flush=True)
            try:
                ports[name] = stack.enter_context(Server(SERVERS[name]))
            except RuntimeError:
                names.remove(name)
                missing.append(f"{name} (did not start)")
        for repeat in range(repeats):
            print(f"  E2E round {repeat + 1} of {repeats} ...", file=sys.stderr, flush=True)
            for label, message in messages.items():
                for clients in client_counts:
                    for name in names:
                        if program is not None:
                            size = sizes[label]
                            rate = load_smtp_source(program, ports[name], clients, size, seconds)
                        else:
                            rate = asyncio.run(load(ports[name], clients, message, seconds))
                        samples.setdefault((name, label, clients), []).append(rate)
    if LOADGEN_CPUS is not None:
        os.sched_setaffinity(0, set(_CPUS))
    results = {key: statistics.median(rates) for key, rates in samples.items()}
    generator = (
        "Postfix's `smtp-source` (`-d`, HELO, one command at a time per client; "
        "payload of 1,000 and 1,000,000 octets plus its headers)"
        if program is not None
        else "`benchmarks/e2e.py` (asyncio, one command at a time per client)"
    )
    pinning = (
        f" Servers on CPU {min(SERVER_CPUS)}, load generator on CPU {min(LOADGEN_CPUS)}."
        if SERVER_CPUS is not None and LOADGEN_CPUS is not None
        else ""
    )
    rows = [
        f"Load generator: {generator}, {repeats} x {seconds:g} s per cell, "
        f"round-robin over the servers, median.{pinning}",
        "",
        "| server | message | clients | messages/s | MB/s | vs baseline server |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (name, label, clients), rate in results.items():
        base = results.get(("baseline", label, clients))
        ratio = f"{rate / base:.2f}" if base else ""
        # smtp-source's own headers are not counted: MB/s is of the payload.
        size = (sizes[label] if program is not None else len(messages[label])) / 1e6
        rows.append(
            f"| {name} | {label} | {clients} | {rate:,.0f} | {rate * size:,.1f} | {ratio} |"
        )
    if missing:
        rows += ["", f"Not run (not available here): {', '.join(missing)}."]
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and sys.argv[2:3] == ["baseline"]:
        asyncio.run(_serve_baseline())
    elif sys.argv[1:2] == ["serve"] and sys.argv[2:3] == ["aiosmtpd"]:
        _serve_aiosmtpd()
    else:
        raise SystemExit(__doc__)
