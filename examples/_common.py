"""What the three example servers share: the command line, the policy that
answers the engine's events, and Maildir delivery.

Nothing here does network I/O. An adapter (``socket_server.py``,
``asyncio_server.py``, ``trio_server.py``) owns the socket, the clock and the
loop; it hands every event to ``Session.handle`` and writes the bytes it gets
back. See docs/adapters.md.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import ipaddress
import itertools
import os
import re
import shutil
import socket
import ssl
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from mailbox import Maildir
from typing import Any, BinaryIO

from smtpstate import (
    AuthChallenge,
    Authenticate,
    ChunkReceived,
    CommandRejected,
    ConnectionClosed,
    DataStart,
    EndOfMessage,
    Event,
    Expand,
    Extensions,
    Hello,
    Help,
    MailFrom,
    MessageData,
    Noop,
    Options,
    ProxyHeader,
    Quit,
    RcptTo,
    RemoteProtocolError,
    Reply,
    Reset,
    Sentinel,
    ServerConnection,
    StartTLS,
    State,
    UnknownCommand,
    Verify,
    XClient,
    XForward,
)

__all__ = [
    "READ_SIZE",
    "WRITE_THRESHOLD",
    "Config",
    "Session",
    "announce",
    "log_error",
    "parse_args",
]

READ_SIZE = 64 * 1024  # bytes asked for per read
# Replies to pipelined commands are batched (RFC 2920 3.2) and written before the
# next read; a client that pipelines without reading forces a write at this size,
# so the reply buffer stays bounded and the write blocks (back-pressure).
WRITE_THRESHOLD = 16 * 1024

# RFC 5321 4.5.3.2: the timeouts, in seconds, one per phase. The RFC states most of
# them as the client's wait for a reply; the server waits as long for what comes next.
DEFAULT_INITIAL_TIMEOUT = 300.0  # 4.5.3.2.1: after the greeting, for the first command
DEFAULT_MAIL_TIMEOUT = 300.0  # 4.5.3.2.2: after MAIL, for RCPT
DEFAULT_RCPT_TIMEOUT = 300.0  # 4.5.3.2.3: after RCPT, for RCPT or DATA
DEFAULT_DATA_INIT_TIMEOUT = 120.0  # 4.5.3.2.4: after 354, for the first block of the body
DEFAULT_DATA_TIMEOUT = 180.0  # 4.5.3.2.5: for each further block of the body
DEFAULT_DATA_TERM_TIMEOUT = 600.0  # 4.5.3.2.6: to get the reply to <CRLF>.<CRLF> out
DEFAULT_IDLE_TIMEOUT = 300.0  # 4.5.3.2.7: server timeout, for the next command
# The whole body, from 354 to the terminator: a client trickling a byte per block
# timeout cannot hold a connection for ever.
DEFAULT_MESSAGE_DEADLINE = 600.0
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
# RFC 5321 4.5.3.1.8: a server MUST accept at least 100 recipients.
MIN_RECIPIENTS = 100
# --auth: every built-in SASL mechanism; the engine offers PLAIN and LOGIN only
# under TLS unless --auth-without-tls (RFC 4954 4).
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
# --xclient-trusted: the networks whose clients may use XCLIENT and XFORWARD.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
REPLY_LOCAL_ERROR = Reply(451, "Local error in processing", "4.3.0")
# The replies that never change are built (and validated) once, not per command.
REPLY_OK = Reply(250, "OK", "2.0.0")
REPLY_SENDER_OK = Reply(250, "Sender OK", "2.1.0")
REPLY_RECIPIENT_OK = Reply(250, "Recipient OK", "2.1.5")
REPLY_START_DATA = Reply(354, "End data with <CR><LF>.<CR><LF>")
REPLY_NOT_IMPLEMENTED = Reply(502, "Command not implemented", "5.5.1")


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8025
    maildir: str = "./maildir"
    hostname: str = field(default_factory=socket.gethostname)
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_recipients: int = MIN_RECIPIENTS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    data_timeout: float = DEFAULT_DATA_TIMEOUT
    discard: bool = False
    tls: ssl.SSLContext | None = None  # --tls-cert and --tls-key: STARTTLS offered
    users: tuple[tuple[str, str], ...] = ()  # --auth USER:PASSWORD: AUTH offered
    require_tls: bool = False
    require_auth: bool = False
    auth_without_tls: bool = False
    initial_timeout: float = DEFAULT_INITIAL_TIMEOUT
    mail_timeout: float = DEFAULT_MAIL_TIMEOUT
    rcpt_timeout: float = DEFAULT_RCPT_TIMEOUT
    data_init_timeout: float = DEFAULT_DATA_INIT_TIMEOUT
    data_term_timeout: float = DEFAULT_DATA_TERM_TIMEOUT
    message_deadline: float = DEFAULT_MESSAGE_DEADLINE
    strict_pipelining: bool = False
    max_errors: int | None = 20
    lmtp: bool = False  # --lmtp: LHLO, one file and one reply per recipient (RFC 2033)
    chunking: bool = False  # --chunking: BDAT and BINARYMIME (RFC 3030)
    dsn: bool = False  # --dsn: RFC 3461 parameters, kept in X-Envelope-* headers
    proxy_protocol: bool = False  # --proxy-protocol: a PROXY v1/v2 header comes first
    xclient_trusted: tuple[Network, ...] = ()  # --xclient-trusted CIDR: XCLIENT, XFORWARD


def parse_args(description: str, argv: Sequence[str] | None = None) -> Config:
    """The command line every example server takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8025, help="port; 0 picks a free one (8025)")
    p.add_argument("--maildir", default="./maildir", help="Maildir to deliver to (./maildir)")
    p.add_argument("--hostname", default=None, help="name in the greeting and Received:")
    p.add_argument(
        "--max-message-size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        metavar="BYTES",
        help="SIZE limit in octets, 0 for none (%(default)s)",
    )
    p.add_argument(
        "--max-recipients",
        type=int,
        default=MIN_RECIPIENTS,
        metavar="N",
        help="recipients per message, at least 100 (RFC 5321 4.5.3.1.8)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="wait for a command (RFC 5321 4.5.3.2.7: %(default)s)",
    )
    p.add_argument(
        "--data-timeout",
        type=float,
        default=DEFAULT_DATA_TIMEOUT,
        metavar="SECONDS",
        help="wait for the next block of a message body (RFC 5321 4.5.3.2.5: %(default)s)",
    )
    for flag, default, rule in (
        ("--initial-timeout", DEFAULT_INITIAL_TIMEOUT, "for the first command (4.5.3.2.1"),
        ("--mail-timeout", DEFAULT_MAIL_TIMEOUT, "after MAIL (4.5.3.2.2"),
        ("--rcpt-timeout", DEFAULT_RCPT_TIMEOUT, "after RCPT (4.5.3.2.3"),
        ("--data-init-timeout", DEFAULT_DATA_INIT_TIMEOUT, "after 354 (4.5.3.2.4"),
        ("--data-term-timeout", DEFAULT_DATA_TERM_TIMEOUT, "to answer a body (4.5.3.2.6"),
    ):
        p.add_argument(
            flag, type=float, default=default, metavar="SECONDS", help=f"wait {rule}: %(default)s)"
        )
    p.add_argument(
        "--message-deadline",
        type=float,
        default=DEFAULT_MESSAGE_DEADLINE,
        metavar="SECONDS",
        help="the whole body, from 354 to the final dot (%(default)s)",
    )
    p.add_argument(
        "--strict-pipelining",
        action="store_true",
        help="554 and close when a client sends ahead where RFC 2920 3.1 says to wait",
    )
    p.add_argument(
        "--max-errors",
        type=int,
        default=20,
        metavar="N",
        help="rejected commands before 421 4.7.0 and close, 0 for no limit (%(default)s)",
    )
    p.add_argument("--discard", action="store_true", help="accept mail and drop it")
    _add_tls_auth_options(p)
    _add_extension_options(p)
    args = p.parse_args(argv)
    if args.max_recipients < MIN_RECIPIENTS:
        p.error("--max-recipients must be at least 100 (RFC 5321 4.5.3.1.8)")
    if args.max_message_size < 0:
        p.error("--max-message-size must be 0 (no limit) or more")
    timeouts = [args.idle_timeout, args.data_timeout, args.initial_timeout, args.mail_timeout]
    timeouts += [args.rcpt_timeout, args.data_init_timeout, args.data_term_timeout]
    if min(timeouts) <= 0 or args.message_deadline <= 0:
        p.error("timeouts must be positive")
    if args.max_errors < 0:
        p.error("--max-errors must be 0 (no limit) or more")
    return Config(
        **_tls_auth_config(p, args),
        **_extension_config(p, args),
        host=args.host,
        port=args.port,
        maildir=args.maildir,
        hostname=args.hostname or socket.gethostname(),
        max_message_size=args.max_message_size,
        max_recipients=args.max_recipients,
        idle_timeout=args.idle_timeout,
        data_timeout=args.data_timeout,
        discard=args.discard,
        initial_timeout=args.initial_timeout,
        mail_timeout=args.mail_timeout,
        rcpt_timeout=args.rcpt_timeout,
        data_init_timeout=args.data_init_timeout,
        data_term_timeout=args.data_term_timeout,
        message_deadline=args.message_deadline,
        strict_pipelining=args.strict_pipelining,
        max_errors=args.max_errors or None,
    )


