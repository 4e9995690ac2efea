"""The example servers' settings: the command line every one of them takes, the
frozen ``Config`` it produces, and what a server prints to its operator.

``Config``'s defaults are the flags' defaults; ``parse_args`` checks the flags
and loads the TLS certificate, so a bad setting stops the server before it
listens. Nothing here answers a client (that is ``_policy.py``).
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import socket
import ssl
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _maildir import make_maildir

from smtpstate import Extensions, Options

__all__ = ["READ_SIZE", "WRITE_THRESHOLD", "Config", "announce", "log_error", "parse_args"]

# Fixed sizes of the adapters' I/O (not on the command line).
READ_SIZE = 64 * 1024  # bytes asked for per read
# Replies to pipelined commands are batched (RFC 2920 3.2) and written before the
# next read; a client that pipelines without reading forces a write at this size,
# so the reply buffer stays bounded and the write blocks (back-pressure).
WRITE_THRESHOLD = 16 * 1024

# RFC 5321 4.5.3.1.8: a server MUST accept at least 100 recipients.
MIN_RECIPIENTS = 100
# --auth: every built-in SASL mechanism; the engine offers PLAIN and LOGIN only
# under TLS unless --auth-without-tls (RFC 4954 4).
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
# --xclient-trusted: the networks whose clients may use XCLIENT and XFORWARD.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8025
    maildir: str = "./maildir"
    hostname: str = field(default_factory=socket.gethostname)
    max_message_size: int = 32 * 1024 * 1024
    max_recipients: int = MIN_RECIPIENTS
    discard: bool = False
    strict_pipelining: bool = False
    max_errors: int | None = 20
    # RFC 5321 4.5.3.2: the timeouts, in seconds, one per phase. The RFC states most of
    # them as the client's wait for a reply; the server waits as long for what comes next.
    initial_timeout: float = 300.0  # 4.5.3.2.1: after the greeting, for the first command
    mail_timeout: float = 300.0  # 4.5.3.2.2: after MAIL, for RCPT
    rcpt_timeout: float = 300.0  # 4.5.3.2.3: after RCPT, for RCPT or DATA
    data_init_timeout: float = 120.0  # 4.5.3.2.4: after 354, for the first block of the body
    data_timeout: float = 180.0  # 4.5.3.2.5: for each further block of the body
    data_term_timeout: float = 600.0  # 4.5.3.2.6: to get the reply to <CRLF>.<CRLF> out
    idle_timeout: float = 300.0  # 4.5.3.2.7: server timeout, for the next command
    # The whole body, from 354 to the terminator: a client trickling a byte per block
    # timeout cannot hold a connection for ever.
    message_deadline: float = 600.0
    tls: ssl.SSLContext | None = None  # --tls-cert and --tls-key: STARTTLS offered
    users: tuple[tuple[str, str], ...] = ()  # --auth USER:PASSWORD: AUTH offered
    require_tls: bool = False
    require_auth: bool = False
    auth_without_tls: bool = False
    lmtp: bool = False  # --lmtp: LHLO, one file and one reply per recipient (RFC 2033)
    chunking: bool = False  # --chunking: BDAT and BINARYMIME (RFC 3030)
    dsn: bool = False  # --dsn: RFC 3461 parameters, kept in X-Envelope-* headers
    proxy_protocol: bool = False  # --proxy-protocol: a PROXY v1/v2 header comes first
    xclient_trusted: tuple[Network, ...] = ()  # --xclient-trusted CIDR: XCLIENT, XFORWARD


# The time limits: (Config field, help); the flag is the field with dashes.
_TIMES = (
    ("idle_timeout", "wait for a command (RFC 5321 4.5.3.2.7: %(default)s)"),
    ("data_timeout", "wait for the next block of a message body (RFC 5321 4.5.3.2.5: %(default)s)"),
    ("initial_timeout", "wait for the first command (4.5.3.2.1: %(default)s)"),
    ("mail_timeout", "wait after MAIL (4.5.3.2.2: %(default)s)"),
    ("rcpt_timeout", "wait after RCPT (4.5.3.2.3: %(default)s)"),
    ("data_init_timeout", "wait after 354 (4.5.3.2.4: %(default)s)"),
    ("data_term_timeout", "wait to answer a body (4.5.3.2.6: %(default)s)"),
    ("message_deadline", "the whole body, from 354 to the final dot (%(default)s)"),
)


def parse_args(description: str, argv: Sequence[str] | None = None) -> Config:
    """The command line every example server takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default=Config.host, help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=Config.port, help="port; 0 picks a free one (8025)")
    p.add_argument("--maildir", default=Config.maildir, help="Maildir to deliver to (./maildir)")
    p.add_argument("--hostname", default=None, help="name in the greeting and Received:")
    p.add_argument(
        "--max-message-size",
        type=int,
        default=Config.max_message_size,
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
    for name, text in _TIMES:
        flag, default = "--" + name.replace("_", "-"), getattr(Config, name)
        p.add_argument(flag, type=float, default=default, metavar="SECONDS", help=text)
    p.add_argument(
        "--strict-pipelining",
        action="store_true",
        help="554 and close when a client sends ahead where RFC 2920 3.1 says to wait",
    )
    p.add_argument(
        "--max-errors",
        type=int,
        default=Config.max_errors,
        metavar="N",
        help="rejected commands before 421 4.7.0 and close, 0 for no limit (%(default)s)",
    )
    p.add_argument("--discard", action="store_true", help="accept mail and drop it")
    _add_tls_auth_options(p)
    _add_extension_options(p)
    args = p.parse_args(argv)
    times = {name: getattr(args, name) for name, _ in _TIMES}
    if min(times.values()) <= 0:
        p.error("timeouts must be positive")
    config = Config(
        **_tls_auth_config(p, args),
        **_extension_config(p, args),
        **times,
        host=args.host,
        port=args.port,
        maildir=args.maildir,
        hostname=args.hostname or socket.gethostname(),
        max_message_size=args.max_message_size,
        max_recipients=args.max_recipients,
        discard=args.discard,
        strict_pipelining=args.strict_pipelining,
        max_errors=args.max_errors or None,
    )
    try:  # the engine checks its own limits (--max-recipients, --max-message-size, ...)
        engine_settings(config)
    except ValueError as error:
        p.error(str(error))
    return config


@functools.cache
def engine_settings(config: Config) -> tuple[Extensions, Options]:
    """What the command line turns on in the engine, built once per configuration
    (the engine prepares its checks per pair)."""
    extensions = Extensions(
        size=config.max_message_size,
        smtputf8=True,
        starttls=config.tls is not None,
        auth=AUTH_MECHANISMS if config.users else (),
        auth_without_tls=config.auth_without_tls,
        chunking=config.chunking,
        binarymime=config.chunking,
        dsn=config.dsn,
    )
    options = Options(
        require_tls=config.require_tls,
        require_auth=config.require_auth,
        max_recipients=config.max_recipients,
        max_errors=config.max_errors,
        strict_pipelining=config.strict_pipelining,
        lmtp=config.lmtp,
        proxy_protocol=config.proxy_protocol,
    )
    return extensions, options


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


# -- what the operator sees ----------------------------------------------------------


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
