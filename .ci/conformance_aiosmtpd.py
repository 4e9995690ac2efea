"""Run the conformance suite (smtpstate.testing.conformance) against aiosmtpd, an
independent SMTP server, and print its results. aiosmtpd runs in this process
(its Controller thread) on 127.0.0.1 with a handler that accepts every message,
SMTPUTF8, STARTTLS with a self-signed certificate made here with the openssl CLI,
and AUTH for one user. The suite's failures are aiosmtpd's and are only printed
(docs/conformance.md lists them); this script fails (exit 2) only when it cannot
run the suite: aiosmtpd or openssl missing, the server not starting, or the
suite's command line ending with a usage or connection error."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

USER, PASSWORD = "joe", "secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_certificate(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("conformance_aiosmtpd: the openssl CLI is needed for the test certificate")
    crt, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-days", "1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return crt, key


class AcceptAll:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def main() -> int:
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError:
        print("conformance_aiosmtpd: aiosmtpd is not installed", file=sys.stderr)
        return 2

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(), PASSWORD.encode())
        return AuthResult(success=good, handled=False)  # False: aiosmtpd sends the 535

    with tempfile.TemporaryDirectory() as folder:
        crt, key = make_certificate(Path(folder))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(crt, key)
        port = free_port()
        controller = Controller(
            AcceptAll(), hostname="127.0.0.1", port=port, server_hostname="mx.example.org",
            enable_SMTPUTF8=True, tls_context=context, authenticator=authenticator,
        )  # fmt: skip
        controller.start()
        try:
            command = [sys.executable, "-m", "smtpstate.testing.conformance",
                       "--host", "127.0.0.1", "--port", str(port), "--tls-ca", str(crt),
                       "--auth", f"{USER}:{PASSWORD}", *sys.argv[1:]]  # fmt: skip
            result = subprocess.run(command, timeout=1800, env=os.environ.copy())
        finally:
            controller.stop()
    print(f"conformance_aiosmtpd: the suite exited with {result.returncode}")
    return 2 if result.returncode == 2 else 0


if __name__ == "__main__":
    sys.exit(main())