def _add_tls_auth_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain: offer STARTTLS")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    p.add_argument(
        "--auth",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="offer AUTH (PLAIN, LOGIN, CRAM-MD5) and accept this user; repeatable",
    )
    p.add_argument("--require-tls", action="store_true", help="530 to MAIL and AUTH before TLS")
    p.add_argument("--require-auth", action="store_true", help="530 to MAIL before AUTH")
    p.add_argument(
        "--auth-without-tls",
        action="store_true",
        help="offer PLAIN and LOGIN before STARTTLS too (RFC 4954 4 advises against it)",
    )


def _tls_auth_config(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The TLS and AUTH fields of Config, checked; the certificate is loaded now,
    so a bad file stops the server before it listens."""
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # server side, TLS 1.2+
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            p.error(f"cannot load --tls-cert/--tls-key: {exc}")
    users = []
    for entry in args.auth:
        user, colon, password = entry.partition(":")
        if not (user and colon and password):
            p.error("--auth takes USER:PASSWORD")
        users.append((user, password))
    if args.require_tls and tls is None:
        p.error("--require-tls needs --tls-cert and --tls-key")
    if (args.require_auth or args.auth_without_tls) and not users:
        p.error("--require-auth and --auth-without-tls need --auth")
    return {
        "tls": tls,
        "users": tuple(users),
        "require_tls": args.require_tls,
        "require_auth": args.require_auth,
        "auth_without_tls": args.auth_without_tls,
    }


def _add_extension_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lmtp",
        action="store_true",
        help="speak LMTP (RFC 2033): LHLO, one delivered file and one reply per recipient",
    )
    p.add_argument("--chunking", action="store_true", help="offer BDAT and BINARYMIME (RFC 3030)")
    p.add_argument(
        "--dsn",
        action="store_true",
        help="offer DSN (RFC 3461); RET, ENVID, NOTIFY, ORCPT go into X-Envelope-* headers",
    )
    p.add_argument(
        "--proxy-protocol",
        action="store_true",
        help="read a PROXY v1/v2 header before the greeting (behind HAProxy send-proxy-v2)",
    )
    p.add_argument(
        "--xclient-trusted",
        action="append",
        default=[],
        metavar="CIDR",
        help="offer XCLIENT and XFORWARD to clients in this network; repeatable",
    )


def _extension_config(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The LMTP, CHUNKING, DSN, PROXY and XCLIENT fields of Config, checked."""
    networks = []
    for cidr in args.xclient_trusted:
        try:  # 127.0.0.1/8 means 127.0.0.0/8
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            p.error(f"--xclient-trusted takes a network such as 10.0.0.0/8, not {cidr!r}")
    return {
        "lmtp": args.lmtp,
        "chunking": args.chunking,
        "dsn": args.dsn,
        "proxy_protocol": args.proxy_protocol,
        "xclient_trusted": tuple(networks),
    }


def announce(config: Config, address: tuple[Any, ...]) -> None:
    """Print ``listening on HOST:PORT`` first (tests and scripts wait for it),
    then say where mail goes. Also creates the Maildir."""
    host, port = address[0], address[1]
    shown = f"[{host}]" if ":" in host else host
    if not config.discard:
        make_maildir(config.maildir)
    print(f"listening on {shown}:{port}", flush=True)
    where = "discarding all mail" if config.discard else f"delivering to Maildir {config.maildir}"
    print(f"SMTP sink {config.hostname}: {where}; Ctrl-C stops", flush=True)


def log_error(peer: object) -> None:
    """Report an unexpected error in one session; the server keeps running."""
    print(f"error in session with {peer}:", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)


# -- Maildir delivery -------------------------------------------------------------


def make_maildir(path: str) -> None:
    """Create the Maildir layout (tmp/, new/, cur/) if missing or empty."""
    Maildir(path, create=True)
    # mailbox.Maildir leaves an existing but empty folder as it is.
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


_counter = itertools.count(1)
# Queue ids: 16 hex digits, a random half per process and a counter (cheaper than
# a uuid4 per message, which asks the kernel for randomness every time).
# Read for every event: in Python 3.11 ``State.IN_DATA`` is a descriptor call,
# ten times the cost of a global.
_IN_DATA, _TLS_PENDING = State.IN_DATA, State.TLS_PENDING
_queue_prefix = os.urandom(4).hex().upper()
_queue_counter = itertools.count(1)
_host_part = socket.gethostname().replace("/", r"\057").replace(":", r"\072")


class Spool:
    """One message on its way into a Maildir: written to ``tmp/`` as it arrives,
    renamed into ``new/`` only once accepted, so readers never see half of it."""

    def __init__(self, maildir: str, head: bytes) -> None:
        now = time.time()
        seconds, micro = int(now), int(now % 1 * 1_000_000)
        name = f"{seconds}.M{micro}P{os.getpid()}Q{next(_counter)}.{_host_part}"
        self._maildir = maildir
        self._tmp = os.path.join(maildir, "tmp", name)
        self._new = os.path.join(maildir, "new", name)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        try:
            self._file.write(head)
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(data)

    def commit(self) -> None:
        """Close the file and move it into ``new/`` (an atomic rename)."""
        assert self._file is not None
        file, self._file = self._file, None
        try:
            file.close()
            os.rename(self._tmp, self._new)
        except BaseException:
            self._remove()
            raise

    def deliver_copies(self, heads: Sequence[bytes]) -> list[bool]:
        """LMTP: one file in ``new/`` per head, each the head and then this spool's
        content (the body); whether each copy landed. This spool is removed."""
        assert self._file is not None
        landed = []
        try:
            self._file.flush()
            for head in heads:
                try:
                    copy = Spool(self._maildir, head)
                    try:
                        with open(self._tmp, "rb") as body:
                            shutil.copyfileobj(body, copy)
                    except BaseException:
                        copy.discard()
                        raise
                    copy.commit()
                    landed.append(True)
                except OSError:
                    landed.append(False)
        finally:
            self.discard()
        return landed

    def discard(self) -> None:
        """Drop a message that was rejected, too big or cut off."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            finally:
                self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class NullSpool(Spool):
    """``--discard``: take the message and forget it."""

    def __init__(self) -> None:
        self._file = None

    def commit(self) -> None:
        pass

    def deliver_copies(self, heads: Sequence[bytes]) -> list[bool]:
        return [True] * len(heads)


# -- the policy: one reply for every command ----------------------------------------


def _tcp_info(peer: tuple[Any, ...] | None) -> str:
    """The TCP-info of a Received: header (RFC 5321 4.4): the address literal."""
    if not peer:
        return "unknown"
    try:
        ip = ipaddress.ip_address(peer[0])
    except ValueError:
        return "unknown"
    return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"


@dataclass(frozen=True)
class Client:
    """The client a message came from, as the trace headers name it: the TCP
    peer, or the original client a PROXY header, XCLIENT or XFORWARD names."""

    address: str | None = None  # an IP address; None when unknown
    port: int | None = None
    name: str | None = None  # its host name (XCLIENT/XFORWARD NAME=)
    helo: str | None = None  # XFORWARD HELO=: its HELO name, for one transaction
    via: str = ""  # who said so: "PROXY v2 from [127.0.0.1]:40000", "XCLIENT from ..."

    @classmethod
    def from_peer(cls, peer: tuple[Any, ...] | None) -> Client:
        if not peer:
            return cls()
        port = peer[1] if len(peer) > 1 and isinstance(peer[1], int) else None
        return cls(address=str(peer[0]), port=port)

    def trusted(self, networks: Sequence[Network]) -> bool:
        """Whether the address is in one of ``networks`` (IPv4-mapped IPv6 counts as IPv4)."""
        try:
            ip = ipaddress.ip_address(self.address or "")
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in networks)

    def literal(self) -> str:
        """``[ADDR]:PORT`` for a comment."""
        literal = _tcp_info((self.address,) if self.address else None)
        return f"{literal}:{self.port}" if self.port is not None else literal

    def relayed(self, attributes: Mapping[str, str], via: str) -> Client:
        """The client an XCLIENT or XFORWARD names: the attributes it gives replace
        this one's (the others are kept); values such as ``[UNAVAILABLE]`` clear them."""
        address, port, name, helo = self.address, self.port, self.name, self.helo
        if "ADDR" in attributes:
            address = _xclient_address(attributes["ADDR"])
        if "PORT" in attributes:
            value = attributes["PORT"]
            port = int(value) if value.isdigit() and int(value) < 65536 else None
        if "NAME" in attributes:
            name = _host_name(attributes["NAME"])
        if "HELO" in attributes:
            helo = _host_name(attributes["HELO"])
        return Client(address, port, name, helo, via)


_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.:_-]*[A-Za-z0-9\]])?|\[[A-Za-z0-9.:]+\]")


