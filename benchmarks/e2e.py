"""E2E over loopback: servers in their own processes, driven by Postfix's
``smtp-source`` where it is installed (Debian package ``postfix``; or set
``SMTP_SOURCE`` to the program), else by the bundled asyncio load generator.

    python benchmarks/e2e.py serve KIND   # a server on 127.0.0.1, port 0; KIND: see SERVE
    python benchmarks/e2e.py [--servers KEYS] [--clients N,N] [--sizes 1KB,1MB]  # E2E cells

Servers (``SERVERS``): the three example servers with ``--discard`` (asyncio,
socket, trio), the asyncio example delivering to a Maildir in a temporary
folder, aiosmtpd's ``Controller`` with a handler that drops the message, the
stdlib ``smtpd`` (Python <= 3.11) with a ``process_message`` that drops it, and
a minimal asyncio server built on ``baseline.py``; on request (``--servers``),
minimal trio and socket servers on it too, the floors of the trio and socket
examples. Each prints ``listening on 127.0.0.1:PORT`` once it accepts
connections, like the example servers do.

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
import functools
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
EXAMPLES = os.path.join(ROOT, "examples")


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


# The trio and socket sinks: BaselineSession under the fewest calls of each I/O
# model per read (one receive, one send of the replies it wrote), no timeouts.
READ_SIZE = 65536


async def _trio_sink(stream: Any) -> None:
    import trio

    out: list[bytes] = []
    session = BaselineSession(out.append, _drop)
    with contextlib.suppress(trio.BrokenResourceError):
        while True:
            if out:
                replies = b"".join(out)
                out.clear()
                await stream.send_all(replies)
            if session.closed:
                return
            data = await stream.receive_some(READ_SIZE)
            if not data:
                return
            session.feed(data)


def _serve_trio_baseline() -> None:
    import trio

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, _trio_sink, 0, host="127.0.0.1")
            )
            print(f"listening on 127.0.0.1:{listeners[0].socket.getsockname()[1]}", flush=True)

    trio.run(serve)


def _socket_sink(sock: socket.socket) -> None:
    out: list[bytes] = []
    session = BaselineSession(out.append, _drop)
    with sock, contextlib.suppress(OSError):
        while True:
            if out:
                replies = b"".join(out)
                out.clear()
                sock.sendall(replies)
            if session.closed:
                return
            data = sock.recv(READ_SIZE)
            if not data:
                return
            session.feed(data)


def _serve_socket_baseline() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    print(f"listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
    while True:  # until SIGTERM ends the process
        sock, _ = server.accept()
        threading.Thread(target=_socket_sink, args=(sock,), daemon=True).start()


def _serve_smtpd() -> None:
    import asyncore
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import smtpd

    class Sink(smtpd.SMTPServer):
        def process_message(self, *args: Any, **kwargs: Any) -> None:
            return None  # 250 OK

    server = Sink(("127.0.0.1", 0), None, decode_data=False)
    # smtpd listens with a backlog of 5: more clients connecting at once would
    # wait for SYN retries (a second each) and measure those instead.
    server.socket.listen(1024)
    print(f"listening on 127.0.0.1:{server.socket.getsockname()[1]}", flush=True)
    asyncore.loop(timeout=1)


def _serve_aiosmtpd() -> None:
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


def _example(script: str, *flags: str) -> list[str]:
    return [sys.executable, os.path.join(EXAMPLES, script), "--port", "0", *flags]


def _ours(kind: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), "serve", kind]


# Name -> command. A name in MAILDIR_SERVERS gets "--maildir DIR" (a temporary
# folder, emptied after every cell).
SERVERS = {
    "baseline": _ours("baseline"),
    "trio baseline": _ours("trio-baseline"),
    "socket baseline": _ours("socket-baseline"),
    "asyncio --discard": _example("asyncio_server.py", "--discard"),
    "asyncio Maildir": _example("asyncio_server.py"),
    "socket --discard": _example("socket_server.py", "--discard"),
    "trio --discard": _example("trio_server.py", "--discard"),
    "smtpd": _ours("smtpd"),
    "aiosmtpd": _ours("aiosmtpd"),
}
MAILDIR_SERVERS = {"asyncio Maildir"}
# Run only when --servers names them: the floors of the trio and socket examples.
ON_REQUEST = {"trio baseline", "socket baseline"}
# What --servers takes: a short key per server.
SERVER_KEYS = {
    "baseline": "baseline",
    "trio-baseline": "trio baseline",
    "socket-baseline": "socket baseline",
    "asyncio": "asyncio --discard",
    "asyncio-maildir": "asyncio Maildir",
    "socket": "socket --discard",
    "trio": "trio --discard",
    "smtpd": "smtpd",
    "aiosmtpd": "aiosmtpd",
}


def available(name: str) -> bool:
    import importlib.util
    import warnings

    base = name.removesuffix(" (other)")
    module = {
        "aiosmtpd": "aiosmtpd",
        "smtpd": "smtpd",
        "trio --discard": "trio",
        "trio baseline": "trio",
    }.get(base)
    if module is None:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.util.find_spec(module) is not None


# Every server runs with glibc's mmap threshold fixed at 1 MiB (and the heap
# trimmed only past 4 MiB, or the same buffer would move the break). asyncio's
# Protocol reads into a new 256 KiB bytes object per read (the minimal sink and
# aiosmtpd read that way). Left dynamic, the threshold is 128 KiB until the first
# large buffer is freed whole (a 1 MB message): that object cost an mmap, an
# mremap and a munmap per read before the first 1 MB cell and none after, and
# the sink's CPU per 1 KB message moved between about 50 and 200 µs with the
# order of the cells. Fixed, every read is served from the heap, in every cell.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=4194304"


class Server:
    """A server subprocess, stopped by its own PID when the block ends."""

    def __init__(self, command: list[str]) -> None:
        self.command = command

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES},
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
                self.port = int(match[1])
                return self
        self.__exit__()
        raise RuntimeError(f"server did not start: {self.command}")

    def cpu(self) -> float:
        """The server's CPU seconds so far, user and system, all its threads
        (Linux; NaN elsewhere). Steadier than its rate on a busy machine."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


