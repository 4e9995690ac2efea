"""The state table (_state): transitions are data, and the helpers read it."""

from __future__ import annotations

from smtpstate import (
    DataStart,
    EndOfMessage,
    Hello,
    Mail,
    Noop,
    Quit,
    Recipient,
    Reset,
    State,
)
from smtpstate._state import ACCEPT_CODES, TRANSITIONS, Greeting, Outcome, allowed, next_state
from smtpstate._state import sequence_error as text

A, R = Outcome.ACCEPT, Outcome.REJECT


def test_the_mail_transaction_path() -> None:
    state = next_state(State.CONNECTED, Greeting, A)
    for command, expected in [
        (Hello, State.READY),
        (Mail, State.IN_MAIL),
        (Recipient, State.HAS_RCPT),
        (Recipient, State.HAS_RCPT),
        (DataStart, State.IN_DATA),
        (EndOfMessage, State.READY),
        (Quit, State.CLOSED),
    ]:
        state = next_state(state, command, A)
        assert state is expected


def test_rejections_keep_the_state_except_where_the_table_says() -> None:
    assert next_state(State.IN_MAIL, Recipient, R) is State.IN_MAIL
    assert next_state(State.CONNECTED, Greeting, R) is State.REFUSED
    assert next_state(State.IN_DATA, EndOfMessage, R) is State.READY


def test_reset_does_not_stand_in_for_hello() -> None:
    assert next_state(State.AWAIT_HELLO, Reset, A) is State.AWAIT_HELLO
    assert next_state(State.HAS_RCPT, Reset, A) is State.READY


def test_allowed_and_sequence_texts() -> None:
    assert allowed(State.REFUSED, Quit) and not allowed(State.REFUSED, Noop)
    assert not allowed(State.AWAIT_HELLO, Mail)
    assert text(State.AWAIT_HELLO, Mail) == "Send HELO or EHLO first"
    assert text(State.IN_MAIL, Mail) == "Nested MAIL command"
    assert text(State.READY, Recipient) == "Need MAIL before RCPT"
    assert text(State.IN_MAIL, DataStart) == "Need RCPT before DATA"
    assert text(State.READY, DataStart) == "Need MAIL before DATA"


def test_every_target_state_is_a_state_and_every_command_has_codes() -> None:
    for (state, command, outcome), target in TRANSITIONS.items():
        assert isinstance(state, State) and isinstance(target, State)
        assert isinstance(outcome, Outcome)
        assert command in ACCEPT_CODES
    assert State.IN_DATA not in {s for (s, c, _) in TRANSITIONS if c is not EndOfMessage}
