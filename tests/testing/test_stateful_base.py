"""smtpstate.testing.stateful: the mostly valid client reaches the policy, the
hooks see every reply and message, and a policy bug is found."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from smtpstate import Command, Event, Extensions, Recipient, Reply, ServerConnection
from smtpstate.testing._shared import ReceivedMessage, ServerReply
from smtpstate.testing.stateful import PolicyMachine

SETTINGS = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


def no_relay(conn: ServerConnection, event: Event) -> Reply | None:
    """The policy under test: only example.org is local."""
    if isinstance(event, Recipient) and event.forward_path.domain not in ("", "example.org"):
        return Reply(550, "Relaying denied", "5.7.1")
    return None


seen: Counter[str] = Counter()


class NoRelay(PolicyMachine):
    extensions = Extensions(pipelining=True)

    def application(self, conn: ServerConnection, event: Event) -> Reply | None:
        return no_relay(conn, event)

    def on_reply(self, command: Command, reply: ServerReply) -> None:
        seen[f"{type(command).__name__} {reply.code}"] += 1
        if isinstance(command, Recipient) and command.forward_path.domain == "example.com":
            assert reply.code == 550 and reply.enhanced_code == "5.7.1"

    def on_message(self, message: ReceivedMessage) -> None:
        seen["message"] += 1
        assert message.rcpt_tos
        assert all(r.endswith("@example.org") or r == "postmaster" for r in message.rcpt_tos)

    def check_application(self) -> None:
        seen["checked"] += 1


def test_a_policy_holds_under_the_mostly_valid_client() -> None:
    seen.clear()
    run_state_machine_as_test(NoRelay, settings=SETTINGS)
    # The client got far enough to exercise the policy both ways, and the
    # hooks saw it all.
    assert seen["message"] > 0 and seen["checked"] > 0, seen
    assert seen["Recipient 550"] > 0 and seen["Recipient 250"] > 0
    assert seen["DataStart 354"] > 0 and seen["EndOfMessage 250"] > 0
    assert seen["RejectedCommand 503"] > 0  # out of sequence, now and then


class LeakyRelay(NoRelay):
    """A policy bug: a recipient at example.com slips through with a 251."""

    def application(self, conn: ServerConnection, event: Event) -> Reply | None:
        if isinstance(event, Recipient) and event.forward_path.domain == "example.com":
            return Reply(251, "User not local; will forward", "2.1.5")
        return no_relay(conn, event)


def test_a_policy_bug_is_found() -> None:
    # No shrinking (the failure is what matters here), and nothing saved.
    quick = settings(SETTINGS, phases=[Phase.generate], database=None)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(LeakyRelay, settings=quick)


TestNoRelay = NoRelay.TestCase
TestNoRelay.settings = SETTINGS
