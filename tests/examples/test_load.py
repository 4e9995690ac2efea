"""Load, cut-offs, timeouts and back-pressure against each example server, run as
a real process on 127.0.0.1 (the hardening guarantees of docs/security.md).

Every loop here is bounded in count and in time; random choices are seeded.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import random
import re
import resource
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import EXAMPLES, HOST, RawClient, Server, StartServer

CLIENTS = 200
MESSAGES_PER_CLIENT = 10
MAX_BODY = 256 * 1024
SIZE_LIMIT = 200 * 1024  # bodies above it get 552 (RFC 1870), so some answers are not 250
LOAD_DEADLINE = 120.0  # seconds for the whole load run of one server
ID_HEADER = re.compile(rb"^X-Load-Id: (\S+)\r\n", re.MULTILINE)


@pytest.fixture(autouse=True)
def _enough_descriptors() -> None:
    """1000 sockets at once, and the server started from this process inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 1200, "fd limit too low for the test"


Client = RawClient


def make_message(rng: random.Random, ident: str, bad: bool) -> bytes:
    """A message of random size up to MAX_BODY with its id in a header; some lines
    start with a dot; ``bad`` puts a bare LF in it (550 under the default policy)."""
    size = rng.randrange(0, MAX_BODY)
    raw = base64.b64encode(rng.randbytes(size * 3 // 4))
    lines = [raw[i : i + 76] for i in range(0, len(raw), 76)]
    for i in range(0, len(lines), 7):
        lines[i] = b"." + lines[i]  # dot-stuffing on the way in, unstuffing at the server
    if bad and lines:
        lines[len(lines) // 2] += b"\nsmuggled"
    head = b"X-Load-Id: " + ident.encode() + b"\r\nSubject: load\r\n\r\n"
    return head + b"".join(line + b"\r\n" for line in lines)


def stuff(message: bytes) -> bytes:
    """RFC 5321 4.5.2: double a dot at the start of a line; add the terminator."""
    return message.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def delivered(server: Server) -> dict[str, list[bytes]]:
    """Each delivered message (from its id header on), by id."""
    found: dict[str, list[bytes]] = {}
    for path in server.new():
        data = path.read_bytes()
        match = ID_HEADER.search(data)
        assert match, f"a delivered file without an id: {path.name}"
        found.setdefault(match.group(1).decode(), []).append(data[match.start() :])
    return found


def assert_still_serving(server: Server) -> None:
    with server.smtp(timeout=30) as smtp:
        refused = smtp.sendmail("a@client.test", ["b@mx.test"], b"X-Load-Id: alive\r\n\r\nhi\r\n")
    assert refused == {}
    assert server.wait_until(lambda: "alive" in delivered(server), 10)


def run_bounded(jobs: list[Callable[[], None]], workers: int, deadline: float) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        end = time.monotonic() + deadline
        for future in futures:
            future.result(timeout=max(0.1, end - time.monotonic()))


# -- load ------------------------------------------------------------------------------


def test_200_clients_10_messages_each(start_server: StartServer) -> None:
    """200 concurrent connections, 10 messages each, random sizes up to 256 KB:
    every message answered 250 is in the Maildir exactly once with the body sent,
    and no message answered otherwise is there."""
    server = start_server("--max-message-size", str(SIZE_LIMIT))
    rng = random.Random(6)
    plans = []
    for c in range(CLIENTS):
        seed = rng.randrange(1 << 30)
        plans.append((c, seed))
    answers: dict[str, tuple[int, str]] = {}  # id -> (code of the end of data, sha256)
    lock = threading.Lock()
    start_barrier = threading.Barrier(CLIENTS, timeout=60)

    def client(c: int, seed: int) -> None:
        crng = random.Random(seed)
        start_barrier.wait()  # all 200 connect at once
        smtp = Client(server.port)
        try:
            assert smtp.reply().startswith(b"220")
            assert smtp.code(b"EHLO load.test") == 250
            for m in range(MESSAGES_PER_CLIENT):
                ident = f"{c}.{m}"
                message = make_message(crng, ident, bad=crng.random() < 0.05)
                # RFC 2920: MAIL, RCPT and DATA in one write.
                smtp.sock.sendall(b"MAIL FROM:<a@load.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n")
                assert [smtp.reply()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
                smtp.sock.sendall(stuff(message))
                code = int(smtp.reply()[:3])
                with lock:
                    answers[ident] = (code, hashlib.sha256(message).hexdigest())
            assert smtp.code(b"QUIT") == 221
        finally:
            smtp.close()

    began = time.monotonic()
    run_bounded([functools.partial(client, c, s) for c, s in plans], CLIENTS, LOAD_DEADLINE)
    elapsed = time.monotonic() - began
    accepted = {i for i, (code, _) in answers.items() if code == 250}
    refused = set(answers) - accepted
    assert len(answers) == CLIENTS * MESSAGES_PER_CLIENT
    assert {code for code, _ in answers.values()} <= {250, 550, 552}
    assert refused, "the run should include refused messages"
    found = delivered(server)
    assert server.tmp() == []
    assert set(found) == accepted, (len(found), len(accepted))
    for ident, copies in found.items():
        assert len(copies) == 1, f"{ident} delivered {len(copies)} times"
        assert hashlib.sha256(copies[0]).hexdigest() == answers[ident][1], ident
    print(
        f"\n{server.adapter}: {len(answers)} messages, {len(accepted)} accepted and delivered, "
        f"{len(refused)} refused, {elapsed:.1f} s"
    )


# -- cut-offs --------------------------------------------------------------------------

CUT_CLIENTS = 120


def test_clients_that_disconnect_at_random_points(start_server: StartServer) -> None:
    """Cut-offs mid-command, mid-body and right after the terminator (with FIN or
    RST): no partial mail, every complete one at most once, the server still serves."""
    server = start_server()
    rng = random.Random(7)
    plans = [
        (
            i,
            rng.choice(["command", "body", "terminator"]),
            rng.random() < 0.5,
            rng.randrange(1 << 30),
        )
        for i in range(CUT_CLIENTS)
    ]
    sent: dict[str, bytes] = {}

    def client(i: int, where: str, reset: bool, seed: int) -> None:
        crng = random.Random(seed)
        smtp = Client(server.port, timeout=30)
        try:
            assert smtp.reply().startswith(b"220")
            assert smtp.code(b"EHLO cut.test") == 250
            if where == "command":
                smtp.sock.sendall(b"MAIL FROM:<a@cut.test>\r\nRCPT TO:<b@mx")
                return
            assert smtp.code(b"MAIL FROM:<a@cut.test>") == 250
            assert smtp.code(b"RCPT TO:<b@mx.test>") == 250
            assert smtp.code(b"DATA") == 354
            message = make_message(crng, f"cut.{i}", bad=False)
            wire = stuff(message)
            if where == "body":
                # Anywhere short of the final CRLF.CRLF, which is never complete.
                smtp.sock.sendall(wire[: crng.randrange(0, len(wire) - 2)])
            else:
                sent[f"cut.{i}"] = message
                smtp.sock.sendall(wire)  # and go without reading the reply
        finally:
            smtp.close(reset)

    run_bounded([functools.partial(client, *p) for p in plans], 40, 60)
    assert_still_serving(server)
    assert server.wait_until(lambda: server.tmp() == [], 10), server.tmp()
    found = delivered(server)
    for ident, copies in found.items():
        if ident == "alive":
            continue
        assert ident in sent, f"{ident} was cut off but delivered"
        assert copies == [sent[ident]], ident


def test_1000_connections_opened_and_dropped_at_once(server: Server) -> None:
    """A burst of connections that are dropped at once (half with RST): the server
    keeps serving."""
    socks = []
    try:
        for i in range(1000):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((HOST, server.port))
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            socks.append(s)
        time.sleep(0.5)
    finally:
        for s in socks:
            s.close()
    assert_still_serving(server)
    assert server.proc.poll() is None


# -- back-pressure ---------------------------------------------------------------------


def test_client_that_never_reads_is_held_back_then_dropped(start_server: StartServer) -> None:
    """A client that pipelines EHLOs (a short command with a long reply) and never
    reads: the server stops reading once its replies cannot be written (it queues
    at most WRITE_THRESHOLD plus the kernel buffers), then drops the client when
    the write times out."""
    server = start_server("--idle-timeout", "3")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((HOST, server.port))
    sock.sendall(b"EHLO slow.test\r\n")
    sock.setblocking(False)
    chunk = b"EHLO x\r\n" * 8_000
    total, cap, began = 0, 64 * 1024 * 1024, time.monotonic()
    blocked = False
    while total < cap and time.monotonic() - began < 30:
        _, writable, _ = select.select([], [sock], [], 1.0)
        if not writable:
            blocked = True  # the server no longer reads: back-pressure
            break
        try:
            total += sock.send(chunk)
        except BlockingIOError:
            continue
    assert blocked, f"sent {total} octets without being held back"
    assert total < cap
    # Meanwhile another client is served.
    assert_still_serving(server)
    # Still without reading: the stalled write times out (3 s) and the server
    # closes; with our commands unread in its buffer, that is a reset.
    end = time.monotonic() + 30
    closed = False
    while not closed and time.monotonic() < end:
        time.sleep(0.5)
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            closed = True
            break
        try:
            closed = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed = True
    sock.close()
    assert closed, "the server kept a client that never reads"


# -- timeouts (RFC 5321 4.5.3.2) -----------------------------------------------------

TINY = "0.5"
PHASES = {
    # flag: the commands that bring the session to the phase
    "--initial-timeout": [],
    "--idle-timeout": [b"EHLO t.test"],
    "--mail-timeout": [b"EHLO t.test", b"MAIL FROM:<a@t.test>"],
    "--rcpt-timeout": [b"EHLO t.test", b"MAIL FROM:<a@t.test>", b"RCPT TO:<b@mx.test>"],
    "--data-init-timeout": [
        b"EHLO t.test",
        b"MAIL FROM:<a@t.test>",
        b"RCPT TO:<b@mx.test>",
        b"DATA",
    ],
    "--data-timeout": [
        b"EHLO t.test",
        b"MAIL FROM:<a@t.test>",
        b"RCPT TO:<b@mx.test>",
        b"DATA",
        b"Subject: x",
    ],
}
ALL_TIMEOUTS = [*PHASES, "--data-term-timeout"]


@pytest.mark.parametrize("flag", list(PHASES))
def test_each_phase_timeout_answers_421_4_4_2(start_server: StartServer, flag: str) -> None:
    """Only the phase's own timeout is tiny; it fires there, with 421 4.4.2, and
    the connection is closed; an unfinished message is not delivered."""
    args = [a for f in ALL_TIMEOUTS for a in (f, TINY if f == flag else "60")]
    server = start_server(*args)
    client = Client(server.port, timeout=20)
    assert client.reply().startswith(b"220")
    for line in PHASES[flag]:
        client.sock.sendall(line + b"\r\n")
        if not line.startswith(b"Subject"):
            assert client.reply()[:1] in (b"2", b"3")
    began = time.monotonic()
    assert client.reply().startswith(b"421 4.4.2 ")
    assert time.monotonic() - began < 15
    assert client.sock.recv(100) == b""
    client.close()
    assert server.wait_until(lambda: server.tmp() == [])
    assert server.new() == []


def test_message_deadline_stops_a_trickling_client(start_server: StartServer) -> None:
    """A body trickled a byte at a time, each well within the data-block timeout,
    still ends with 421 4.4.2 once the per-message deadline is past."""
    server = start_server("--message-deadline", "1.5", "--data-timeout", "60")
    client = Client(server.port, timeout=20)
    assert client.reply().startswith(b"220")
    for line in PHASES["--data-init-timeout"]:
        assert client.command(line)[:1] in (b"2", b"3")
    began = time.monotonic()
    answer = b""
    for byte in (b"Subject: slow\r\n\r\n" + b"x" * 200)[:200]:
        try:
            client.sock.sendall(bytes([byte]))
        except OSError:
            break
        ready, _, _ = select.select([client.sock], [], [], 0.1)
        if ready:
            answer = client.reply()
            break
    else:  # pragma: no cover
        pytest.fail("the trickle was never cut off")
    assert answer.startswith(b"421 4.4.2 ")
    assert 1.0 < time.monotonic() - began < 15
    client.close()
    assert server.wait_until(lambda: server.tmp() == [])
    assert server.new() == []


def test_timeouts_per_phase_in_the_session() -> None:
    """Session.timeout picks the RFC 5321 4.5.3.2 timeout of the phase, the body's
    is capped by the message deadline, and the reply to a body may take the DATA
    termination timeout (4.5.3.2.6) to write."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _config  # type: ignore[import-not-found]
        import _policy  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    from smtpstate import NEED_DATA, Command

    config = _config.Config(
        maildir=".",
        discard=True,
        initial_timeout=1,
        idle_timeout=2,
        mail_timeout=3,
        rcpt_timeout=4,
        data_init_timeout=5,
        data_timeout=6,
        data_term_timeout=7,
        message_deadline=100,
    )
    session = _policy.Session(config, None)
    session.greeting()
    seen = [session.timeout]

    def feed(data: bytes) -> None:
        session.conn.receive_data(data)
        while (event := session.conn.next_event()) is not NEED_DATA:
            session.handle(event)
            if isinstance(event, Command):
                assert session.write_timeout == (7 if b"." in data[-3:] else session.timeout)
                session.written()

    for line in (b"EHLO c\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<c@d>\r\n", b"DATA\r\n"):
        feed(line)
        seen.append(session.timeout)
    feed(b"Subject: x\r\n")
    seen.append(session.timeout)
    feed(b".\r\n")
    seen.append(session.timeout)
    assert seen == [1, 2, 3, 4, 5, 6, 2]
    short = _policy.Session(_config.Config(maildir=".", discard=True, message_deadline=0.5), None)
    short.greeting()
    short.conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
    while (event := short.conn.next_event()) is not NEED_DATA:
        short.handle(event)
    assert short.timeout <= 0.5
    time.sleep(0.6)
    assert short.timeout == 0.001  # the deadline is past: the next read times out at once
    assert short.timed_out().startswith(b"421 4.4.2 ")


# -- error budget and strict pipelining flags ------------------------------------------


def test_max_errors_flag(start_server: StartServer) -> None:
    server = start_server("--max-errors", "3")
    client = Client(server.port, timeout=20)
    assert client.reply().startswith(b"220")
    assert [client.code(b"XYZZY") for _ in range(3)] == [500, 500, 500]
    assert client.reply().startswith(b"421 4.7.0 ")
    assert client.sock.recv(100) == b""
    client.close()


def test_strict_pipelining_flag(start_server: StartServer) -> None:
    """RFC 2920 3.1: EHLO ends a group; input sent with it gets 554 5.5.0 and close."""
    server = start_server("--strict-pipelining")
    client = Client(server.port, timeout=20)
    assert client.reply().startswith(b"220")
    assert client.code(b"EHLO ok.test") == 250  # waiting for each reply is fine
    client.sock.sendall(b"NOOP\r\nHELO early.test\r\nNOOP\r\n")
    replies = [client.reply()]
    with contextlib.suppress(EOFError):
        replies.append(client.reply())
    assert replies[-1].startswith(b"554 5.5.0 "), replies
    client.close()