async def load(
    port: int, clients: int, message: bytes, seconds: float, server_cpu: Callable[[], float]
) -> tuple[float, float]:
    """Messages per second for ``clients`` concurrent connections, and the
    server's CPU seconds per message."""
    done = [0]
    cpu = server_cpu()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.wait_for(
        asyncio.gather(*(_client(port, message, deadline, done) for _ in range(clients))),
        timeout=seconds + 60,
    )
    elapsed = time.perf_counter() - start
    return done[0] / elapsed, (server_cpu() - cpu) / max(1, done[0])


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


def load_smtp_source(
    program: str,
    port: int,
    clients: int,
    length: int,
    seconds: float,
    server_cpu: Callable[[], float],
) -> tuple[float, float]:
    """Messages per second with smtp-source: a short run sizes one of about
    ``seconds`` (bounded to 200,000 messages), which is the one measured; and
    the server's CPU seconds per message in it."""
    probe = clients * 5
    rate = probe / _smtp_source_run(program, port, clients, length, probe)
    count = min(200_000, max(clients, int(rate * seconds)))
    cpu = server_cpu()
    rate = count / _smtp_source_run(program, port, clients, length, count)
    return rate, (server_cpu() - cpu) / count


def run_all(
    quick: bool,
    loadgen: str = "auto",
    servers: list[str] | None = None,
    clients: list[int] | None = None,
    sizes: list[str] | None = None,
    repeats: int | None = None,
    other_examples: str | None = None,
) -> str:
    """The E2E table; ``loadgen`` is "bundled", "smtp-source" or "auto" (the
    latter where installed). ``servers`` (keys of ``SERVER_KEYS``), ``clients``,
    ``sizes`` ("1KB", "1MB") and ``repeats`` narrow the run; None: all.
    ``other_examples``: a folder holding another version of the example servers
    (an earlier commit's), each run beside the tree's as "NAME (other)"."""
    import run  # the body generator

    program = find_smtp_source() if loadgen != "bundled" else None
    if loadgen == "smtp-source" and program is None:
        raise RuntimeError("smtp-source is not installed (Debian package postfix)")

    all_sizes = {"1 KB": 1000, "1 MB": 1_000_000}
    if sizes is not None:
        all_sizes = {k: v for k, v in all_sizes.items() if k.replace(" ", "") in sizes}
    messages = {
        label: run.make_body(size, seed=11)[0] + b".\r\n" for label, size in all_sizes.items()
    }
    client_counts = clients or ((1, 10) if quick else (1, 10, 100))
    seconds, default_repeats = (0.2, 1) if quick else (1.5, 3)
    repeats = repeats or default_repeats
    if program is None and LOADGEN_CPUS is not None:
        os.sched_setaffinity(0, LOADGEN_CPUS)  # the bundled generator runs in this process
    if servers is None:
        wanted = [name for name in SERVERS if name not in ON_REQUEST]
    else:
        wanted = [SERVER_KEYS[key] for key in servers]
    if other_examples:  # the same example servers from another folder, beside these
        wanted = [twin for name in wanted for twin in (name, *_twin(name, other_examples))]
    if "baseline" not in wanted:
        wanted.insert(0, "baseline")  # the denominator
    names = [name for name in wanted if available(name)]
    missing = [name for name in wanted if name not in names]
    samples: dict[tuple[str, str, int], list[float]] = {}
    cpu_samples: dict[tuple[str, str, int], list[float]] = {}
    # All servers run at once (an idle one costs nothing) and the cells go
    # round-robin over them, so a busy spell of a shared machine hits them all.
    with contextlib.ExitStack() as stack:
        maildir = stack.enter_context(tempfile.TemporaryDirectory(prefix="e2e-maildir-"))
        servers_up: dict[str, Server] = {}
        for name in list(names):
            print(f"  E2E starting {name} ...", file=sys.stderr, flush=True)
            command = SERVERS[name]
            if name in MAILDIR_SERVERS:
                command = [*command, "--maildir", os.path.join(maildir, name.replace(" ", "-"))]
            try:
                servers_up[name] = stack.enter_context(Server(command))
            except RuntimeError:
                names.remove(name)
                missing.append(f"{name} (did not start)")
        for repeat in range(repeats):
            print(f"  E2E round {repeat + 1} of {repeats} ...", file=sys.stderr, flush=True)
            for label, message in messages.items():
                for count in client_counts:
                    for name in names:
                        server = servers_up[name]
                        if program is not None:
                            rate, cpu = load_smtp_source(
                                program, server.port, count, all_sizes[label], seconds, server.cpu
                            )
                        else:
                            rate, cpu = asyncio.run(
                                load(server.port, count, message, seconds, server.cpu)
                            )
                        samples.setdefault((name, label, count), []).append(rate)
                        cpu_samples.setdefault((name, label, count), []).append(cpu)
                        if name in MAILDIR_SERVERS:  # keep the disk and the folder small
                            _empty_maildir(os.path.join(maildir, name.replace(" ", "-")))
    if LOADGEN_CPUS is not None:
        os.sched_setaffinity(0, set(_CPUS))
    results = {key: statistics.median(rates) for key, rates in samples.items()}
    cpus = {key: statistics.median(values) for key, values in cpu_samples.items()}
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
        "| server | message | clients | messages/s | MB/s | vs baseline server | vs smtpd "
        "| server CPU per message | CPU vs baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, label, count), rate in sorted(
        results.items(), key=lambda item: (item[0][1], item[0][2], names.index(item[0][0]))
    ):
        ratios = []
        for other in ("baseline", "smtpd"):
            base = results.get((other, label, count))
            ratios.append(f"{rate / base:.2f}" if base else "")
        # smtp-source's own headers are not counted: MB/s is of the payload.
        size = (all_sizes[label] if program is not None else len(messages[label])) / 1e6
        cpu, base_cpu = cpus[(name, label, count)], cpus.get(("baseline", label, count))
        cpu_ratio = f"{cpu / base_cpu:.2f}" if base_cpu else ""
        rows.append(
            f"| {name} | {label} | {count} | {rate:,.0f} | {rate * size:,.1f} "
            f"| {ratios[0]} | {ratios[1]} | {cpu * 1e6:,.0f} µs | {cpu_ratio} |"
        )
    rows += ["", "Servers: " + "; ".join(f"{name}: {SERVER_NOTES[name]}" for name in names) + "."]
    if missing:
        rows += ["", f"Not run (not available here): {', '.join(missing)}."]
    return "\n".join(rows)