def _host_name(value: str) -> str | None:
    """A name fit for a trace header (no spaces, parentheses or line breaks);
    None for Postfix's ``[UNAVAILABLE]``/``[TEMPUNAVAIL]`` and anything odd."""
    if value.upper() in ("[UNAVAILABLE]", "[TEMPUNAVAIL]"):
        return None
    return value if len(value) <= 255 and _HOST_NAME.fullmatch(value) else None


def _xclient_address(value: str) -> str | None:
    """XCLIENT/XFORWARD ADDR=: an IPv4 address or ``IPV6:`` and an IPv6 address."""
    if value[:5].upper() == "IPV6:":
        value = value[5:]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _xtext(value: str) -> str:
    """RFC 3461 4 xtext: printable ASCII but "+" and "=" as is, every other octet
    (of the UTF-8 form) as +HH. Safe in a header: no spaces, no line breaks."""
    out = []
    for octet in value.encode():
        if 33 <= octet <= 126 and octet not in (0x2B, 0x3D):
            out.append(chr(octet))
        else:
            out.append(f"+{octet:02X}")
    return "".join(out)


class Session:
    """One client session: the engine (``self.conn``) plus the decisions of this
    example server. The adapter feeds ``conn`` bytes, reads events from it and
    writes what ``handle`` returns."""

    def __init__(self, config: Config, peer: tuple[Any, ...] | None) -> None:
        self.config = config
        self.peer = peer
        self.conn = ServerConnection(
            config.hostname,
            Extensions(
                size=config.max_message_size,
                smtputf8=True,
                starttls=config.tls is not None,
                auth=AUTH_MECHANISMS if config.users else (),
                auth_without_tls=config.auth_without_tls,
                chunking=config.chunking,
                binarymime=config.chunking,
                dsn=config.dsn,
            ),
            Options(
                require_tls=config.require_tls,
                require_auth=config.require_auth,
                max_recipients=config.max_recipients,
                max_errors=config.max_errors,
                strict_pipelining=config.strict_pipelining,
                lmtp=config.lmtp,
                proxy_protocol=config.proxy_protocol,
            ),
        )
        # Who the trace headers name: the peer, or the client a PROXY header or
        # XCLIENT names; XFORWARD names one for the next transaction only.
        self.client = Client.from_peer(peer)
        self._speaker = self.client  # who speaks XCLIENT/XFORWARD: peer or PROXY client
        self._forward: Client | None = None
        self._trust()
        self._helo = ""
        self._extended = False
        self._sender: MailFrom | None = None
        self._recipients: list[RcptTo] = []
        self._spool: Spool | None = None
        self._spool_failed = False  # the message file could not be made: 451 at the end
        self._queue_id = ""
        self._body_deadline: float | None = None  # time.monotonic() when the body must end
        self._body_started = False
        self._reply_to_body = False  # the unwritten replies answer a message's end
        # RFC 5321 4.5.3.2: the timeout of each phase by the engine's state (the
        # body's depends on the message deadline; other states wait for a command).
        self._timeouts = {
            State.IN_MAIL: config.mail_timeout,
            State.HAS_RCPT: config.rcpt_timeout,
            State.PROXY_HEADER: config.initial_timeout,
            State.CONNECTED: config.initial_timeout,
            State.AWAIT_HELLO: config.initial_timeout,
        }

    @property
    def timeout(self) -> float:
        """How long the next read may take: the RFC 5321 4.5.3.2 timeout of the
        phase, and inside a body no longer than the message deadline allows."""
        c, state = self.config, self.conn.state
        if state is _IN_DATA:
            block = c.data_timeout if self._body_started else c.data_init_timeout
            left = (self._body_deadline or 0.0) - time.monotonic()
            return max(0.001, min(block, left))
        return self._timeouts.get(state, c.idle_timeout)

    @property
    def write_timeout(self) -> float:
        """How long writing the batched replies may take: the DATA termination
        timeout (4.5.3.2.6) for the reply to a body, else the phase's timeout, so
        a client that never reads is dropped (back-pressure)."""
        if self._reply_to_body:
            return max(self.config.data_term_timeout, self.timeout)
        return self.timeout

    def written(self) -> None:
        """The adapter wrote every reply it had."""
        self._reply_to_body = False

    def tls_context(self) -> ssl.SSLContext | None:
        """Set once the 220 to STARTTLS is sent (the engine is in TLS_PENDING): the
        adapter writes out its replies, runs the handshake with this context, then
        calls ``conn.tls_established()``. See docs/tls-auth.md."""
        return self.config.tls if self.conn.state is _TLS_PENDING else None

    def greeting(self) -> bytes:
        """The 220 owed first; empty with ``--proxy-protocol``, where the PROXY
        header comes first and ``handle`` returns the greeting for it."""
        if self.conn.state is State.PROXY_HEADER:
            return b""
        return self.conn.send(self._greeting())

    def handle(self, event: Event | Sentinel) -> bytes:
        """Act on one event; return the bytes to write (empty for body data)."""
        if isinstance(event, MessageData):
            self._body_started = True
            if self._spool is None and self._sender is not None:  # BDAT: the first chunk
                self._open_spool()
            if self._spool is not None:
                self._spool.write(event.data)
            return b""
        if not isinstance(event, Event) or isinstance(event, ConnectionClosed):
            raise RuntimeError(f"the adapter handles {event!r} itself")
        if isinstance(event, EndOfMessage) and self.config.lmtp:
            # RFC 2033 4.2: one reply per accepted recipient, in order.
            self._reply_to_body = True
            return b"".join(self.conn.send(reply) for reply in self._end_of_lmtp_message(event))
        return self.conn.send(self._decide(event))

    def protocol_error(self, exc: RemoteProtocolError) -> bytes:
        """The client broke the protocol beyond repair: its last reply, then close."""
        self._drop_spool()
        return self.conn.send(exc.reply)

    def timed_out(self) -> bytes:
        """RFC 5321 4.5.3.2: on a timeout the server answers 421 and closes."""
        return self._unsolicited(Reply(421, f"{self.config.hostname} Timeout, closing", "4.4.2"))

    def shutting_down(self) -> bytes:
        """RFC 5321 3.8: 421 when the server shuts down."""
        return self._unsolicited(
            Reply(421, f"{self.config.hostname} Service shutting down", "4.3.2")
        )

    def close(self) -> None:
        """The connection is over: anything unfinished is dropped, never delivered."""
        self._drop_spool()

    # -- internals ---------------------------------------------------------------

    def _unsolicited(self, reply: Reply) -> bytes:
        self._drop_spool()
        if self.conn.state in (State.CLOSED, State.ERROR):
            return b""  # the session already ended with its last reply
        # Owed or not, the engine sends a 421 (RFC 5321 3.8: the server may close
        # at any time) and moves to CLOSED.
        return self.conn.send(reply)

    def _drop_spool(self) -> None:
        if self._spool is not None:
            spool, self._spool = self._spool, None
            spool.discard()

    def _new_transaction(self) -> None:
        self._drop_spool()
        self._spool_failed = False
        self._sender = None
        self._recipients = []

    def _greeting(self) -> Reply:
        kind = "LMTP" if self.config.lmtp else "ESMTP"
        return Reply(220, f"{self.config.hostname} {kind} smtpstate example")

    def _trust(self) -> None:
        """XCLIENT and XFORWARD for a client in --xclient-trusted (by the PROXY
        address when there is one), decided before EHLO and kept after XCLIENT."""
        trusted = self.client.trusted(self.config.xclient_trusted)
        self.conn.xclient = self.conn.xforward = trusted

    def _proxied(self, header: ProxyHeader) -> None:
        """A PROXY header names the real client, unless it is a LOCAL health
        check or gives no address (UNKNOWN): then the peer stays."""
        if header.command == "PROXY" and header.source_address is not None:
            via = f"PROXY v{header.version} from {self.client.literal()}"
            self.client = Client(header.source_address, header.source_port, via=via)
            self._speaker = self.client
            self._trust()

    def _open_spool(self) -> Reply | None:
        """Start the message file, at DATA or at the first BDAT chunk: None once
        it is open, else the reply that fails the transaction. In LMTP mode it
        holds the body only; each recipient's copy gets its own headers."""
        if self._spool is not None:
            return None
        if self._spool_failed:
            return REPLY_LOCAL_ERROR
        self._queue_id = f"{_queue_prefix}{next(_queue_counter):08X}"
        if self.config.discard:
            self._spool = NullSpool()
            return None
        head = b"" if self.config.lmtp else self._trace_headers(self._queue_id, self._recipients)
        try:
            self._spool = Spool(self.config.maildir, head)
        except OSError:
            self._spool_failed = True
            return REPLY_LOCAL_ERROR
        return None

    def _end_of_lmtp_message(self, event: EndOfMessage) -> list[Reply]:
        """RFC 2033 4.2: one file and one reply per accepted recipient, in order."""
        count = len(event.recipients)
        if event.reply is None:
            self._open_spool()  # BDAT 0 LAST: an empty message
        spool, self._spool = self._spool, None
        recipients = self._recipients
        heads = [self._trace_headers(self._queue_id, [r]) for r in recipients] if spool else []
        self._new_transaction()
        self._forward = None  # XFORWARD holds for one transaction
        if event.reply is not None or spool is None or len(heads) != count:
            if spool is not None:
                spool.discard()
            return [event.reply or REPLY_LOCAL_ERROR] * count
        landed = spool.deliver_copies(heads)
        return [
            Reply(250, f"<{r.forward_path.address}> OK queued as {self._queue_id}", "2.0.0")
            if ok
            else Reply(451, f"<{r.forward_path.address}> Local error in processing", "4.3.0")
            for r, ok in zip(recipients, landed, strict=True)
        ]

    def _decide(self, event: Event) -> Reply:
        """The reply to one command: the method _DECISIONS names for its type."""
        decide = _DECISIONS.get(type(event))
        return decide(self, event) if decide is not None else REPLY_NOT_IMPLEMENTED

    def _pass_on(self, event: CommandRejected | UnknownCommand | AuthChallenge) -> Reply:
        return event.reply  # the engine's refusal, or (AuthChallenge) its 334

    def _on_starttls(self, event: StartTLS) -> Reply:  # only offered with --tls-cert
        self._new_transaction()
        return Reply(220, "Ready to start TLS", "2.0.0")

    def _on_proxy(self, event: ProxyHeader) -> Reply:  # --proxy-protocol: now the greeting
        self._proxied(event)
        return self._greeting()

    def _on_xclient(self, event: XClient) -> Reply:
        """--xclient-trusted: the session starts again as the client it names."""
        self._new_transaction()
        client = self.client.relayed(event.attributes, f"XCLIENT from {self._speaker.literal()}")
        self.client, self._forward = replace(client, helo=None), None
        self._helo = client.helo or ""  # until the next EHLO
        return self._greeting()

    def _on_xforward(self, event: XForward) -> Reply:  # for the next transaction only
        via = f"XFORWARD from {self._speaker.literal()}"
        self._forward = (self._forward or self.client).relayed(event.attributes, via)
        return REPLY_OK

    def _on_hello(self, event: Hello) -> Reply:
        self._new_transaction()
        self._forward = None
        self._helo, self._extended = event.domain, event.extended
        return Reply(250, f"{self.config.hostname} greets {event.domain}")

    def _on_mail(self, event: MailFrom) -> Reply:
        self._new_transaction()
        self._sender = event
        return REPLY_SENDER_OK

    def _on_rcpt(self, event: RcptTo) -> Reply:
        self._recipients.append(event)
        return REPLY_RECIPIENT_OK

    def _on_data(self, event: DataStart) -> Reply:
        if (failed := self._open_spool()) is not None:
            return failed
        self._body_deadline = time.monotonic() + self.config.message_deadline
        self._body_started = False
        return REPLY_START_DATA

    def _on_chunk(self, event: ChunkReceived) -> Reply:  # --chunking: BDAT without LAST
        failed = event.reply or self._open_spool()
        if failed is not None:  # RFC 3030 2: the transaction fails
            self._new_transaction()
            return failed
        return Reply(250, f"{event.size} octets received", "2.0.0")

    def _on_end(self, event: EndOfMessage) -> Reply:
        self._reply_to_body = True
        return self._end_of_message(event)

    def _on_reset(self, event: Reset) -> Reply:
        self._new_transaction()
        self._forward = None
        return REPLY_OK

    def _on_noop(self, event: Noop) -> Reply:
        return REPLY_OK

    def _on_quit(self, event: Quit) -> Reply:
        return Reply(221, f"{self.config.hostname} closing connection", "2.0.0")

    def _on_verify(self, event: Verify) -> Reply:
        return Reply(252, "Cannot VRFY user, but will accept message", "2.5.0")

    def _on_expand(self, event: Expand) -> Reply:
        return Reply(252, "Cannot EXPN", "2.5.0")

    def _on_help(self, event: Help) -> Reply:
        return Reply(214, "See RFC 5321", "2.0.0")

    def _authenticate(self, event: Authenticate) -> Reply:
        """Check the credentials against --auth. ``check_password`` compares in
        constant time; an unknown user is checked against a dummy password, so
        the reply takes as long. No one may act as someone else (authzid)."""
        password = dict(self.config.users).get(event.username)
        proved = event.check_password("\0" if password is None else password)
        if proved and password is not None and event.authorization_id in ("", event.username):
            return Reply(235, "Authentication succeeded", "2.7.0")
        return Reply(535, "Authentication credentials invalid", "5.7.8")

    def _end_of_message(self, event: EndOfMessage) -> Reply:
        if event.reply is None:
            self._open_spool()  # BDAT 0 LAST: an empty message
        spool, self._spool = self._spool, None
        self._sender, self._recipients = None, []
        self._spool_failed, self._forward = False, None
        if event.reply is not None:  # too big, bad line endings...: nothing delivered
            if spool is not None:
                spool.discard()
            return event.reply
        if spool is None:
            return Reply(451, "Local error in processing", "4.3.0")
        try:
            spool.commit()
        except OSError:
            return Reply(451, "Local error in processing", "4.3.0")
        return Reply(250, f"OK queued as {self._queue_id}", "2.0.0")

    def _trace_headers(self, queue_id: str, recipients: Sequence[RcptTo]) -> bytes:
        """``Return-Path:`` and ``Received:`` (RFC 5321 4.4), then with --dsn the
        X-Envelope-* block (docs/examples.md); CRLF-terminated."""
        assert self._sender is not None
        path = self._sender.reverse_path
        sender = path.address if path is not None else ""
        protocol = "ESMTP" if self._extended else "SMTP"
        if self.config.lmtp:
            protocol = "LMTP"  # RFC 3848 (LHLO is extended)
        if self._sender.smtputf8:
            protocol = "UTF8" + protocol.replace("ESMTP", "SMTP")  # RFC 6531 3.7.3
        if self._extended:  # RFC 3848, RFC 4954 7, RFC 6531 3.7.3: ESMTPSA, UTF8SMTPS...
            protocol += "S" if self.conn.tls_active else ""
            protocol += "A" if self.conn.authenticated else ""
        # "for" only names a single recipient, so a copy does not list the others.
        only = recipients[0].forward_path.address if len(recipients) == 1 else ""
        for_clause = f"\r\n\tfor <{only}>" if only else ""
        client = self._forward or self.client
        tcp_info = _tcp_info((client.address,) if client.address else None)
        if client.name:
            tcp_info = f"{client.name} {tcp_info}"
        # A relayed client: its port and the relay, in the comment RFC 5321 4.4
        # allows before the ";" of the stamp.
        port = f"client port {client.port}; " if client.port is not None else ""
        relay = f"\r\n\t({port}{client.via})" if client.via else ""
        date = email.utils.formatdate(localtime=True)
        received = (
            f"Received: from {client.helo or self._helo} ({tcp_info})\r\n"
            f"\tby {self.config.hostname} with {protocol} id {queue_id}"
            f"{for_clause}{relay};\r\n\t{date}\r\n"
        )
        head = f"Return-Path: <{sender}>\r\n{received}"
        if self.config.dsn:
            head += self._envelope_headers(recipients)
        return head.encode()

    def _envelope_headers(self, recipients: Sequence[RcptTo]) -> str:
        """--dsn: the envelope as MAIL and RCPT gave it, with the RFC 3461
        parameters in xtext (docs/examples.md):
        ``X-Envelope-From: <s> RET=HDRS ENVID=abc`` and, per recipient,
        ``X-Envelope-To: <r> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y``."""
        assert self._sender is not None
        mail = self._sender
        line = f"X-Envelope-From: <{mail.reverse_path.address if mail.reverse_path else ''}>"
        if mail.ret is not None:
            line += f" RET={mail.ret}"
        if mail.envid is not None:
            line += f" ENVID={_xtext(mail.envid)}"
        lines = [line]
        for rcpt in recipients:
            line = f"X-Envelope-To: <{rcpt.forward_path.address}>"
            if rcpt.notify is not None:
                line += f" NOTIFY={','.join(rcpt.notify)}"
            if rcpt.orcpt is not None:
                address_type, address = rcpt.orcpt
                line += f" ORCPT={_xtext(address_type)};{_xtext(address)}"
            lines.append(line)
        return "".join(f"{line}\r\n" for line in lines)


# The example's answer to each kind of command (anything else: 502).
_DECISIONS: dict[type[Event], Callable[[Session, Any], Reply]] = {
    CommandRejected: Session._pass_on,
    UnknownCommand: Session._pass_on,
    AuthChallenge: Session._pass_on,
    StartTLS: Session._on_starttls,
    Authenticate: Session._authenticate,
    ProxyHeader: Session._on_proxy,
    XClient: Session._on_xclient,
    XForward: Session._on_xforward,
    Hello: Session._on_hello,
    MailFrom: Session._on_mail,
    RcptTo: Session._on_rcpt,
    DataStart: Session._on_data,
    ChunkReceived: Session._on_chunk,
    EndOfMessage: Session._on_end,
    Reset: Session._on_reset,
    Noop: Session._on_noop,
    Quit: Session._on_quit,
    Verify: Session._on_verify,
    Expand: Session._on_expand,
    Help: Session._on_help,
}
