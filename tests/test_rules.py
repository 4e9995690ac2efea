"""The order of the engine's own checks (smtpstate._rules.STEPS), as the
precedence table in docs/state-diagram.md states it, and the Refusal code
each refusal carries."""

from __future__ import annotations

from smtpstate import Extensions, Refusal, RejectedCommand, Reply, State, UnknownCommand

from .helpers import codes, drive, new_conn


def _last_event(conn: object, data: bytes) -> object:
    events, _ = drive(conn, data)  # type: ignore[arg-type]
    return events[-1]


def test_require_tls_mail_before_ehlo_is_out_of_sequence() -> None:
    """RFC 5321 4.1.4 before RFC 3207 4: under require_tls, MAIL before EHLO
    gets 503 NEED_HELLO, because the sequence step comes before the TLS step."""
    conn = new_conn(require_tls=True)
    event = _last_event(conn, b"MAIL FROM:<a@b.example>\r\n")
    assert isinstance(event, RejectedCommand)
    assert event.reply.code == 503 and event.refusal is Refusal.NEED_HELLO


def test_require_tls_mail_after_ehlo_needs_tls() -> None:
    """RFC 3207 4: under require_tls, MAIL after EHLO gets 530 5.7.0 TLS_REQUIRED."""
    conn = new_conn(require_tls=True)
    event = _last_event(conn, b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n")
    assert isinstance(event, RejectedCommand)
    assert (event.reply.code, event.reply.enhanced) == (530, "5.7.0")
    assert event.refusal is Refusal.TLS_REQUIRED


def test_require_tls_comes_before_require_auth() -> None:
    """RFC 3207 4 before RFC 4954 6: under both policies, MAIL after EHLO gets
    the TLS refusal (530 5.7.0 "Must issue a STARTTLS command first") first."""
    conn = new_conn(require_tls=True, require_auth=True)
    event = _last_event(conn, b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n")
    assert isinstance(event, RejectedCommand) and event.refusal is Refusal.TLS_REQUIRED


def test_not_implemented_comes_before_sequence() -> None:
    """RFC 5321 4.2.4 before 4.1.4: STARTTLS not offered gets 502 even where it
    is out of sequence."""
    conn = new_conn()
    event = _last_event(conn, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\n")
    assert isinstance(event, RejectedCommand)
    assert event.reply.code == 502 and event.refusal is Refusal.NOT_IMPLEMENTED


def test_refused_greeting_comes_before_unknown_verb() -> None:
    """RFC 5321 3.1: after a 554 greeting, even an unknown verb gets 503
    NO_SERVICE (only QUIT is served)."""
    conn = new_conn(greet=False)
    conn.send(Reply(554, "no"))
    event = _last_event(conn, b"FROB\r\n")
    assert isinstance(event, RejectedCommand) and event.refusal is Refusal.NO_SERVICE


def test_refusal_codes() -> None:
    """A sample of the codes: each refusal says why in a stable way."""
    cases = [
        (b"EHLO c\r\nRCPT TO:<a@b.example>\r\n", Refusal.OUT_OF_SEQUENCE),
        (b"EHLO c\r\nMAIL FROM:a\r\n", Refusal.SYNTAX),
        (b"EHLO c\r\nMAIL FROM:<a@b.example> FOO=1\r\n", Refusal.UNKNOWN_PARAMETER),
        (b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=X\r\n", Refusal.INVALID_PARAMETER),
        (b"HELO c\r\nMAIL FROM:<\xc3\xa9@b.example>\r\n", Refusal.NEEDS_SMTPUTF8),
        (b"NOOP \x01\r\n", Refusal.SYNTAX),
        (b"NO\rOP\r\n", Refusal.BAD_LINE_ENDING),
        (b"NOOP \xff\r\n", Refusal.INVALID_UTF8),
        (b"NOOP " + b"x" * 600 + b"\r\n", Refusal.LINE_TOO_LONG),
    ]
    for wire, refusal in cases:
        event = _last_event(new_conn(), wire)
        assert isinstance(event, RejectedCommand), wire
        assert event.refusal is refusal, (wire, event)


def test_unknown_command_carries_its_refusal() -> None:
    event = _last_event(new_conn(), b"FROB\r\n")
    assert isinstance(event, UnknownCommand) and event.refusal is Refusal.UNKNOWN_COMMAND


def test_application_answers_a_refusal_with_its_own_reply() -> None:
    """A server that wants EHLO only rewords NEED_HELLO with its own 5xx; the
    state does not change and the session goes on."""
    conn = new_conn()

    def answer(event: object) -> Reply:
        if isinstance(event, RejectedCommand) and event.refusal is Refusal.NEED_HELLO:
            return Reply(503, "Send EHLO first", "5.5.1")
        if isinstance(event, (RejectedCommand, UnknownCommand)):
            return Reply(550, "No", "5.7.1")
        return Reply(250, "OK")

    _, out = drive(conn, b"MAIL FROM:<a@b.example>\r\nFROB\r\n", answer)  # type: ignore[arg-type]
    assert b"503 5.5.1 Send EHLO first\r\n" in out
    assert codes(out) == [503, 550]
    assert conn.state is State.AWAIT_HELLO


def test_plans_are_shared_by_equal_configurations() -> None:
    """Equal Options and Extensions made per connection reuse one plan."""
    from smtpstate import Options, ServerConnection

    first = ServerConnection("a", Extensions(size=10), Options(max_errors=5))
    second = ServerConnection("a", Extensions(size=10), Options(max_errors=5))
    assert first._plan is second._plan


def test_every_step_says_who_checks_it() -> None:
    """Each step of the order names its check function, or who enforces it."""
    from smtpstate._rules import STEPS

    assert all(step.checked_by for step in STEPS)
    assert STEPS[0].checked_by == "ServerConnection._next_command_event"


def test_construction_values_are_read_only_properties() -> None:
    from smtpstate import Options, ServerConnection

    options = Options(require_tls=True)
    conn = ServerConnection("mx.test", options=options)
    assert conn.hostname == "mx.test" and conn.options is options