SERVER_NOTES = {
    "baseline": "a minimal asyncio `Protocol` on `benchmarks/baseline.py`",
    "trio baseline": "`BaselineSession` under `trio.serve_tcp`, one `receive_some` and one "
    "`send_all` a read",
    "socket baseline": "`BaselineSession` on blocking sockets, a thread per connection, one "
    "`recv` and one `sendall` a read",
    "asyncio --discard": "`examples/asyncio_server.py --discard`",
    "asyncio Maildir": "`examples/asyncio_server.py`, delivering to a Maildir (tmpfs or disk)",
    "socket --discard": "`examples/socket_server.py --discard` (a thread per connection)",
    "trio --discard": "`examples/trio_server.py --discard`",
    "smtpd": "the stdlib `smtpd.SMTPServer` (asyncore), dropping the message",
    "aiosmtpd": "aiosmtpd's `Controller`, dropping the message",
}


def _twin(name: str, folder: str) -> list[str]:
    """Register "NAME (other)", the example server ``name`` run from ``folder``."""
    command = SERVERS[name]
    if not (len(command) > 1 and command[1].startswith(EXAMPLES + os.sep)):
        return []  # not an example server
    twin = f"{name} (other)"
    SERVERS[twin] = [command[0], os.path.join(folder, os.path.basename(command[1])), *command[2:]]
    SERVER_NOTES[twin] = f"the same from {folder}"
    if name in MAILDIR_SERVERS:
        MAILDIR_SERVERS.add(twin)
    return [twin]


