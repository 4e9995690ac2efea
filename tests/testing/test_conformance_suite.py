"""The conformance suite judges: against a careless server (a thread on loopback
that answers 250 to nearly anything and ends DATA at a bare-LF dot) the cases for
the rules it breaks fail, the ones it keeps pass, and the command line exits 1.
An unreachable server exits 2."""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpstate import Extensions
from smtpstate.testing.conformance import CASES, Level, Outcome, run, summary
from smtpstate.testing.sink import SMTPSink

HOST = "127.0.0.1"


class CarelessHandler(socketserver.StreamRequestHandler):
    """Reads lines ending in LF (CR optional), answers 250 to everything except
    EHLO, DATA and QUIT, and ends the data at any line that is a lone dot."""

    timeout = 30

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the suite cuts some connections off
            self.converse()

    def converse(self) -> None:
        self.wfile.write(b"220 careless.example.org ESMTP\r\n")
        in_data = False
        for raw in self.rfile:
            line = raw.rstrip(b"\r\n")
            if in_data:
                if line == b".":
                    in_data = False
                    self.wfile.write(b"250 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-careless.example.org\r\n250-PIPELINING\r\n250 SIZE\r\n")
            elif verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def careless_port() -> Iterator[int]:
    server = Server((HOST, 0), CarelessHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_case_ids_are_unique_and_name_rfc_and_level() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 150
    for c in CASES:
        assert c.section.startswith("RFC "), c.id
        assert c.level in (Level.MUST, Level.SHOULD, Level.MAY)


def test_docs_count_the_cases() -> None:
    """The user docs' topic table and the results section of docs/conformance.md
    give the number of cases there are."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    guide = (docs / "testing.md").read_text(encoding="utf-8")
    per_topic = Counter(c.id.split(".")[0] for c in CASES)
    rows = re.findall(r"^\| ((?:`[a-z0-9]+`(?:, )?)+) \| (\d+) \|", guide, re.MULTILINE)
    documented = {tuple(re.findall(r"`(.+?)`", topics)): int(n) for topics, n in rows}
    assert sorted(t for topics in documented for t in topics) == sorted(per_topic)
    for topics, n in documented.items():
        assert sum(per_topic[t] for t in topics) == n, topics
    assert f"all {len(CASES)} cases" in guide
    assert f"a suite of {len(CASES)} cases" in (docs / "conformance.md").read_text(encoding="utf-8")


def test_careless_server_fails_the_rules_it_breaks(careless_port: int) -> None:
    results = {r.id: r for r in run(HOST, careless_port, timeout=5)}
    must_fail = [
        "sequence.rcpt-before-mail",  # 250 instead of 503
        "sequence.data-before-rcpt",  # 354 with no recipient
        "sequence.nested-mail",
        "unknown.verb-500",
        "smuggling.lf-dot-lf",  # bare LF dot ends its data
        "smuggling.crlf-dot-lf",
        "smuggling.lf-dot-crlf",
        "ehlo.missing-domain",
        "rcpt.null-path",
        "size.not-a-number",
        "pipelining.rset-in-group",
    ]
    for case_id in must_fail:
        assert results[case_id].outcome is Outcome.FAIL, (case_id, results[case_id].reason)
    must_pass = ["greeting.code-220", "ehlo.multiline-format", "data.end-250", "quit.closes",
                 "pipelining.fifty-noops", "smuggling.cr-dot-cr", "reply.crlf-only"]  # fmt: skip
    for case_id in must_pass:
        assert results[case_id].outcome is Outcome.PASS, (case_id, results[case_id].reason)
    assert results["starttls.code-220"].outcome is Outcome.SKIP
    assert results["starttls.code-220"].reason == "STARTTLS not advertised"
    assert results["auth.cancel"].reason == "needs --auth USER:PASSWORD"
    assert summary(list(results.values())).endswith("skipped")


def test_failure_reason_says_what_came(careless_port: int) -> None:
    [result] = run(HOST, careless_port, only="sequence.rcpt-before-mail", timeout=5)
    assert result.outcome is Outcome.FAIL
    assert result.reason == "RCPT without MAIL: got 250 'OK', expected 503"
    assert "C: RCPT TO:<postmaster@careless.example.org>\\r\\n" in result.transcript


def test_command_line_exit_1_when_a_must_fails(careless_port: int) -> None:
    command = [sys.executable, "-m", "smtpstate.testing.conformance", "--host", HOST,
               "--port", str(careless_port), "--timeout", "5", "--only", "sequence.*",
               "--verbose"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=300)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "FAIL sequence.rcpt-before-mail" in out
    assert "    S: 250 OK\\r\\n" in out  # --verbose prints the failed case's transcript
    assert out.splitlines()[-1].endswith(" skipped")


def test_command_line_exit_0_when_only_should_fails(careless_port: int) -> None:
    command = [sys.executable, "-m", "smtpstate.testing.conformance", "--host", HOST,
               "--port", str(careless_port), "--timeout", "5",
               "--only", "rset.argument-501"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=300)
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("FAIL rset.argument-501 ") and " SHOULD: " in lines[0]
    assert lines[-1] == "0 passed, 1 failed, 0 skipped"
    assert result.returncode == 0


def test_command_line_exit_2_when_unreachable() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        command = [sys.executable, "-m", "smtpstate.testing.conformance", "--host", HOST,
                   "--port", str(port), "--timeout", "5"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"cannot connect" in result.stderr


def test_command_line_exit_2_on_usage_error() -> None:
    command = [sys.executable, "-m", "smtpstate.testing.conformance", "--host", HOST]
    result = subprocess.run(command, capture_output=True, timeout=60)
    assert result.returncode == 2


def test_the_sink_passes_the_suite() -> None:
    """smtp_sink, with STARTTLS, AUTH and every extension the suite tests, is a
    conforming server: no case fails, and only what it does not offer skips."""
    extensions = Extensions(chunking=True, dsn=True, smtputf8=True, size=10_000_000)
    sink = SMTPSink(tls=True, accounts={"joe": "secret"}, extensions=extensions)
    with sink, tempfile.TemporaryDirectory() as folder:
        ca = Path(folder) / "ca.pem"
        ca.write_text(sink.certificate_pem, encoding="ascii")
        results = run(sink.host, sink.port, tls_ca=str(ca), auth=("joe", "secret"))
    failed = [(r.case.id, r.reason) for r in results if r.outcome is Outcome.FAIL]
    assert failed == []
    skipped = {r.case.id for r in results if r.outcome is Outcome.SKIP}
    assert skipped <= {
        "chunking.binarymime",
        "chunking.binarymime-data-503",
        "auth.cram-md5",
        "auth.initial-response-server-first",
    }
