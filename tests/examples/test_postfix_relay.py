"""Interoperability with a real MTA: a private Postfix instance relays every
message it receives (``relayhost``) to an example server, in plain text and with
STARTTLS required (``smtp_tls_security_level = encrypt``). The example runs with
--dsn, so RET, ENVID, NOTIFY and ORCPT as Postfix relays them land in its
X-Envelope-* headers; SMTPUTF8, 8BITMIME and SIZE are always offered.

36 messages of varied content go to Postfix's smtpd through smtplib. Each
must arrive in the Maildir exactly once, as the client sent it byte for byte
after the trace fields added in transit (the example's Return-Path, Received and
X-Envelope-*, then Postfix's one Received), and Postfix's log must show
``status=sent`` for every recipient and no warning.

The instance (Postfix 3.4 or later, run as root) lives in a temporary folder of
its own: config_directory, queue_directory, data_directory and the log
(``maillog_file``, written by the postlog service: no syslog). It listens on
127.0.0.1 only, relays to [127.0.0.1]:PORT without DNS, and is started and
stopped with ``postfix -c DIR``. /etc/postfix is only read, never written, and no
system instance is started. One instance serves the whole module: each test
points relayhost at its example with ``postconf -e`` and restarts it."""

from __future__ import annotations

import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import HOST, Server, StartServer, require

SENDER = "sender@client.test"
MAX_SIZE = 12_000_000  # the example's --max-message-size, so SIZE is in force
DELIVERY_BOUND = 60.0  # seconds for Postfix to relay every message
# Postfix's SMTP client timeouts (defaults: 30 s to 600 s), so that a server that
# stops answering shows up as a deferral within the bound above; longer around
# the body (5 MiB through a busy example).
CLIENT_TIMEOUT, BODY_TIMEOUT = "10s", "30s"


# -- the private Postfix instance ----------------------------------------------------

MAIN_CF = """\
compatibility_level = 3.6
config_directory = {base}/conf
queue_directory = {base}/queue
data_directory = {base}/data
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
syslog_name = relaytest
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:9
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtputf8_enable = yes
message_size_limit = 20000000
# Deliver to the example only: bounces and postmaster notices (to the senders'
# domain, client.test, or to relay.test) are dropped, so the Maildir holds only
# the submitted messages. The log still says why a message bounced.
transport_maps = inline:{{client.test=discard:, relay.test=discard:}}
# Neither rewrite nor add headers (Date, Message-ID, From) to mail from 127.0.0.1:
# the message must arrive as the client sent it.
local_header_rewrite_clients =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtp_tls_security_level = none
smtp_tls_loglevel = 1
smtp_connect_timeout = {timeout}
smtp_helo_timeout = {timeout}
smtp_starttls_timeout = {timeout}
smtp_mail_timeout = {timeout}
smtp_rcpt_timeout = {timeout}
smtp_data_init_timeout = {timeout}
smtp_data_xfer_timeout = {body_timeout}
smtp_data_done_timeout = {body_timeout}
smtp_rset_timeout = {timeout}
smtp_quit_timeout = {timeout}
"""

