"""The case registry, the per-case helper the checks use, and the runner."""

from __future__ import annotations

import base64
import fnmatch
import re
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import NoReturn

from .._shared import MalformedReply, ServerReply
from ._client import Client, NoReply, ServerClosed


class Level(str, Enum):
    """How strongly the RFC text words the rule a case checks (RFC 2119)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Outcome(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Case:
    """One check: ``id`` is unique and stable, ``section`` names the RFC and its
    section, ``needs`` lists EHLO keywords the server must advertise (else SKIP)."""

    id: str
    section: str
    level: Level
    title: str
    check: Callable[[Check], None]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseResult:
    case: Case
    outcome: Outcome
    reason: str = ""
    seconds: float = 0.0
    transcript: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.case.id


CASES: list[Case] = []


def case(
    id: str, section: str, level: Level, title: str, *, needs: Sequence[str] = ()
) -> Callable[[Callable[[Check], None]], Callable[[Check], None]]:
    """Register a check function as a case."""

    def register(check: Callable[[Check], None]) -> Callable[[Check], None]:
        if any(c.id == id for c in CASES):
            raise ValueError(f"duplicate case id {id}")
        CASES.append(Case(id, section, level, title, check, tuple(needs)))
        return check

    return register


class CaseFailed(Exception):
    """The server broke the rule the case checks."""


class CaseSkipped(Exception):
    """The case does not apply to this server or this run."""


class TargetError(Exception):
    """The server could not be reached or did not greet and answer EHLO."""


@dataclass(frozen=True)
class Target:
    """The server under test and what the suite learned from it first."""

    host: str
    port: int
    timeout: float = 10.0
    tls_context: ssl.SSLContext | None = None
    tls_server_name: str | None = None
    auth: tuple[str, str] | None = None
    mail_from: str = "conformance@example.org"
    rcpt: str = ""
    helo_name: str = "client.example.org"
    extensions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tls_extensions: dict[str, tuple[str, ...]] | None = None


def parse_ehlo(reply: ServerReply) -> dict[str, tuple[str, ...]]:
    """EHLO keyword (upper case) -> its parameters, from the lines after the first."""
    keywords: dict[str, tuple[str, ...]] = {}
    for line in reply.lines[1:]:
        words = line.split()
        if words:
            keywords[words[0].upper()] = tuple(words[1:])
    return keywords


class Check:
    """What a case works with: connections that close when the case ends, the
    target's settings, and short ways to expect codes and to fail or skip."""

    def __init__(self, target: Target, deadline: float) -> None:
        self.target = target
        self.deadline = deadline
        self.clients: list[Client] = []

    # -- verdicts ------------------------------------------------------------------
    def fail(self, reason: str) -> NoReturn:
        raise CaseFailed(reason)

    def skip(self, reason: str) -> NoReturn:
        raise CaseSkipped(reason)

    def expect(self, reply: ServerReply, codes: Iterable[int], what: str) -> ServerReply:
        allowed = tuple(codes)
        if reply.code not in allowed:
            wanted = "/".join(str(c) for c in allowed)
            self.fail(f"{what}: got {reply.code} {_first(reply)!r}, expected {wanted}")
        return reply

    def expect_class(self, reply: ServerReply, first_digits: str, what: str) -> ServerReply:
        if str(reply.code)[0] not in first_digits:
            self.fail(f"{what}: got {reply.code} {_first(reply)!r}, expected {first_digits}xx")
        return reply

    # -- connections ---------------------------------------------------------------
    def connect(self, *, greeting: bool = True) -> Client:
        client = Client.connect(self.target.host, self.target.port, self.deadline)
        self.clients.append(client)
        if greeting:
            self.expect(client.reply(), (220,), "greeting")
        return client

    def ehlo(self, client: Client, name: str | None = None) -> ServerReply:
        return self.expect(
            client.command(f"EHLO {name or self.target.helo_name}"), (250,), "EHLO"
        )

    def session(self) -> Client:
        """Connected, greeted and past EHLO."""
        client = self.connect()
        self.ehlo(client)
        return client

    def mail(self, client: Client, params: str = "") -> None:
        line = f"MAIL FROM:<{self.target.mail_from}>" + (f" {params}" if params else "")
        self.expect(client.command(line), (250,), "MAIL")

    def rcpt(self, client: Client, params: str = "") -> None:
        line = f"RCPT TO:<{self.target.rcpt}>" + (f" {params}" if params else "")
        self.expect(client.command(line), (250, 251), "RCPT")

    def transaction(self, client: Client, mail_params: str = "") -> None:
        """MAIL and one RCPT, both accepted."""
        self.mail(client, mail_params)
        self.rcpt(client)

    def data(self, client: Client, body: bytes) -> ServerReply:
        """DATA, the body as given (already dot-stuffed, ending with CRLF) and
        the end of data; returns the reply to the end of data."""
        self.expect(client.command("DATA"), (354,), "DATA")
        client.send(body + b".\r\n")
        return client.reply()

    def deliver(self, client: Client, body: bytes | None = None) -> None:
        """A whole transaction that must be accepted."""
        self.transaction(client)
        self.expect(self.data(client, body or message()), (250,), "end of data")

    def still_alive(self, client: Client, what: str) -> None:
        """After something odd: the session either goes on (NOOP gets 250) or the
        server said 421 and closed, the only way RFC 5321 3.8 lets it hang up."""
        try:
            reply = client.command("NOOP")
        except (ServerClosed, OSError):
            self.fail(f"the server closed the connection after {what} without a 421")
        if reply.code == 421:
            return
        self.expect(reply, (250,), f"NOOP after {what}")

    def survives(self, client: Client, reply: ServerReply, what: str) -> None:
        """``reply`` answered something odd: a 421 must close, else NOOP works."""
        if reply.code == 421:
            if not client.wait_closed():
                self.fail(f"421 to {what} but the connection stayed open")
            return
        self.still_alive(client, what)

    # -- TLS and AUTH ----------------------------------------------------------------
    def require_tls(self) -> ssl.SSLContext:
        if "STARTTLS" not in self.target.extensions:
            self.skip("STARTTLS not advertised")
        if self.target.tls_context is None:
            self.skip("needs --tls-ca FILE (or --tls-insecure)")
        return self.target.tls_context

    def starttls(self, client: Client) -> None:
        context = self.require_tls()
        self.expect(client.command("STARTTLS"), (220,), "STARTTLS")
        client.starttls(context, self.target.tls_server_name or self.target.host)

    def tls_session(self) -> tuple[Client, ServerReply]:
        """Past EHLO, STARTTLS, the handshake and the second EHLO."""
        client = self.session()
        self.starttls(client)
        return client, self.ehlo(client)

    def require_auth(self) -> tuple[str, str]:
        if self.target.auth is None:
            self.skip("needs --auth USER:PASSWORD")
        if "AUTH" not in self.target.extensions and "AUTH" not in (
            self.target.tls_extensions or {}
        ):
            self.skip("AUTH not advertised")
        return self.target.auth

    def auth_session(self, mechanism: str = "PLAIN") -> Client:
        """Past EHLO where ``mechanism`` is offered: in plaintext if offered
        there, else after STARTTLS."""
        self.require_auth()
        offered = [m.upper() for m in self.target.extensions.get("AUTH", ())]
        if mechanism in offered:
            return self.session()
        tls_offered = [m.upper() for m in (self.target.tls_extensions or {}).get("AUTH", ())]
        if mechanism in tls_offered and self.target.tls_context is not None:
            return self.tls_session()[0]
        self.skip(f"AUTH {mechanism} not offered (with the TLS settings given)")

    def plain(self, password: str | None = None) -> str:
        user, good = self.require_auth()
        secret = good if password is None else password
        return base64.b64encode(f"\0{user}\0{secret}".encode()).decode()

    def close(self) -> None:
        for client in self.clients:
            client.close()


