"""A conformance suite for any SMTP server, run over TCP.

``python -m smtpstate.testing.conformance --host H --port P`` runs every case,
each on its own connection, and prints one line per case and a summary. From
Python, ``run(host, port)`` returns the results. Stdlib only: the suite needs
neither pytest nor hypothesis.

Each case names the RFC section and the level (MUST, SHOULD, MAY) of the rule
it checks. Cases for extensions the server does not advertise in its EHLO
reply are skipped, and so are STARTTLS cases without a TLS setting and AUTH
cases without credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from . import (  # noqa: F401  (importing a topic module registers its cases)
    _auth,
    _chunking,
    _commands,
    _data,
    _dsn,
    _enhanced,
    _international,
    _paths,
    _pipelining,
    _robustness,
    _sequence,
    _session,
    _size,
    _starttls,
)
from ._suite import (
    CASES,
    Case,
    CaseResult,
    Level,
    Outcome,
    Target,
    TargetError,
    probe,
    run_cases,
    select,
)

# The order cases run and print in: the base protocol first, then the extensions.
_TOPICS = ["greeting", "ehlo", "helo", "reply", "case", "sequence", "rset", "noop", "quit",
           "vrfy", "expn", "help", "unknown", "mail", "rcpt", "data", "smuggling", "robust",
           "pipelining", "size", "8bitmime", "smtputf8", "enhanced", "dsn", "chunking",
           "starttls", "auth"]  # fmt: skip
CASES.sort(key=lambda c: _TOPICS.index(c.id.split(".")[0]))

__all__ = [
    "CASES",
    "Case",
    "CaseResult",
    "Level",
    "Outcome",
    "TargetError",
    "run",
    "summary",
    "tls_context",
]


def tls_context(
    ca_file: str | None = None, *, insecure: bool = False
) -> ssl.SSLContext | None:
    """The client context for STARTTLS cases: one that verifies the server's
    certificate against ``ca_file``; an unverified one only when ``insecure``
    is asked for explicitly; None (STARTTLS cases skip) otherwise."""
    if ca_file is not None:
        return ssl.create_default_context(cafile=ca_file)
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return None


def run(
    host: str,
    port: int,
    *,
    tls_ca: str | None = None,
    tls_insecure: bool = False,
    tls_server_name: str | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 10.0,
    only: str | None = None,
    mail_from: str = "conformance@example.org",
    rcpt: str | None = None,
    helo_name: str = "client.example.org",
    report: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run the cases against ``host:port`` and return one result per case.

    ``timeout`` bounds each case (its connections and every reply in it).
    ``only`` keeps the cases whose id matches (a glob with ``*``, else a
    substring). ``rcpt`` is a recipient the server accepts (default:
    postmaster at the name in the server's EHLO reply). ``report`` is called
    with each result as it comes. Raises ``TargetError`` when the server cannot
    be reached or does not greet with 220 and answer EHLO with 250."""
    target = probe(
        Target(
            host=host,
            port=port,
            timeout=timeout,
            tls_context=tls_context(tls_ca, insecure=tls_insecure),
            tls_server_name=tls_server_name,
            auth=auth,
            mail_from=mail_from,
            rcpt=rcpt or "",
            helo_name=helo_name,
        )
    )
    return run_cases(target, select(CASES, only), report)


def summary(results: list[CaseResult]) -> str:
    """``N passed, M failed, K skipped``."""
    count = {outcome: sum(r.outcome is outcome for r in results) for outcome in Outcome}
    return (
        f"{count[Outcome.PASS]} passed, {count[Outcome.FAIL]} failed, "
        f"{count[Outcome.SKIP]} skipped"
    )