# The services of /usr/share/postfix/master.cf.dist that relaying needs, none
# chrooted; smtpd on 127.0.0.1 only.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# Log lines that mean trouble: Postfix's warning/error levels, and the SMTP
# server's complaints about its client (smtplib here).
TROUBLE = re.compile(
    r"\b(?:warning|error|fatal|panic):|lost connection|timeout after|improper command"
)
STATUS = re.compile(
    r" (?P<process>\S+\[\d+\]): (?P<qid>[0-9A-F]+): to=<(?P<to>[^>]*)>, (?:orig_to=<[^>]*>, )?"
    r"relay=(?P<relay>[^,]+), .*?status=(?P<status>\w+) (?P<why>.*)$"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Postfix:
    base: Path
    sbin: Path  # where postfix, postconf, postqueue and postsuper are
    port: int  # its smtpd

    @property
    def conf(self) -> Path:
        return self.base / "conf"

    @property
    def log(self) -> Path:
        return self.base / "maillog"

    def run(self, program: str, *args: str) -> str:
        result = subprocess.run(
            [str(self.sbin / program), "-c", str(self.conf), *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, (program, args, result.stdout, result.stderr)
        return result.stdout

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> list[str]:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace").splitlines()

    def master_pid(self) -> int | None:
        try:
            return int((self.base / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def queue(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.run("postqueue", "-j").splitlines()]

    def start(self) -> None:
        """Start the instance; its master listens on the smtpd port before it
        logs that it started (a probe connection would log a lost connection)."""
        mark = self.log_size()
        self.run("postfix", "start")
        deadline = time.monotonic() + 20
        while not any(" daemon started -- version " in line for line in self.log_since(mark)):
            if time.monotonic() > deadline:
                raise AssertionError("Postfix did not start:\n" + "\n".join(self.log_since(mark)))
            time.sleep(0.05)

    def relay_to(self, port: int, tls: bool) -> int:
        """Point relayhost at 127.0.0.1:port, with TLS required or off; the log
        offset from which this configuration is in force.

        A restart, not ``postfix reload``: after a reload an smtp client process
        of the old configuration may still take the next delivery (seen: one that
        required TLS from a plaintext-only example, and deferred the mail)."""
        self.run(
            "postconf", "-e", f"relayhost = [{HOST}]:{port}",
            f"smtp_tls_security_level = {'encrypt' if tls else 'none'}",
        )  # fmt: skip
        self.stop()
        mark = self.log_size()
        self.start()
        return mark

    def empty_queue(self, timeout: float = 10.0) -> None:
        """Wait for mail in progress (bounces on their way to discard), then
        delete what is left (deferred mail), so the next test starts clean."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(entry["queue_name"] in ("deferred", "hold") for entry in self.queue()):
                break
            time.sleep(0.1)
        if self.queue():
            self.run("postsuper", "-d", "ALL")

    def stop(self) -> None:
        pid = self.master_pid()
        self.run("postfix", "stop")  # SIGTERM to the master, SIGKILL after 5 s
        deadline = time.monotonic() + 10
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        assert pid is None, f"the Postfix master (PID {pid}) did not stop"


def find_postfix() -> Path | None:
    path = shutil.which("postfix", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    return Path(path).parent if path else None


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    """A private Postfix instance in a temporary folder, for the module."""
    sbin = find_postfix()
    require("postfix", sbin is not None)
    assert sbin is not None
    if os.geteuid() != 0:  # its master starts as root and drops to the postfix user
        reason = "a private Postfix instance needs root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Not under pytest's tmp_path (mode 0700): Postfix's daemons, once they run as
    # the postfix user, open files in data_directory by absolute path.
    base = Path(tempfile.mkdtemp(prefix="smtpstate-postfix-"))
    instance = Postfix(base, sbin, free_port())
    try:
        base.chmod(0o755)
        for name in ("conf", "queue"):  # root-owned; postfix creates the rest
            (base / name).mkdir(mode=0o755)
        (base / "conf" / "main.cf").write_text(
            MAIN_CF.format(base=base, timeout=CLIENT_TIMEOUT, body_timeout=BODY_TIMEOUT)
        )
        (base / "conf" / "master.cf").write_text(MASTER_CF.format(port=instance.port))
        instance.start()
        startup = [line for line in instance.log_since(0) if TROUBLE.search(line)]
        assert not startup, "\n".join(startup)
        yield instance
    finally:
        try:
            if instance.master_pid() is not None:
                instance.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


# -- the messages ------------------------------------------------------------------


@dataclass
class Case:
    name: str
    recipients: Sequence[str]
    data: bytes
    sender: str = SENDER
    mail_options: Sequence[str] = ()
    rcpt_options: Sequence[str] = ()
    orcpt: dict[str, str] = field(default_factory=dict)  # expected, when not Postfix's own

    @property
    def expected(self) -> bytes:
        """The message as the server receives it: smtplib ends the last line."""
        return self.data if self.data.endswith(b"\r\n") else self.data + b"\r\n"


def headers(tag: str, *extra: str, sender: str = SENDER) -> bytes:
    lines = [f"From: {sender}", f"Subject: {tag}", f"Message-ID: <{tag}@client.test>", *extra]
    return "".join(f"{line}\r\n" for line in lines).encode()


def text(tag: str, body: bytes, *extra: str, sender: str = SENDER) -> bytes:
    return headers(tag, *extra, sender=sender) + b"\r\n" + body


def lines(prefix: bytes, count: int, width: int) -> bytes:
    """``count`` numbered lines of ``width`` octets each plus CRLF."""
    return b"".join((b"%s %08d " % (prefix, n)).ljust(width, b"x") + b"\r\n" for n in range(count))


EIGHT_BIT = "Grüße aus Köln: ½ €, 用户, ☃\r\n".encode()
HIGH_OCTETS = bytes(range(0x80, 0x100)) * 2
BASE64_PART = b"".join(
    (bytes(range(256)) * 3)[i : i + 57].hex().encode()[:76] + b"\r\n" for i in range(0, 3000, 57)
)


def cases() -> list[Case]:
    """Every message has recipients of its own, by which its delivery is found."""
    bits = ["BODY=8BITMIME"]
    utf8 = ["SMTPUTF8", "BODY=8BITMIME"]
    return [
        Case("ascii", ["r01@dest.test"], text("ascii", b"Just ASCII.\r\n")),
        Case("8bit-declared", ["r02@dest.test"], text("8bit", EIGHT_BIT * 3), mail_options=bits),
        Case("8bit-undeclared", ["r03@dest.test"], text("8bit-undeclared", EIGHT_BIT)),
        Case("latin1", ["r04@dest.test"], text("latin1", "café à la\r\n".encode("latin-1")),
             mail_options=bits),
        Case("high-octets", ["r05@dest.test"],
             text("high", b"".join(HIGH_OCTETS[i : i + 64] + b"\r\n" for i in range(0, 256, 64))),
             mail_options=bits),
        Case("smtputf8-both", ["jörg.用户06@dest.test"],
             text("Grüße 06", EIGHT_BIT, "To: jörg.用户06@dest.test", sender="jörg@client.test"),
             sender="jörg@client.test", mail_options=utf8),
        Case("smtputf8-sender", ["r07@dest.test"],
             text("送信者 07", EIGHT_BIT, sender="送信者@client.test"),
             sender="送信者@client.test", mail_options=utf8),
        Case("smtputf8-recipient", ["ünïcödé08@dest.test"],
             text("rcpt 08", b"body\r\n", "To: ünïcödé08@dest.test"), mail_options=utf8),
        Case("smtputf8-ascii-envelope", ["r09@dest.test"],
             text("Überschrift 09", EIGHT_BIT, 'Comments: "Jörg" über alles'), mail_options=utf8),
        Case("smtputf8-idn-domain", ["r10@bücher.test"],
             text("idn 10", b"body\r\n", "To: r10@bücher.test"), mail_options=utf8),
        Case("dsn-full", ["r11@dest.test"], text("dsn-full", b"body\r\n"),
             mail_options=["RET=FULL", "ENVID=env11"],
             rcpt_options=["NOTIFY=SUCCESS,FAILURE,DELAY", "ORCPT=rfc822;r11@dest.test"],
             orcpt={"r11@dest.test": "rfc822;r11@dest.test"}),
        Case("dsn-hdrs-xtext-envid", ["r12@dest.test"], text("dsn-hdrs", b"body\r\n"),
             mail_options=["RET=HDRS", "ENVID=QQ+2B12+3Dx"], rcpt_options=["NOTIFY=FAILURE"]),
        Case("dsn-never", ["r13@dest.test"], text("dsn-never", b"body\r\n"),
             rcpt_options=["NOTIFY=NEVER"]),
        Case("dsn-orcpt-xtext", ["r14+tag@dest.test"], text("orcpt-plus", b"body\r\n"),
             rcpt_options=["NOTIFY=FAILURE", "ORCPT=rfc822;r14+2Btag@dest.test"],
             orcpt={"r14+tag@dest.test": "rfc822;r14+2Btag@dest.test"}),
        Case("dsn-orcpt-forwarded", ["r15@dest.test"], text("orcpt-other", b"body\r\n"),
             mail_options=["ENVID=fwd15"],
             rcpt_options=["NOTIFY=DELAY", "ORCPT=rfc822;first15@elsewhere.test"],
             orcpt={"r15@dest.test": "rfc822;first15@elsewhere.test"}),
        Case("dsn-8bit", ["r16@dest.test"], text("dsn-8bit", EIGHT_BIT),
             mail_options=["BODY=8BITMIME", "RET=HDRS"], rcpt_options=["NOTIFY=SUCCESS"]),
        Case("leading-dots", ["r17@dest.test"],
             text("dots", b".\r\n..\r\n.hidden\r\n...\r\n .\r\nmiddle\r\n.\r\n")),
        Case("dot-last-line", ["r18@dest.test"], text("dot-last", b"the end is a dot\r\n.")),
        Case("five-recipients", [f"r19{c}@dest.test" for c in "abcde"],
             text("five", b"to five\r\n"), rcpt_options=["NOTIFY=SUCCESS,FAILURE"]),
        Case("three-recipients-8bit", [f"r20{c}@dest.test" for c in "abc"],
             text("three", EIGHT_BIT), mail_options=bits),
        Case("five-mib", ["r21@dest.test"],
             text("5 MiB", lines(b"line", 5 * 1024 * 1024 // 80, 78)), mail_options=bits),
        Case("empty-body", ["r22@dest.test"], text("empty-body", b"")),
        Case("headers-only", ["r23@dest.test"], headers("no blank line")),
        Case("empty-message", ["r24@dest.test"], b""),
        Case("no-final-crlf", ["r25@dest.test"], text("no-crlf", b"last line without CRLF")),
        Case("998-octet-lines", ["r26@dest.test"], text("long", lines(b"long", 20, 998))),
        Case("folded-headers", ["r27@dest.test"],
             text("folded", b"body\r\n", "X-Folded: one\r\n\ttwo\r\n  three",
                  *(f"X-Header-{n}: value {n}" for n in range(100)))),
        Case("mime-multipart", ["r28@dest.test"],
             text("mime", b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n"
                  b"Content-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n" + BASE64_PART + b"--b--\r\n",
                  "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"')),
        Case("null-sender", ["r29@dest.test"], text("null", b"from <>\r\n"), sender=""),
        Case("trace-lookalikes", ["r30@dest.test"],
             b"Received: from elsewhere.test by client.test; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
             b"X-Envelope-To: <fake@dest.test>\r\n" + text("lookalikes", b"body\r\n")),
        Case("whitespace", ["r31@dest.test"],
             text("spaces", b"trailing   \r\n\t\ttabs\t\r\n   \r\n\r\n\r\nend\r\n")),
        Case("from-lines", ["r32@dest.test"],
             text("from", b"From here\r\n>From there\r\n..\r\n.\r\n")),
        Case("64-kib-8bit", ["r33@dest.test"], text("64k", EIGHT_BIT * 1600), mail_options=bits),
        Case("256-kib-of-dots", ["r34@dest.test"], text("dots", b".\r\n" * 87_000)),
        Case("mixed-recipients", ["r35@dest.test", "χρήστης35@dest.test"],  # noqa: RUF001
             text("mixed 35", EIGHT_BIT), mail_options=utf8),
        Case("mixed-case", ["R36.Mixed_Case-x@Dest.Test"], text("case", b"body\r\n")),
    ]  # fmt: skip


def submit(port: int, messages: Sequence[Case]) -> dict[str, Case]:
    """Send the messages to Postfix, a dozen per connection; {queue id: case}."""
    queued = {}
    for start in range(0, len(messages), 12):
        with smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=60) as client:
            client.ehlo()
            for case in messages[start : start + 12]:
                code, reply = client.mail(case.sender, list(case.mail_options))
                assert code == 250, (case.name, code, reply)
                for rcpt in case.recipients:
                    code, reply = client.rcpt(rcpt, list(case.rcpt_options))
                    assert code == 250, (case.name, rcpt, code, reply)
                code, reply = client.data(case.data)
                found = re.search(rb"queued as ([0-9A-F]+)", reply)
                assert code == 250 and found, (case.name, code, reply)
                queued[found[1].decode()] = case
    return queued


# -- what arrived -------------------------------------------------------------------


@dataclass
class Delivery:
    path: Path
    return_path: str
    protocol: str  # in the example's Received: ESMTP, ESMTPS, UTF8SMTP...
    envelope_from: str  # X-Envelope-From without its name
    envelope_to: dict[str, str]  # address -> the parameters after it
    message: bytes  # what follows Postfix's Received


def xtext(value: str) -> str:
    return "".join(
        chr(o) if 33 <= o <= 126 and o not in (0x2B, 0x3D) else f"+{o:02X}" for o in value.encode()
    )


def parse_delivery(path: Path) -> Delivery:
    """Split off the trace fields added in transit, in the order they must come;
    ValueError if they are not all there."""
    raw = path.read_bytes()
    pos = 0

    def next_field(name: bytes) -> str:
        nonlocal pos
        if not raw.startswith(name + b": ", pos):
            raise ValueError(f"{path.name}: no {name.decode()} at {pos}: {raw[pos : pos + 200]!r}")
        end = raw.index(b"\r\n", pos) + 2
        while raw[end : end + 1] in (b" ", b"\t"):
            end = raw.index(b"\r\n", end) + 2
        value, pos = raw[pos + len(name) + 2 : end - 2], end
        return value.decode()

    return_path = next_field(b"Return-Path")
    ours = next_field(b"Received")
    found = re.search(r"\bby mx\.test with (\w+) id ", ours)
    if not ours.startswith("from relay.test ") or not found:
        raise ValueError(f"{path.name}: the example's Received is {ours!r}")
    envelope_from = next_field(b"X-Envelope-From")
    envelope_to = {}
    while raw.startswith(b"X-Envelope-To: ", pos):
        address, _, params = next_field(b"X-Envelope-To").partition(" ")
        envelope_to[address.strip("<>")] = params
    theirs = next_field(b"Received")
    if not theirs.startswith("from client.test ") or "by relay.test (Postfix) with " not in theirs:
        raise ValueError(f"{path.name}: Postfix's Received is {theirs!r}")
    return Delivery(path, return_path, found[1], envelope_from, envelope_to, raw[pos:])


def check_delivery(case: Case, got: Delivery, tls: bool) -> list[str]:
    problems = []
    if got.message != case.expected:
        same = next(
            (i for i, (a, b) in enumerate(zip(got.message, case.expected, strict=False)) if a != b),
            min(len(got.message), len(case.expected)),
        )
        problems.append(
            f"body differs from octet {same} ({len(got.message)} octets, sent"
            f" {len(case.expected)}): got {got.message[same : same + 60]!r},"
            f" sent {case.expected[same : same + 60]!r}"
        )
    if got.return_path != f"<{case.sender}>":
        problems.append(f"Return-Path {got.return_path}")
    if got.protocol.endswith("S") != tls:
        problems.append(f"the example received it with {got.protocol}")
    want_from = " ".join(
        [f"<{case.sender}>"]
        + [o for o in case.mail_options if o.startswith("RET=")]
        + [o for o in case.mail_options if o.startswith("ENVID=")]
    )
    if got.envelope_from != want_from:
        problems.append(f"X-Envelope-From: {got.envelope_from}, not {want_from}")
    notify = [o for o in case.rcpt_options if o.startswith("NOTIFY=")]
    for rcpt, params in got.envelope_to.items():
        # Postfix sends ORCPT=rfc822;<the address> when the client gave none.
        orcpt = case.orcpt.get(rcpt) or f"rfc822;{xtext(rcpt)}"
        if rcpt.isascii():
            want = " ".join([*notify, f"ORCPT={orcpt}"])
            if params != want:
                problems.append(f"X-Envelope-To: <{rcpt}> {params}, not {want}")
        elif "ORCPT=" not in params:  # how a non-ASCII ORCPT is shown is not pinned down
            problems.append(f"X-Envelope-To: <{rcpt}> {params}: no ORCPT")
    return problems


def check_maildir(server: Server, queued: dict[str, Case], tls: bool) -> list[str]:
    by_rcpt = {rcpt: case for case in queued.values() for rcpt in case.recipients}
    arrived: dict[str, list[Delivery]] = {case.name: [] for case in queued.values()}
    problems = []
    for path in server.new():
        try:
            got = parse_delivery(path)
        except ValueError as exc:
            problems.append(f"unreadable delivery: {exc}")
            continue
        owners = {by_rcpt[r].name for r in got.envelope_to if r in by_rcpt}
        if len(owners) != 1 or len(got.envelope_to) != sum(r in by_rcpt for r in got.envelope_to):
            problems.append(f"unexpected delivery {path.name} for {list(got.envelope_to)}")
            continue
        arrived[owners.pop()].append(got)
    for case in queued.values():
        copies = arrived[case.name]
        if len(copies) != 1:
            problems.append(f"{case.name}: arrived {len(copies)} times, not once")
        for got in copies:
            missing = sorted(set(case.recipients) - set(got.envelope_to))
            if missing:
                problems.append(f"{case.name}: arrived without recipients {missing}")
            problems += [f"{case.name}: {p}" for p in check_delivery(case, got, tls)]
    if server.tmp():
        problems.append(f"left in the Maildir's tmp/: {server.tmp()}")
    return problems


# -- what Postfix logged ------------------------------------------------------------


def wait_for_statuses(
    postfix: Postfix, mark: int, queued: dict[str, Case]
) -> tuple[list[str], dict[tuple[str, str], tuple[int, re.Match[str]]]]:
    """Poll the log until every recipient of every queued message has a delivery
    status (sent, deferred, bounced), at most DELIVERY_BOUND seconds."""
    wanted = {(qid, rcpt) for qid, case in queued.items() for rcpt in case.recipients}
    deadline = time.monotonic() + DELIVERY_BOUND
    while True:
        log = postfix.log_since(mark)
        statuses: dict[tuple[str, str], tuple[int, re.Match[str]]] = {}
        for number, line in enumerate(log):
            if found := STATUS.search(line):
                statuses.setdefault((found["qid"], found["to"]), (number, found))
        if wanted <= statuses.keys() or time.monotonic() > deadline:
            return log, statuses
        time.sleep(0.2)


def tls_context(log: list[str], number: int, process: str) -> str:
    """For a failed delivery: whether the same SMTP client process had just
    established TLS (smtp_tls_loglevel = 1), and which version."""
    for line in reversed(log[:number]):
        if f" {process}: " not in line:
            continue
        if found := re.search(r"TLS connection established to \S+: (\S+)", line):
            return f" [after STARTTLS: {found[1]} established]"
        if STATUS.search(line):  # the previous delivery by this process
            break
    return ""


def check_log(
    postfix: Postfix, mark: int, queued: dict[str, Case], example_port: int, tls: bool
) -> list[str]:
    log, statuses = wait_for_statuses(postfix, mark, queued)
    problems = []
    relay = f"{HOST}[{HOST}]:{example_port}"
    for qid, case in queued.items():
        for rcpt in case.recipients:
            if (qid, rcpt) not in statuses:
                problems.append(f"{case.name} ({qid}) to <{rcpt}>: no status after"
                                f" {DELIVERY_BOUND:.0f} s")  # fmt: skip
                continue
            number, found = statuses[qid, rcpt]
            if found["status"] != "sent" or found["relay"] != relay:
                problems.append(f"{case.name} ({qid}) to <{rcpt}>: relay={found['relay']}"
                                f" status={found['status']} {found['why']}"
                                f"{tls_context(log, number, found['process'])}")  # fmt: skip
    problems += [f"log: {line}" for line in log if TROUBLE.search(line)]
    if tls and not any(f"TLS connection established to {relay}:" in line for line in log):
        problems.append("Postfix logged no TLS connection to the example")
    if not tls and any("TLS connection established" in line for line in log):
        problems.append("Postfix used TLS with TLS off")
    if problems:
        problems += [f"queue: {entry}" for entry in postfix.queue()]
    return problems


# -- the test -----------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_postfix_relays_every_message_byte_exact(
    postfix: Postfix,
    start_server: StartServer,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tls: bool,
) -> None:
    flags = ["--dsn", "--max-message-size", str(MAX_SIZE)]
    if tls:
        crt, key = request.getfixturevalue("cert")
        flags += ["--tls-cert", str(crt), "--tls-key", str(key)]
    server = start_server(*flags)
    mark = postfix.relay_to(server.port, tls)
    try:
        queued = submit(postfix.port, cases())
        problems = check_log(postfix, mark, queued, server.port, tls)
        problems += check_maildir(server, queued, tls)
    finally:
        postfix.empty_queue()
        kept = tmp_path / "postfix.log"  # this test's part of the log, kept by pytest
        kept.write_text("\n".join(postfix.log_since(mark)) + "\n")
    assert len(queued) >= 30
    assert not problems, f"{len(problems)} problems (log: {kept}):\n" + "\n".join(problems)
