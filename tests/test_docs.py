"""The docs cannot go stale: the state diagram matches the transition table, and
the README's example server really receives mail from a real client."""

from __future__ import annotations

import importlib.util
import re
import smtplib
import socket
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _load_state_diagram() -> ModuleType:
    path = ROOT / "docs" / "state_diagram.py"
    spec = importlib.util.spec_from_file_location("state_diagram", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_state_diagram_is_current() -> None:
    """docs/state-diagram.md is exactly what docs/state_diagram.py generates from
    TRANSITIONS; after changing the table, run ``python docs/state_diagram.py``."""
    module = _load_state_diagram()
    committed = (ROOT / "docs" / "state-diagram.md").read_text(encoding="utf-8")
    assert committed == module.render()


def test_state_diagram_covers_every_transition() -> None:
    """Each row of TRANSITIONS appears in the generated table."""
    from smtpstate._state import TRANSITIONS

    text = _load_state_diagram().render()
    table_rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(table_rows) == len(TRANSITIONS)


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "the README should hold exactly one python example"
    return str(blocks[0])


def test_readme_states_install_and_test_commands() -> None:
    """The README gives the two commands .ci/run relies on, exactly."""
    text = README.read_text(encoding="utf-8")
    assert 'pip install -e ".[test]"' in text
    assert "\npython -m pytest\n" in text


def test_readme_example_receives_mail_from_smtplib() -> None:
    """The README's server, run on loopback, takes a message with two recipients
    from the stdlib client; the body arrives dot-unstuffed and byte-exact, and a
    second connection works too. Its EHLO reply names the server; a recipient
    elsewhere is refused."""
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(_readme_example(), str(README), "exec"), namespace)
    serve = namespace["serve"]

    mailbox: list[bytes] = []
    errors: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        port = server.getsockname()[1]

        def run() -> None:
            try:
                for _ in range(2):
                    client, _address = server.accept()
                    client.settimeout(10)
                    with client:
                        serve(client, mailbox)
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        body = b"Subject: hi\r\n\r\n.leading dot\r\n..two dots\r\nlast line\r\n"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail("a@example.org", ["b@example.org", "c@example.org"], body)
            assert refused == {}
            assert client.ehlo_resp is not None and client.ehlo_resp.startswith(b"mx.example.org\n")
            assert client.verify("b")[0] == 252
            client.mail("a@example.org")
            assert client.rcpt("x@elsewhere.net") == (550, b"5.7.1 Relaying denied")
            client.rset()
            assert client.docmd("FROB")[0] == 500
            assert client.docmd("RCPT TO:<x@example.org>")[0] == 503
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("<>", ["d@example.org"], b"second\r\n")
        thread.join(10)

    assert not errors, errors
    assert not thread.is_alive()
    assert mailbox == [body, b"second\r\n"]


def _tutorial_program() -> str:
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    section = text.split("## The complete server", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def _run_server(
    serve: Any, spool_dir: str, connections: int
) -> tuple[int, threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def run() -> None:
        try:
            with server:
                for _ in range(connections):
                    client, _address = server.accept()
                    client.settimeout(10)
                    with client:
                        serve(client, spool_dir)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread, errors


def test_tutorial_server_spools_mail(tmp_path: Path) -> None:
    """The tutorial's complete server accepts mail for its domain, refuses relaying,
    writes the accepted body (after its Received line) to a .eml file, and closes
    with 421 once the error budget is spent."""
    namespace: dict[str, Any] = {"__name__": "tutorial_example"}
    exec(compile(_tutorial_program(), "docs/tutorial.md", "exec"), namespace)
    port, thread, errors = _run_server(namespace["serve"], str(tmp_path), 2)

    body = b"Subject: hi\r\n\r\n.dot\r\nbye\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        code, _ = client.ehlo("client.example.net")
        assert code == 250 and client.has_extn("pipelining") and client.has_extn("size")
        refused = client.sendmail("a@example.net", ["u@example.org", "x@elsewhere.net"], body)
        assert refused == {"x@elsewhere.net": (550, b"5.7.1 Relaying denied")}

    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"EHLO c\r\n" + b"JUNK\r\n" * 20)
        received = b""
        try:
            while chunk := raw.recv(65536):
                received += chunk
        except ConnectionResetError:  # the server closed with junk still unread
            pass
    thread.join(10)

    assert not errors, errors
    assert b"421 4.7.0" in received
    assert received.count(b"500 5.5.1") == 10
    files = sorted(tmp_path.iterdir())
    assert [path.suffix for path in files] == [".eml"]
    assert (
        files[0].read_bytes() == b"Received: from client.example.net by mx.example.org\r\n" + body
    )
