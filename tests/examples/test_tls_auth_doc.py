"""docs/tls-auth.md: its links resolve, and its code runs against the engine."""

from __future__ import annotations

import base64
import re

import smtpstate

from .conftest import EXAMPLES

PAGE = EXAMPLES.parent / "docs" / "tls-auth.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_links_resolve() -> None:
    text = PAGE.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links
    for link in links:
        assert (PAGE.parent / link).resolve().is_file(), link
    guide = (PAGE.parent / "adapters.md").read_text(encoding="utf-8")
    assert "(tls-auth.md)" in guide


def answer(conn: smtpstate.ServerConnection, data: bytes) -> list[object]:
    """Feed ``data``; accept AUTH credentials with 235, answer the rest with the
    connection's default (STARTTLS 220, AuthenticationChallenge its 334, EHLO 250)."""
    conn.receive_data(data)
    events: list[object] = []
    while True:
        event = conn.next_event()
        if event is smtpstate.NEED_DATA or event is smtpstate.PAUSED:
            return events
        events.append(event)
        if isinstance(event, smtpstate.Authentication):
            conn.send(smtpstate.Reply(235, "ok", "2.7.0"))
        else:
            conn.send(conn.default_reply())


def test_authenticate_example() -> None:
    namespace: dict[str, object] = {"smtpstate": smtpstate, "passwords": {"alice": "pw"}}
    block = next(b for b in python_blocks() if "def authenticate" in b)
    exec(block, namespace)
    check = namespace["authenticate"]
    assert callable(check)

    def plain(user: str, password: str, authzid: str = "") -> smtpstate.Authentication:
        return smtpstate.Authentication(
            mechanism="PLAIN", username=user, password=password, authorization_id=authzid
        )

    assert check(plain("alice", "pw")).code == 235
    assert check(plain("alice", "pw", "alice")).code == 235
    assert check(plain("alice", "pw", "bob")).code == 535
    assert check(plain("alice", "nope")).code == 535
    assert check(plain("nobody", "\0")).code == 535


def test_xoauth2_example() -> None:
    namespace: dict[str, object] = {}
    block = next(b for b in python_blocks() if "class XOAuth2" in b)
    exec(block, namespace)
    extensions = namespace["extensions"]
    assert isinstance(extensions, smtpstate.Extensions)
    conn = smtpstate.ServerConnection("mx.test", extensions)
    conn.send(smtpstate.Reply(220, "mx.test ESMTP"))
    answer(conn, b"EHLO c.test\r\nSTARTTLS\r\n")
    assert conn.state is smtpstate.State.TLS_PENDING
    conn.tls_established()
    token = base64.b64encode(b"user=alice@c.test\x01auth=Bearer ya29.token\x01\x01")
    events = answer(conn, b"EHLO c.test\r\nAUTH XOAUTH2 " + token + b"\r\n")
    done = events[-1]
    assert isinstance(done, smtpstate.Authentication)
    assert (done.mechanism, done.username) == ("XOAUTH2", "alice@c.test")
    assert done.extra == {"token": "ya29.token"}
    assert conn.authenticated == "alice@c.test"
    # Without an initial response: an empty 334, then the whole message.
    conn = smtpstate.ServerConnection("mx.test", extensions)
    conn.send(smtpstate.Reply(220, "mx.test ESMTP"))
    answer(conn, b"EHLO c.test\r\nSTARTTLS\r\n")
    conn.tls_established()
    events = answer(conn, b"EHLO c.test\r\nAUTH XOAUTH2\r\n" + token + b"\r\n")
    assert isinstance(events[1], smtpstate.AuthenticationChallenge)
    assert isinstance(events[2], smtpstate.Authentication)
    # Held back before TLS, like PLAIN.
    conn = smtpstate.ServerConnection("mx.test", extensions)
    conn.send(smtpstate.Reply(220, "mx.test ESMTP"))
    events = answer(conn, b"EHLO c.test\r\nAUTH XOAUTH2 " + token + b"\r\n")
    refused = events[-1]
    assert isinstance(refused, smtpstate.RejectedCommand)
    assert refused.reply.code == 538
