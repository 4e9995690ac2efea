"""Run the README's example server from an installed smtpstate and send it mail.

CI calls this with the Python of a fresh virtual environment that holds only the
built wheel (not the source tree): the README's python block is written to a
temporary folder, started as a server process on a free 127.0.0.1 port, sent one
message with smtplib, and stopped by its PID. It passes when the server imports
smtpstate from that environment's site-packages and reports the message received.
Every wait is bounded (30 s in all).

Usage: python .ci/readme_smoke.py PYTHON
"""

from __future__ import annotations

import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 30.0


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, "the README should hold exactly one python example"
    return str(blocks[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[str], until: float) -> None:
    while time.monotonic() < until:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the server did not listen on 127.0.0.1:{port} in time")


def read_lines(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))


def main(python: str) -> None:
    until = time.monotonic() + DEADLINE
    with tempfile.TemporaryDirectory() as folder:
        where = subprocess.run(
            [python, "-c", "import smtpstate; print(smtpstate.__file__, smtpstate.__version__)"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=True,
        ).stdout.strip()
        assert "site-packages" in where and str(ROOT) not in where, f"not the wheel: {where}"
        print(f"smtpstate from {where}")

        script = Path(folder) / "readme_server.py"
        script.write_text(readme_example(), encoding="utf-8")
        port = free_port()
        # -u: the server's "received" line reaches the pipe as soon as it is printed.
        server = subprocess.Popen(
            [python, "-u", str(script), str(port)],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # The first probe connection is served too (no mail): "received 0 message(s)".
            wait_for_port(port, server, until)
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                refused = client.sendmail(
                    "a@example.org", ["b@example.org"], b"Subject: smoke\r\n\r\n.dot\r\n"
                )
                assert refused == {}, refused
            # A daemon thread reads the output, so a silent server cannot block past the deadline.
            lines: list[str] = []
            threading.Thread(target=read_lines, args=(server, lines), daemon=True).start()
            while "received 1 message(s)" not in lines and time.monotonic() < until:
                time.sleep(0.05)
            assert "received 1 message(s)" in lines, lines
        finally:
            server.terminate()  # this process's own child, by PID
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    print(f"README example server received mail over 127.0.0.1:{port}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
