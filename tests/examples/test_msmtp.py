"""The three example servers driven by msmtp, the sendmail-like client: plain
SMTP, and STARTTLS with AUTH PLAIN. Each run reads a configuration file written
for the test (``--file``), never a user's, and logs to the test's folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import HOST, Server, StartServer, require_msmtp
from .test_example_servers import SENDER, only_delivery
from .test_tls_auth import PASSWORD, USER

MSMTP_TIMEOUT = 30.0  # a hung session fails the test instead of stalling the run

# From, Date and Message-ID present, so that msmtp adds no header of its own
# (set_from_header, set_date_header, set_msgid_header "auto"); a dot at the start
# of a line (msmtp dot-stuffs it, the server unstuffs it) and 8-bit text.
MESSAGE = (
    f"From: {SENDER}\r\n"
    "To: rcpt@mx.test\r\n"
    "Subject: from msmtp\r\n"
    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    "Message-ID: <msmtp@client.test>\r\n"
    "\r\n"
    ".leading dot\r\n"
    "..two dots\r\n"
    "\u00e9t\u00e9 8bit\r\n"
    "end\r\n"
).encode()


def msmtp(
    server: Server, tmp_path: Path, *settings: str, tls: bool = False, auth: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Send MESSAGE to rcpt@mx.test with an account made of ``settings`` lines;
    msmtp's log goes to msmtp.log beside the configuration file."""
    program = require_msmtp(tls=tls, auth=auth)
    config = tmp_path / "msmtprc"
    config.write_text(
        "\n".join([
            "defaults",
            "syslog off",
            f"logfile {tmp_path / 'msmtp.log'}",
            "account test",
            f"host {HOST}",
            f"port {server.port}",
            "domain client.test",
            f"from {SENDER}",
            "timeout 20",
            *settings,
        ]) + "\n"
    )  # fmt: skip
    config.chmod(0o600)  # msmtp refuses a password file that others can read
    # --debug: the session transcript on stdout, for the failure message; stdbuf
    # (coreutils) line-buffers it, so that a hung session still shows it.
    command = [program, "--debug", f"--file={config}", "--account=test", "rcpt@mx.test"]
    if (stdbuf := shutil.which("stdbuf")) is not None:
        command = [stdbuf, "-oL", *command]
    try:
        return subprocess.run(command, input=MESSAGE, capture_output=True, timeout=MSMTP_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"") + (exc.stderr or b"")
        pytest.fail(f"msmtp did not finish within {MSMTP_TIMEOUT:.0f} s:\n{session(output)}")


def session(output: bytes) -> str:
    """The SMTP lines of msmtp's --debug output ("-->" sent, "<--" received)
    and its error messages, without the configuration dump."""
    lines = output.decode(errors="replace").splitlines()
    return "\n".join(line for line in lines if line.startswith(("--> ", "<-- ", "msmtp:")))


def check_delivered(server: Server, result: subprocess.CompletedProcess[bytes]) -> bytes:
    """msmtp succeeded and the message is in new/ as sent, after the trace
    headers; return the Received header."""
    assert result.returncode == 0, session(result.stdout + result.stderr)
    return_path, received, body = only_delivery(server)
    assert return_path == f"Return-Path: <{SENDER}>".encode()
    assert body == MESSAGE
    return received


def test_msmtp_plain(server: Server, tmp_path: Path) -> None:
    result = msmtp(server, tmp_path, "tls off", "auth off")
    received = check_delivered(server, result)
    assert b" with ESMTP id " in received


def test_msmtp_starttls_auth_plain(
    start_server: StartServer, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    server = start_server("--tls-cert", str(cert[0]), "--tls-key", str(cert[1]),
                          "--auth", f"{USER}:{PASSWORD}")  # fmt: skip
    result = msmtp(
        server, tmp_path,
        "tls on", "tls_starttls on", f"tls_trust_file {cert[0]}",
        "auth plain", f"user {USER}", f'password "{PASSWORD}"',
        tls=True, auth="PLAIN",
    )  # fmt: skip
    received = check_delivered(server, result)
    assert b" with ESMTPSA id " in received  # RFC 3848: TLS and AUTH
