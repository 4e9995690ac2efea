"""Fixtures for the example-server tests: each example runs as a real process on
127.0.0.1 (``--port 0``) with a temporary Maildir, and is stopped by PID."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADAPTERS = ["socket_server", "asyncio_server", "trio_server"]
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def take_reply(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The first whole reply in ``buffer`` (its last line has a space after the
    code) and what follows it, or None while the reply is incomplete."""
    start = 0
    while (end := buffer.find(b"\r\n", start)) >= 0:
        if buffer[start + 3 : start + 4] == b" ":
            return buffer[: end + 2], buffer[end + 2 :]
        start = end + 2
    return None


class RawClient:
    """A bare-socket SMTP client for what smtplib will not do (cut off,
    pipeline, BDAT, XCLIENT): it reads whole replies, the last line of which has
    a space after the code."""

    def __init__(self, port: int, timeout: float = 60.0, greeting: bool = False) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buffer = b""
        if greeting:
            assert self.reply().startswith(b"220 "), self.buffer

    def reply(self) -> bytes:
        """One whole reply; EOFError if the server closes first."""
        while True:
            whole = take_reply(self.buffer)
            if whole is not None:
                reply, self.buffer = whole
                return reply
            data = self.sock.recv(65536)  # bounded by the socket timeout
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def code(self, line: bytes) -> int:
        return int(self.command(line)[:3])

    def close(self, reset: bool = False) -> None:
        if reset:  # RST instead of FIN
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        self.sock.close()