def message(body: bytes = b"Conformance test message.\r\n", subject: str = "test") -> bytes:
    """A small RFC 5322 message, CRLF line endings, no line starting with a dot."""
    head = (
        f"From: <conformance@example.org>\r\nTo: <postmaster@example.org>\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{time.time_ns()}@conformance.example.org>\r\n\r\n"
    )
    return head.encode() + body


def _first(reply: ServerReply) -> str:
    text = reply.lines[0] if reply.lines else ""
    return text if len(text) <= 80 else text[:77] + "..."


# -- running -----------------------------------------------------------------------


def probe(target: Target) -> Target:
    """Greet the server, read its EHLO keywords (and again after STARTTLS when a
    TLS context is given) and pick the default recipient."""
    deadline = time.monotonic() + target.timeout
    try:
        client = Client.connect(target.host, target.port, deadline)
    except OSError as exc:
        raise TargetError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
    try:
        greeting = client.reply()
        if greeting.code != 220:
            raise TargetError(f"the server greets with {greeting.code}, not 220")
        hello = client.command(f"EHLO {target.helo_name}")
        if hello.code != 250:
            raise TargetError(f"the server answers EHLO with {hello.code}, not 250")
        extensions = parse_ehlo(hello)
        tls_extensions = None
        tls = target.tls_context
        if "STARTTLS" in extensions and tls and client.command("STARTTLS").code == 220:
            client.starttls(tls, target.tls_server_name or target.host)
            again = client.command(f"EHLO {target.helo_name}")
            if again.code == 250:
                tls_extensions = parse_ehlo(again)
        rcpt = target.rcpt or _default_rcpt(greeting, hello)
        return replace(target, extensions=extensions, tls_extensions=tls_extensions, rcpt=rcpt)
    except (NoReply, ServerClosed, MalformedReply, OSError, ssl.SSLError) as exc:
        raise TargetError(f"{target.host}:{target.port}: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()


_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*")


def _default_rcpt(greeting: ServerReply, hello: ServerReply) -> str:
    """postmaster at the name the server gives itself (RFC 5321 4.5.1: every
    server accepts mail for it), else plain ``postmaster``."""
    for reply in (hello, greeting):
        words = reply.lines[0].split() if reply.lines else []
        if words and _DOMAIN.fullmatch(words[0]) and "." in words[0]:
            return f"postmaster@{words[0]}"
    return "postmaster"


def select(cases: Sequence[Case], only: str | None) -> list[Case]:
    """Cases whose id matches ``only``: a glob when it has * ? [, else a substring."""
    if not only:
        return list(cases)
    if any(ch in only for ch in "*?["):
        return [c for c in cases if fnmatch.fnmatchcase(c.id, only)]
    return [c for c in cases if only in c.id]


def run_case(target: Target, case_: Case) -> CaseResult:
    missing = [k for k in case_.needs if k not in target.extensions]
    if missing:
        return CaseResult(case_, Outcome.SKIP, f"{' '.join(missing)} not advertised")
    start = time.monotonic()
    check = Check(target, start + target.timeout)
    outcome, reason = Outcome.PASS, ""
    try:
        case_.check(check)
    except CaseFailed as exc:
        outcome, reason = Outcome.FAIL, str(exc)
    except CaseSkipped as exc:
        outcome, reason = Outcome.SKIP, str(exc)
    except NoReply as exc:
        outcome, reason = Outcome.FAIL, f"{exc} ({target.timeout:g} s)"
    except ServerClosed as exc:
        outcome, reason = Outcome.FAIL, str(exc)
    except MalformedReply as exc:
        outcome, reason = Outcome.FAIL, f"malformed reply (RFC 5321 4.2): {exc}"
    except ssl.SSLError as exc:
        outcome, reason = Outcome.FAIL, f"TLS error: {exc}"
    except OSError as exc:
        outcome, reason = Outcome.FAIL, f"connection error: {exc}"
    finally:
        check.close()
    transcript = tuple(line for client in check.clients for line in client.log)
    return CaseResult(case_, outcome, reason, time.monotonic() - start, transcript)


def run_cases(
    target: Target,
    cases: Sequence[Case],
    report: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    results = []
    for case_ in cases:
        result = run_case(target, case_)
        results.append(result)
        if report is not None:
            report(result)
    return results
