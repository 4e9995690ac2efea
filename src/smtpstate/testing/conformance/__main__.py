"""``python -m smtpstate.testing.conformance --host H --port P``: run the suite,
print one line per case and a summary line. Exit status: 0 when no MUST case
failed, 1 when one did, 2 for a usage error or a server that cannot be reached."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import CaseResult, Level, Outcome, TargetError, run, summary


def format_result(result: CaseResult) -> str:
    """``PASS id  section  level`` and, on FAIL or SKIP, ``: reason``."""
    case = result.case
    line = f"{result.outcome.value} {case.id:<44} {case.section:<24} {case.level.value}"
    return f"{line}: {result.reason}" if result.reason else line


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m smtpstate.testing.conformance",
        description="Run the SMTP conformance suite against a server.",
    )
    p.add_argument("--host", required=True, help="server address")
    p.add_argument("--port", type=int, required=True, help="server port")
    p.add_argument("--tls-ca", metavar="FILE", help="CA certificates (PEM) to verify STARTTLS")
    p.add_argument(
        "--tls-insecure", action="store_true", help="STARTTLS without verifying the certificate"
    )
    p.add_argument("--tls-server-name", metavar="NAME", help="name to verify (default: --host)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="credentials for the AUTH cases")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per case (10)")
    p.add_argument("--only", metavar="PATTERN", help="case ids: a glob, or a substring")
    p.add_argument("--mail-from", default="conformance@example.org", metavar="ADDRESS")
    p.add_argument("--rcpt", metavar="ADDRESS", help="a recipient the server accepts")
    p.add_argument("--helo-name", default="client.example.org", metavar="DOMAIN")
    p.add_argument("--verbose", action="store_true", help="the transcript of each failed case")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        p.error("--timeout must be positive")
    auth = None
    if args.auth is not None:
        user, colon, password = args.auth.partition(":")
        if not (user and colon):
            p.error("--auth takes USER:PASSWORD")
        auth = (user, password)

    def report(result: CaseResult) -> None:
        print(format_result(result), flush=True)
        if args.verbose and result.outcome is Outcome.FAIL:
            for line in result.transcript:
                print(f"    {line}")

    try:
        results = run(
            args.host,
            args.port,
            tls_ca=args.tls_ca,
            tls_insecure=args.tls_insecure,
            tls_server_name=args.tls_server_name,
            auth=auth,
            timeout=args.timeout,
            only=args.only,
            mail_from=args.mail_from,
            rcpt=args.rcpt,
            helo_name=args.helo_name,
            report=report,
        )
    except (TargetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(results))
    must_failed = any(
        r.outcome is Outcome.FAIL and r.case.level is Level.MUST for r in results
    )
    return 1 if must_failed else 0


if __name__ == "__main__":
    sys.exit(main())
