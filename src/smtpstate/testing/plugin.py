"""The pytest plugin of smtpstate: the ``smtp_sink`` and ``smtp_sink_factory``
fixtures and the ``smtp_sink`` marker.

pytest loads it through the ``pytest11`` entry point ``smtpstate`` once the
package is installed, so a test only names the fixture:

    def test_sends_welcome_mail(smtp_sink):
        send_welcome("joe@example.org", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port)
        assert smtp_sink.messages[0].rcpt_tos == ["joe@example.org"]

Settings for one test go in the marker, with the keywords of ``SMTPSink``:
``@pytest.mark.smtp_sink(tls=True, accounts={"joe": "secret"})``. A test that
needs several sinks, or settings computed at run time, asks for
``smtp_sink_factory`` and calls it with the same keywords.

This module is imported by every pytest run where smtpstate is installed: it
imports only pytest, the standard library and smtpstate (never hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smtpstate.testing.sink import SMTPSink

__all__ = ["smtp_sink", "smtp_sink_factory"]

MARKER = "smtp_sink"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): the settings of the smtp_sink fixture, as the keyword "
        "arguments of smtpstate.testing.sink.SMTPSink (tls, accounts, extensions, options, "
        "faults, hostname, timeout)",
    )


@pytest.fixture
def smtp_sink_factory() -> Iterator[Callable[..., SMTPSink]]:
    """A function that starts an ``SMTPSink`` with the given keyword settings and
    returns it; every sink it started is stopped when the test ends."""
    sinks: list[SMTPSink] = []

    def start(**settings: Any) -> SMTPSink:
        sink = SMTPSink(**settings)
        sinks.append(sink)
        return sink.start()

    yield start
    failures: list[BaseException] = []
    for sink in reversed(sinks):
        try:
            sink.stop()
        except Exception as exc:  # stop the others first
            failures.append(exc)
    if failures:
        raise failures[0]


@pytest.fixture
def smtp_sink(
    request: pytest.FixtureRequest, smtp_sink_factory: Callable[..., SMTPSink]
) -> SMTPSink:
    """A started ``SMTPSink`` on 127.0.0.1 and a free port, stopped after the test.
    Its settings come from the closest ``@pytest.mark.smtp_sink(...)`` marker
    (keywords only), else the defaults."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return smtp_sink_factory()
    if marker.args:
        raise TypeError("@pytest.mark.smtp_sink takes keyword arguments only")
    return smtp_sink_factory(**marker.kwargs)
