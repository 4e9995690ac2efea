"""Scale-out behind a PROXY-protocol load balancer: HAProxy from the distribution,
started on loopback with examples/haproxy/haproxy.cfg (ports from the environment),
spreads smtplib sessions over three example servers (one per adapter) with
send-proxy-v2. Every message must arrive exactly once, and its Received: header must name the real
client (127.0.0.1 and the client's own source port), not HAProxy's connection."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import EXAMPLES, HOST, START_TIMEOUT, STOP_TIMEOUT, Server, require, stop_all

CONFIG = EXAMPLES / "haproxy" / "haproxy.cfg"
MESSAGES = 60
SENDER = "sender@client.test"


def find_haproxy() -> str:
    """haproxy lives in /usr/sbin on Debian, which a user's PATH may lack."""
    path = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    require("haproxy", path is not None)
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_example(adapter: str, tmp_path: Path, n: int) -> Server:
    """One example server with --proxy-protocol on a free port, by its
    ``listening on`` line (as the conftest fixture does)."""
    box, out, err = tmp_path / f"maildir{n}", tmp_path / f"out{n}.txt", tmp_path / f"err{n}.txt"
    command = [sys.executable, str(EXAMPLES / f"{adapter}.py"), "--host", HOST, "--port", "0"]
    command += ["--hostname", f"mx{n}.test", "--maildir", str(box), "--proxy-protocol"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    server = Server(adapter, proc, 0, box, out, err)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        first = out.read_bytes().split(b"\n", 1)
        if len(first) == 2:
            server.port = int(first[0].rsplit(b":", 1)[1])
            return server
        time.sleep(0.02)
    server.stop()
    pytest.fail(f"{adapter} did not start: {err.read_text()}")


def stop_haproxy(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


def wait_for_greeting(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """HAProxy is up when a session through it gets a server's 220."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"haproxy exited: {log.read_text(errors='replace')}")
        with (
            contextlib.suppress(OSError, smtplib.SMTPException),
            smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=5) as smtp,
        ):
            if smtp.noop()[0] == 250:
                return
        time.sleep(0.1)
    pytest.fail(f"no greeting through haproxy: {log.read_text(errors='replace')}")


def send_one(port: int, n: int) -> tuple[str, int]:
    """One session, one message; returns (its unique id, the client's source port)."""
    tag = f"m{n}-{uuid.uuid4().hex}"
    data = f"From: {SENDER}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@client.test>\r\n\r\n{tag}\r\n"
    with smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=30) as smtp:
        assert smtp.sock is not None
        source_port: int = smtp.sock.getsockname()[1]
        assert smtp.sendmail(SENDER, [f"r{n}@mx.test"], data.encode()) == {}
    return tag, source_port


def test_haproxy_spreads_sessions_and_servers_see_the_real_client(tmp_path: Path) -> None:
    haproxy = find_haproxy()
    adapters = ["socket_server", "asyncio_server", "trio_server"]
    if importlib.util.find_spec("trio") is None:
        require("trio", False)
    servers: list[Server] = []
    proc: subprocess.Popen[bytes] | None = None
    try:
        for n, adapter in enumerate(adapters, 1):
            servers.append(start_example(adapter, tmp_path, n))
        listen = free_port()
        env = dict(os.environ, SMTP_LISTEN=f"{HOST}:{listen}")
        for n, server in enumerate(servers, 1):
            env[f"SMTP_BACKEND_{n}"] = f"{HOST}:{server.port}"
        log = tmp_path / "haproxy.txt"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [haproxy, "-db", "-f", str(CONFIG)], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        wait_for_greeting(listen, proc, log)

        with ThreadPoolExecutor(max_workers=8) as pool:
            sent = dict(pool.map(lambda n: send_one(listen, n), range(MESSAGES)))
        assert len(sent) == MESSAGES

        def files() -> list[Path]:
            return [path for server in servers for path in server.new()]

        deadline = time.monotonic() + 10
        while len(files()) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.05)
        arrived: Counter[str] = Counter()
        relay_ports: list[int] = []  # HAProxy's own source ports, toward the servers
        for server in servers:
            for path in server.new():
                raw = path.read_bytes()
                tag = re.search(rb"^Message-ID: <([^@]+)@", raw, re.M)
                assert tag, raw[:500]
                name = tag.group(1).decode()
                arrived[name] += 1
                head = raw[: raw.index(b"\r\nFrom: ")].replace(b"\r\n\t", b" ")
                # The client as HAProxy saw it: loopback, and its own source port;
                # HAProxy's connection to the server is only named as the relay.
                assert head.split(b"\r\n")[1].startswith(
                    b"Received: from client.test ([127.0.0.1]) by mx"
                ), head
                relay = re.search(
                    rb"\(client port (\d+); PROXY v2 from \[127\.0\.0\.1\]:(\d+)\);", head
                )
                assert relay, head
                assert int(relay.group(1)) == sent[name]
                relay_ports.append(int(relay.group(2)))
        assert arrived == Counter({name: 1 for name in sent})  # every message, once
        # The client port is not HAProxy's: one pair may match by chance (two
        # connections, two 4-tuples), not every pair.
        assert sorted(relay_ports) != sorted(sent.values())
        per_server = [len(server.new()) for server in servers]
        assert sum(per_server) == MESSAGES and all(per_server), per_server
        assert all(server.tmp() == [] for server in servers)
    finally:
        if proc is not None:
            stop_haproxy(proc)
        stop_all(servers)