def _empty_maildir(path: str) -> None:
    for sub in ("new", "tmp"):
        folder = os.path.join(path, sub)
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(folder):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="E2E servers over loopback")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--loadgen", choices=("auto", "bundled", "smtp-source"), default="auto")
    add_options(parser)
    args = parser.parse_args(argv)
    print(run_all(args.quick, args.loadgen, **selection(args)))


def add_options(parser: Any) -> None:
    """The options that narrow an E2E run (shared with run.py)."""
    parser.add_argument(
        "--servers",
        type=lambda text: text.split(","),
        metavar="KEYS",
        help=f"comma-separated, of {','.join(SERVER_KEYS)} (the baseline always runs)",
    )
    parser.add_argument(
        "--clients", type=lambda text: [int(n) for n in text.split(",")], metavar="N,N"
    )
    parser.add_argument("--sizes", type=lambda text: text.split(","), metavar="1KB,1MB")
    parser.add_argument("--repeats", type=int, metavar="N")
    parser.add_argument(
        "--other-examples",
        metavar="DIR",
        help="also run the example servers found in DIR (e.g. an earlier commit's examples/)",
    )


def selection(args: Any) -> dict[str, Any]:
    return {
        "servers": args.servers,
        "clients": args.clients,
        "sizes": args.sizes,
        "repeats": args.repeats,
        "other_examples": args.other_examples,
    }


# What `e2e.py serve KIND` runs.
SERVE: dict[str, Callable[[], object]] = {
    "baseline": lambda: asyncio.run(_serve_baseline()),
    "trio-baseline": _serve_trio_baseline,
    "socket-baseline": _serve_socket_baseline,
    "aiosmtpd": _serve_aiosmtpd,
    "smtpd": _serve_smtpd,
}


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        SERVE[sys.argv[2]]()
    else:
        main()
