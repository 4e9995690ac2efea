"""The docs cannot go stale: the state diagram matches the transition table, the
README's example server really receives mail from a real client, and the
tutorial quotes examples/tutorial_server.py exactly (which
tests/examples/test_tutorial_server.py runs as a process)."""

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


def _load(path: Path) -> ModuleType:
    """Import a file that is not in a package (docs/, examples/)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_state_diagram() -> ModuleType:
    return _load(ROOT / "docs" / "state_diagram.py")


def test_state_diagram_is_current() -> None:
    """docs/state-diagram.md is exactly what docs/state_diagram.py generates from
    TRANSITIONS and the precedence of _rules.STEPS; after changing either, run
    ``python docs/state_diagram.py``."""
    module = _load_state_diagram()
    committed = (ROOT / "docs" / "state-diagram.md").read_text(encoding="utf-8")
    assert committed == module.render()


def _section_rows(text: str, heading: str) -> list[str]:
    """The table rows (not the header) of the section under ``heading``."""
    section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return rows[1:]  # the header row; the |---| line does not start with "| "


def test_state_diagram_covers_every_transition() -> None:
    """Each row of TRANSITIONS appears in the generated table."""
    from smtpstate._state import TRANSITIONS

    text = _load_state_diagram().render()
    assert len(_section_rows(text, "## Transition table")) == len(TRANSITIONS)


def test_precedence_table_has_every_rule_in_order() -> None:
    """The precedence table has one row per Rule of each step of _rules.STEPS,
    in their order, with the step's number, the reply code and the Refusal."""
    from smtpstate._rules import STEPS

    text = _load_state_diagram().render()
    rows = [
        [cell.strip() for cell in row.strip("|").split(" | ")]
        for row in _section_rows(text, "## Precedence of the engine's checks")
    ]
    expected = [
        (str(number), str(rule.code), rule.refusal.name if rule.refusal else None)
        for number, step in enumerate(STEPS, 1)
        for rule in step.rules
    ]
    found = [
        (row[0], row[5].split()[0], row[7].strip("`") if row[7].startswith("`") else None)
        for row in rows
    ]
    assert found == expected


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


TUTORIAL_SERVER = ROOT / "examples" / "tutorial_server.py"


def _tutorial_program() -> str:
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    section = text.split("## The complete server", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_tutorial_quotes_its_server_file() -> None:
    """The tutorial's complete server is examples/tutorial_server.py, whole and
    unchanged: edit the file, then paste it into docs/tutorial.md."""
    assert _tutorial_program() == TUTORIAL_SERVER.read_text(encoding="utf-8")