def require(tool: str, present: bool, why: str = "is not installed") -> None:
    """Skip on a user machine that lacks ``tool`` (``why`` says what is missing);
    in CI (``CI`` set) fail instead."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is required in CI but {why}")
    pytest.skip(f"{tool} {why}")


def require_program(name: str) -> str:
    path = shutil.which(name)
    require(name, path is not None)
    assert path is not None
    return path


# swaks loads its optional Perl modules at run time: Debian's package only
# recommends Net::SSLeay, so a swaks installed without it has no STARTTLS.
SWAKS_AUTH = {"PLAIN": "Basic AUTH", "LOGIN": "Basic AUTH", "CRAM-MD5": "AUTH CRAM-MD5"}


@functools.cache
def swaks_support(program: str) -> dict[str, str | None]:
    """What ``swaks --support`` lists: feature name -> None if supported, else
    the reason ("requires Net::SSLeay")."""
    result = subprocess.run(  # "===" lines go to stdout, "***" lines to stderr
        [program, "--support"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30
    )
    features: dict[str, str | None] = {}
    for line in result.stdout.decode(errors="replace").splitlines():
        if (m := re.fullmatch(r"=== (.+) supported", line)) is not None:
            features[m[1]] = None
        elif (m := re.fullmatch(r"\*\*\* (.+) not available: (.+)", line)) is not None:
            features[m[1]] = m[2]
    return features


def require_swaks(*, tls: bool = False, auth: str | None = None) -> str:
    """The path of a swaks that can do STARTTLS (``tls``) and AUTH ``auth``, as
    ``swaks --support`` tells; else skip, or fail in CI, saying what is missing."""
    program = require_program("swaks")
    support = swaks_support(program)
    needed = (["TLS"] if tls else []) + ([SWAKS_AUTH[auth]] if auth is not None else [])
    for feature in needed:
        reason = support.get(feature, "not listed")
        why = f"is not available (swaks --support: {reason})"
        require(f"swaks with {feature}", reason is None, why)
    return program


@functools.cache
def msmtp_features(program: str) -> tuple[str, list[str]]:
    """From ``msmtp --version``: its TLS library ("GnuTLS", "OpenSSL" or "none")
    and the authentication methods it supports (listed on the line after their
    heading)."""
    result = subprocess.run([program, "--version"], capture_output=True, timeout=30)
    lines = result.stdout.decode(errors="replace").splitlines()
    library, methods = "not listed", []
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("TLS/SSL library:"):
            library = line.split(":", 1)[1].strip()
        elif line.startswith("Supported authentication methods:"):
            methods = following.split()
    return library, methods


def require_msmtp(*, tls: bool = False, auth: str | None = None) -> str:
    """The path of an msmtp built with a TLS library (``tls``) that supports
    AUTH ``auth``, as ``msmtp --version`` tells; else skip, or fail in CI."""
    program = require_program("msmtp")
    library, methods = msmtp_features(program)
    if tls:
        why = f"is not available (msmtp --version: TLS/SSL library: {library})"
        require("msmtp with TLS", library not in ("none", "not listed"), why)
    if auth is not None:
        why = f"is not available (msmtp --version lists: {' '.join(methods) or 'none'})"
        require(f"msmtp with AUTH {auth}", auth.lower() in methods, why)
    return program


@dataclass
class Server:
    adapter: str
    proc: subprocess.Popen[bytes]
    port: int
    maildir: Path
    stdout: Path
    stderr: Path

    def new(self) -> list[Path]:
        return sorted((self.maildir / "new").iterdir())

    def tmp(self) -> list[Path]:
        return sorted((self.maildir / "tmp").iterdir())

    def smtp(self, timeout: float = 30.0) -> smtplib.SMTP:
        return smtplib.SMTP(HOST, self.port, local_hostname="client.test", timeout=timeout)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=timeout)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def stop(self) -> int:
        """SIGTERM, then wait; kill (and report) a server that does not stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
                raise AssertionError(f"{self.adapter} did not stop on SIGTERM") from None
        return self.proc.returncode


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "trio_server":
        require("trio", importlib.util.find_spec("trio") is not None)
    return name


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(adapter: str, tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(*args, cwd=None, maildir=...)`` runs the example and waits
    for its ``listening on HOST:PORT`` line."""
    started: list[Server] = []

    def start(*args: str, cwd: Path | None = None, maildir: bool = True) -> Server:
        n = len(started)
        box = tmp_path / f"maildir{n}"
        stdout, stderr = tmp_path / f"stdout{n}.txt", tmp_path / f"stderr{n}.txt"
        command = [sys.executable, str(EXAMPLES / f"{adapter}.py"), "--host", HOST]
        command += ["--port", "0", "--hostname", "mx.test"]
        if maildir:
            command += ["--maildir", str(box)]
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen([*command, *args], stdout=out, stderr=err, cwd=cwd)
        server = Server(
            adapter, proc, 0, box if maildir else (cwd or tmp_path) / "maildir", stdout, stderr
        )
        started.append(server)
        server.port = wait_listening(server)
        return server

    yield start
    stop_all(started)


def wait_listening(server: Server) -> int:
    """The port in the ``listening on HOST:PORT`` line a server prints first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        first = server.stdout.read_bytes().split(b"\n", 1)
        if len(first) == 2:
            break
        if server.proc.poll() is not None:
            pytest.fail(f"{server.adapter} exited: {server.stderr.read_text()}")
        time.sleep(0.02)
    else:
        pytest.fail(f"{server.adapter} printed no 'listening on' line")
    line = first[0].decode()
    assert line.startswith(f"listening on {HOST}:"), line
    return int(line.rsplit(":", 1)[1])


def stop_all(servers: list[Server]) -> None:
    """Stop every server (by PID); fail if one did not stop cleanly or logged a
    traceback."""
    problems = []
    for server in servers:
        try:
            server.stop()
        except AssertionError as exc:
            problems.append(str(exc))
        errors = server.stderr.read_text(errors="replace")
        if "Traceback" in errors:
            problems.append(f"{server.adapter} logged an error:\n{errors}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def server(start_server: StartServer) -> Server:
    return start_server()


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and its key, valid for a day."""
    openssl = require_program("openssl")
    folder = tmp_path_factory.mktemp("tls")
    crt, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-days", "1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return crt, key


@pytest.fixture
def client_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate and checks the name."""
    context = ssl.create_default_context(cafile=str(cert[0]))
    context.check_hostname = False  # the server is reached as 127.0.0.1
    return context
