"""The SMTP sink (smtpstate.testing.sink) and its pytest plugin, driven by smtplib
over loopback. The fixtures come from the plugin (the ``pytest11`` entry point)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpstate import Extensions, Options, Reply
from smtpstate.testing.sink import (
    Delay,
    Disconnect,
    Fault,
    Greylist,
    SMTPSink,
)

pytest_plugins = ["pytester"]

SMTPSinkFactory = Callable[..., SMTPSink]
ROOT = Path(__file__).resolve().parents[2]
SENDER, RECIPIENT = "sender@example.org", "rcpt@example.org"
BODY = b"Subject: test\r\n\r\nHello\r\n"
TIMEOUT = 10.0


def plugin_args() -> list[str]:
    """``-p smtpstate.testing.plugin`` for a pytester run, unless the entry point
    is installed (then pytest loads it, and would refuse a second registration)."""
    installed = any(
        ep.name == "smtpstate" for ep in importlib.metadata.entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "smtpstate.testing.plugin"]


def sink_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("smtp-sink-")]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def connect(sink: SMTPSink, timeout: float = TIMEOUT) -> smtplib.SMTP:
    # smtplib's default name may be an address literal, which HELO does not take
    return smtplib.SMTP(sink.host, sink.port, "client.example", timeout=timeout)


# -- messages ---------------------------------------------------------------------


def test_message_arrives_with_exact_content(smtp_sink: SMTPSink) -> None:
    """The content is kept as received, dot-unstuffed (RFC 5321 4.5.2): lines
    that start with "." come back as the sender wrote them."""
    body = b"Subject: dots\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nend\r\n"
    with connect(smtp_sink) as client:
        client.sendmail(SENDER, [RECIPIENT, "other@example.org"], body)
    [message] = smtp_sink.messages
    assert message.mail_from == SENDER
    assert message.rcpt_tos == [RECIPIENT, "other@example.org"]
    assert message.content == body
    assert message.mail_params == {}


def test_messages_in_order_and_null_sender(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.sendmail("", [RECIPIENT], b"bounce\r\n")
        client.sendmail(SENDER, [RECIPIENT], b"second\r\n")
    assert [(m.mail_from, m.content) for m in smtp_sink.messages] == [
        ("", b"bounce\r\n"),
        (SENDER, b"second\r\n"),
    ]


def test_session_record(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.sendmail(SENDER, [RECIPIENT], BODY)
    [session] = smtp_sink.sessions
    assert session.exchanges == [
        ("connect", 220),
        ("EHLO", 250),
        ("MAIL", 250),
        ("RCPT", 250),
        ("DATA", 354),
        (".", 250),
        ("QUIT", 221),
    ]
    assert not session.tls
    assert session.authenticated is None


def test_wait_for_messages_from_a_background_sender(smtp_sink: SMTPSink) -> None:
    def send() -> None:
        with connect(smtp_sink) as client:
            client.sendmail(SENDER, [RECIPIENT], BODY)

    thread = threading.Thread(target=send)
    thread.start()
    try:
        assert smtp_sink.wait_for_messages(1, timeout=TIMEOUT)[0].content == BODY
    finally:
        thread.join(TIMEOUT)
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for_messages(2, timeout=0.05)


@pytest.mark.smtp_sink(hostname="mx.sink.example")
def test_marker_sets_the_hostname(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        code, greeting = client.ehlo()
    assert code == 250
    assert greeting.startswith(b"mx.sink.example")


def test_marker_takes_keywords_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smtp_sink(True)
        def test_positional(smtp_sink):
            pass
        """
    )
    result = pytester.runpytest(*plugin_args())
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*keyword arguments only*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    """--strict-markers accepts @pytest.mark.smtp_sink: the plugin declares it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smtp_sink(hostname="strict.example")
        def test_marked(smtp_sink):
            assert smtp_sink.hostname == "strict.example"
        """
    )
    pytester.runpytest("--strict-markers", *plugin_args()).assert_outcomes(passed=1)


def test_closest_marker_wins(pytester: pytest.Pytester) -> None:
    """A module's or a class's marker applies to its tests; a test's own wins."""
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.smtp_sink(hostname="module.example")

        def test_module(smtp_sink):
            assert smtp_sink.hostname == "module.example"

        @pytest.mark.smtp_sink(hostname="class.example")
        class TestClass:
            def test_class(self, smtp_sink):
                assert smtp_sink.hostname == "class.example"

            @pytest.mark.smtp_sink(hostname="function.example")
            def test_function(self, smtp_sink):
                assert smtp_sink.hostname == "function.example"
        """
    )
    pytester.runpytest(*plugin_args()).assert_outcomes(passed=3)


@pytest.mark.smtp_sink(extensions=Extensions(chunking=True, smtputf8=True, pipelining=False))
def test_extensions_are_the_engines(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.ehlo()
        assert client.has_extn("chunking")
        assert client.has_extn("smtputf8")
        assert not client.has_extn("pipelining")
        assert client.has_extn("8bitmime")


@pytest.mark.smtp_sink(extensions=Extensions(chunking=True))
def test_bdat_message_is_stored(smtp_sink: SMTPSink) -> None:
    """BDAT chunks are kept exactly, dots included (RFC 3030 2)."""
    with socket.create_connection(smtp_sink.address, timeout=TIMEOUT) as sock:
        sock.sendall(
            b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
            b"BDAT 5\r\n.\r\nab"
            b"BDAT 2 LAST\r\ncd"
            b"QUIT\r\n"
        )
        received = read_until_closed(sock)
    assert received.count(b"\r\n250 ") >= 4
    assert smtp_sink.messages[0].content == b".\r\nabcd"


def read_until(sock: socket.socket, end: bytes) -> bytes:
    """Read until the bytes received end with ``end`` (bounded by the socket timeout)."""
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(data)
        data += chunk
    return data


def exchange(sink: SMTPSink, data: bytes) -> bytes:
    """Send ``data`` on a new connection; what the sink sent until it closed."""
    with socket.create_connection(sink.address, timeout=TIMEOUT) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- SIZE ------------------------------------------------------------------------------


@pytest.mark.smtp_sink(extensions=Extensions(size=1000))
def test_size_declared_too_big_gets_552(smtp_sink: SMTPSink) -> None:
    """RFC 1870 6.1: MAIL with SIZE= above the limit is refused with 552."""
    with connect(smtp_sink) as client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail(SENDER, [RECIPIENT], b"x" * 2000)
    assert refused.value.smtp_code == 552
    assert smtp_sink.messages == []


@pytest.mark.smtp_sink(extensions=Extensions(size=1000))
def test_size_exceeded_in_body_gets_552(smtp_sink: SMTPSink) -> None:
    """RFC 1870 6.2: a body over the limit, undeclared, is refused at its end."""
    with connect(smtp_sink) as client:
        client.ehlo()
        client.mail(SENDER)
        client.rcpt(RECIPIENT)
        code, _ = client.data(b"line of text\r\n" * 100)
    assert code == 552
    assert smtp_sink.messages == []


# -- TLS and AUTH ----------------------------------------------------------------------


@pytest.mark.smtp_sink(tls=True, accounts={"joe": "secret"})
def test_starttls_and_auth(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.ehlo()
        assert not client.has_extn("auth")  # PLAIN/LOGIN only under TLS (RFC 4954 4)
        client.starttls(context=smtp_sink.client_ssl_context())
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        client.login("joe", "secret")
        client.sendmail(SENDER, [RECIPIENT], BODY)
    assert smtp_sink.messages[0].content == BODY
    assert smtp_sink.sessions[0].tls
    assert smtp_sink.sessions[0].authenticated == "joe"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize(("user", "password"), [("joe", "wrong"), ("nobody", "secret")])
@pytest.mark.smtp_sink(tls=True, accounts={"joe": "secret"})
def test_auth_refuses_bad_credentials(
    smtp_sink: SMTPSink, mechanism: str, user: str, password: str
) -> None:
    with connect(smtp_sink) as client:
        client.starttls(context=smtp_sink.client_ssl_context())
        client.ehlo()
        client.user, client.password = user, password
        method = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth(mechanism, method)
    assert refused.value.smtp_code == 535


@pytest.mark.smtp_sink(
    accounts={"joe": "secret"},
    extensions=Extensions(auth=("CRAM-MD5",), auth_without_tls=True),
    options=Options(require_auth=True),
)
def test_auth_configured_mechanism_and_require_auth(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(SENDER, [RECIPIENT], BODY)
        assert refused.value.smtp_code == 530  # RFC 4954 6
        client.login("joe", "secret")  # CRAM-MD5 in plaintext, as configured
        client.sendmail(SENDER, [RECIPIENT], BODY)
    assert len(smtp_sink.messages) == 1


@pytest.mark.smtp_sink(tls=True, options=Options(implicit_tls=True))
def test_implicit_tls(smtp_sink: SMTPSink) -> None:
    """RFC 8314 3: TLS from the first octet; STARTTLS is not offered."""
    context = smtp_sink.client_ssl_context()
    with smtplib.SMTP_SSL(smtp_sink.host, smtp_sink.port, timeout=TIMEOUT, context=context) as c:
        c.ehlo()
        assert not c.has_extn("starttls")
        c.sendmail(SENDER, [RECIPIENT], BODY)
    assert smtp_sink.sessions[0].tls
    assert smtp_sink.messages[0].content == BODY


@pytest.mark.smtp_sink(tls=True)
def test_client_context_rejects_other_names(smtp_sink: SMTPSink) -> None:
    """The client context really checks the name: one not in the certificate fails."""
    with socket.create_connection(smtp_sink.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"EHLO client.example\r\nSTARTTLS\r\n")
        read_until(sock, b"\r\n220 2.0.0 Ready to start TLS\r\n")
        with pytest.raises(ssl.SSLCertVerificationError):
            smtp_sink.client_ssl_context().wrap_socket(sock, server_hostname="example.org")


def test_tls_settings_need_tls() -> None:
    with pytest.raises(ValueError, match="tls=True"):
        SMTPSink(options=Options(require_tls=True))
    with pytest.raises(RuntimeError, match="tls=True"):
        SMTPSink().client_ssl_context()


# -- faults ----------------------------------------------------------------------------

REFUSED = Reply(554, "Refused by the test", "5.7.1")
STAGE_ERRORS: list[tuple[str, type[smtplib.SMTPException]]] = [
    ("helo", smtplib.SMTPHeloError),
    ("mail", smtplib.SMTPSenderRefused),
    ("rcpt", smtplib.SMTPRecipientsRefused),
    ("data", smtplib.SMTPDataError),
    ("end_of_data", smtplib.SMTPDataError),
]


def scripted_code(error: smtplib.SMTPException) -> int:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        [(code, _)] = error.recipients.values()
        return code
    assert isinstance(error, smtplib.SMTPResponseException)
    return error.smtp_code


@pytest.mark.parametrize(("stage", "error"), STAGE_ERRORS)
def test_fault_at_each_stage(
    smtp_sink_factory: SMTPSinkFactory, stage: str, error: type[smtplib.SMTPException]
) -> None:
    sink = smtp_sink_factory(faults=[Fault(stage, REFUSED)])  # type: ignore[arg-type]
    with connect(sink) as client, pytest.raises(error) as raised:
        client.sendmail(SENDER, [RECIPIENT], BODY)
    assert scripted_code(raised.value) == 554
    assert sink.messages == []


@pytest.mark.parametrize("code", [421, 554])
def test_fault_at_connect(smtp_sink_factory: SMTPSinkFactory, code: int) -> None:
    """RFC 5321 3.1: a server may refuse the session with 554 (or close with 421)."""
    sink = smtp_sink_factory(faults=[Fault("connect", Reply(code, "Go away"))])
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        connect(sink)
    assert refused.value.smtp_code == code


@pytest.mark.smtp_sink(
    tls=True, faults=[Fault("starttls", Reply(454, "TLS not available", "4.7.0"))]
)
def test_fault_at_starttls(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        with pytest.raises(smtplib.SMTPResponseException) as refused:
            client.starttls(context=smtp_sink.client_ssl_context())
        assert refused.value.smtp_code == 454
        client.sendmail(SENDER, [RECIPIENT], BODY)  # in plaintext, after the refusal
    assert not smtp_sink.sessions[0].tls


@pytest.mark.smtp_sink(
    tls=True,
    accounts={"joe": "secret"},
    faults=[Fault("auth", Reply(454, "Temporary authentication failure", "4.7.0"), times=2)],
)
def test_fault_at_auth(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.starttls(context=smtp_sink.client_ssl_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("joe", "secret")  # smtplib tries PLAIN, then LOGIN
        assert refused.value.smtp_code == 454
        client.login("joe", "secret")  # times=2: the third attempt passes
    assert smtp_sink.sessions[0].authenticated == "joe"


@pytest.mark.smtp_sink(faults=[Fault("helo", Reply(421, "Closing", "4.3.2"))])
def test_fault_421_closes_the_connection(smtp_sink: SMTPSink) -> None:
    """RFC 5321 3.8: after a 421 the server closes the connection."""
    with socket.create_connection(smtp_sink.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"EHLO client.example\r\n")
        received = read_until_closed(sock)
    assert received.endswith(b"421 Closing\r\n")  # no enhanced code to EHLO (RFC 2034)


FAULT_GONE = Fault("rcpt", Reply(550, "No such user", "5.1.1"), recipient="gone@example.org")


@pytest.mark.smtp_sink(faults=[FAULT_GONE])
def test_fault_for_one_recipient(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        refused = client.sendmail(SENDER, ["gone@example.org", RECIPIENT], BODY)
    assert refused == {"gone@example.org": (550, b"5.1.1 No such user")}
    assert smtp_sink.messages[0].rcpt_tos == [RECIPIENT]


@pytest.mark.smtp_sink(faults=[Fault("end_of_data", REFUSED, recipient="spam@example.org")])
def test_fault_at_end_of_data_for_a_recipient(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.sendmail(SENDER, [RECIPIENT], b"first\r\n")
        with pytest.raises(smtplib.SMTPDataError):
            client.sendmail(SENDER, [RECIPIENT, "spam@example.org"], b"second\r\n")
    assert [m.content for m in smtp_sink.messages] == [b"first\r\n"]


@pytest.mark.smtp_sink(faults=[Fault("mail", Reply(451, "Later", "4.3.0"), transaction=1)])
def test_fault_for_the_nth_transaction(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.sendmail(SENDER, [RECIPIENT], b"0\r\n")
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail(SENDER, [RECIPIENT], b"1\r\n")
    with connect(smtp_sink) as client:  # transactions count over connections
        client.sendmail(SENDER, [RECIPIENT], b"2\r\n")
    assert [m.content for m in smtp_sink.messages] == [b"0\r\n", b"2\r\n"]


@pytest.mark.smtp_sink(faults=[Fault("rcpt", Reply(452, "Full", "4.2.2"), times=2)])
def test_fault_times(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail(SENDER, [RECIPIENT], BODY)
        client.sendmail(SENDER, [RECIPIENT], BODY)
    assert len(smtp_sink.messages) == 1


@pytest.mark.smtp_sink(faults=[Greylist()])
def test_greylisting(smtp_sink: SMTPSink) -> None:
    """The first attempt of each (client, sender, recipient) gets 451 4.7.1."""
    with connect(smtp_sink) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, [RECIPIENT], BODY)
        assert refused.value.recipients[RECIPIENT][0] == 451
        assert refused.value.recipients[RECIPIENT][1].startswith(b"4.7.1 ")
        client.sendmail(SENDER, [RECIPIENT], BODY)  # the retry
        partly = client.sendmail(SENDER, [RECIPIENT, "new@example.org"], BODY)
        assert list(partly) == ["new@example.org"]  # a new triple is greylisted
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[RECIPIENT], [RECIPIENT]]


@pytest.mark.smtp_sink(faults=[Delay("rcpt", 0.3)])
def test_delay_before_a_reply(smtp_sink: SMTPSink) -> None:
    with connect(smtp_sink) as client:
        client.ehlo()
        client.mail(SENDER)
        started = time.monotonic()
        code, _ = client.rcpt(RECIPIENT)
        waited = time.monotonic() - started
    assert code == 250
    assert waited >= 0.3


def test_delay_longer_than_the_client_waits() -> None:
    """The client times out; stopping the sink cuts the delay short."""
    sink = SMTPSink(faults=[Delay("mail", 60.0)])
    with sink:
        timed_out = pytest.raises(smtplib.SMTPServerDisconnected, match="timed out")
        with timed_out, connect(sink, timeout=0.2) as client:
            client.sendmail(SENDER, [RECIPIENT], BODY)
        started = time.monotonic()
    assert time.monotonic() - started < 30.0  # not the 60 s of the delay
    assert sink_threads() == []


@pytest.mark.smtp_sink(faults=[Disconnect("data", after_octets=1000)])
def test_disconnect_mid_data(smtp_sink: SMTPSink) -> None:
    with pytest.raises(smtplib.SMTPServerDisconnected), connect(smtp_sink) as client:
        client.sendmail(SENDER, [RECIPIENT], b"a line of the body\r\n" * 5000)
    assert smtp_sink.messages == []
    assert smtp_sink.sessions[0].codes[-1] == 354


@pytest.mark.parametrize("stage", ["connect", "helo", "mail", "rcpt", "data", "end_of_data"])
def test_disconnect_at_each_stage(smtp_sink_factory: SMTPSinkFactory, stage: str) -> None:
    sink = smtp_sink_factory(faults=[Disconnect(stage)])  # type: ignore[arg-type]
    with pytest.raises(smtplib.SMTPServerDisconnected), connect(sink) as client:
        client.sendmail(SENDER, [RECIPIENT], BODY)
    assert sink.messages == []
    assert sink.sessions[0].codes[-1] is None


def test_disconnect_after_zero_octets(smtp_sink_factory: SMTPSinkFactory) -> None:
    sink = smtp_sink_factory(faults=[Disconnect("data", after_octets=0)])
    with socket.create_connection(sink.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"HELO client.example\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n")
        received = read_until_closed(sock)
    assert received.endswith(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Fault("rcpt", Reply(250, "OK")),
        lambda: Fault("connect", Reply(550, "No")),
        lambda: Fault("mail", REFUSED, recipient="a@example.org"),
        lambda: Fault("helo", REFUSED, transaction=0),
        lambda: Fault("quit", REFUSED),  # type: ignore[arg-type]
        lambda: Fault("rcpt", REFUSED, times=0),
        lambda: Greylist(Reply(550, "No")),
        lambda: Delay("rcpt", -1.0),
        lambda: Disconnect("rcpt", after_octets=10),
        lambda: SMTPSink(faults=[Greylist(), Greylist()]),
        lambda: SMTPSink(options=Options(lmtp=True)),
    ],
)
def test_rules_are_checked_on_construction(make: object) -> None:
    """A rule that would make the sink send an invalid reply never exists."""
    assert callable(make)
    with pytest.raises(ValueError):
        make()


# -- life cycle --------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_stop_leaves_no_thread_and_no_descriptor() -> None:
    before_threads = sink_threads()
    sink = SMTPSink(tls=True, accounts={"joe": "secret"})
    sink.client_ssl_context()  # the certificate is made before counting
    before = open_descriptors()
    with sink:
        with connect(sink) as client:
            client.starttls(context=sink.client_ssl_context())
            client.login("joe", "secret")
            client.sendmail(SENDER, [RECIPIENT], BODY)
        # a client that says nothing, one in the middle of a body, one mid-handshake
        idle = socket.create_connection(sink.address, timeout=TIMEOUT)
        read_until(idle, b"220 localhost ESMTP\r\n")
        busy = socket.create_connection(sink.address, timeout=TIMEOUT)
        busy.sendall(b"HELO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n")
        read_until(busy, b"354 Start mail input; end with <CRLF>.<CRLF>\r\n")
        busy.sendall(b"half a line")
        shaking = socket.create_connection(sink.address, timeout=TIMEOUT)
        shaking.sendall(b"EHLO c.example\r\nSTARTTLS\r\n")
        read_until(shaking, b"\r\n220 2.0.0 Ready to start TLS\r\n")
        assert len(sink_threads()) >= 4  # accept + 3 (and maybe the first, finishing)
    for sock in (idle, busy, shaking):
        assert read_until_closed(sock) == b""  # the sink closed it; a timeout otherwise
        sock.close()
    assert sink_threads() == before_threads == []
    assert open_descriptors() == before
    assert len(sink.messages) == 1  # the unfinished body was dropped


def test_timeout_answers_421() -> None:
    """RFC 5321 4.5.3.2: the server may close an idle connection, with a 421."""
    with SMTPSink(timeout=0.2) as sink:
        received = exchange(sink, b"")
    assert received.startswith(b"220 ")
    assert received.endswith(b"421 4.4.2 localhost Timeout, closing\r\n")
    assert sink.sessions[0].exchanges == [("connect", 220), ("timeout", 421)]


def test_protocol_error_answers_and_closes(smtp_sink: SMTPSink) -> None:
    """An HTTP request to the SMTP port ends the session with the engine's 421."""
    with socket.create_connection(smtp_sink.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        received = read_until_closed(sock)
    assert re.search(rb"\r\n421 ", received)
    assert smtp_sink.sessions[0].exchanges[-1] == ("protocol error", 421)
    assert smtp_sink.errors == []


def test_two_sinks_at_once(smtp_sink_factory: SMTPSinkFactory) -> None:
    first, second = smtp_sink_factory(), smtp_sink_factory(hostname="second.example")
    assert first.port != second.port
    for sink in (first, second):
        with connect(sink) as client:
            client.sendmail(SENDER, [RECIPIENT], f"to {sink.hostname}\r\n".encode())
    assert [m.content for m in first.messages] == [b"to localhost\r\n"]
    assert [m.content for m in second.messages] == [b"to second.example\r\n"]


def test_start_and_stop_once() -> None:
    sink = SMTPSink()
    with pytest.raises(RuntimeError, match="not started"):
        sink.port  # noqa: B018
    sink.start()
    with pytest.raises(RuntimeError):
        sink.start()
    assert repr(sink) == f"<SMTPSink 127.0.0.1:{sink.port}, 0 message(s)>"
    sink.stop()
    sink.stop()  # a second stop does nothing


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        sink = SMTPSink(host="::1").start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    with sink, smtplib.SMTP("::1", sink.port, timeout=TIMEOUT) as client:
        client.sendmail(SENDER, [RECIPIENT], BODY)
    assert sink.messages[0].content == BODY


def test_errors_in_the_sink_fail_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception inside a connection thread is not lost: stop() raises it."""
    sink = SMTPSink()

    def broken(self: object, event: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("smtpstate.testing.sink._Session._answer", broken)
    sink.start()
    with pytest.raises(smtplib.SMTPServerDisconnected), connect(sink) as client:
        client.ehlo()
    with pytest.raises(RuntimeError, match="a bug"):
        sink.stop()


# -- the plugin ----------------------------------------------------------------------------


def test_entry_point_is_declared() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"smtpstate": "smtpstate.testing.plugin"}


def test_plugin_imports_without_hypothesis() -> None:
    """The plugin is imported by every pytest run: pytest, stdlib and smtpstate only."""
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import smtpstate.testing.plugin, smtpstate.testing.sink\n"
        "assert 'hypothesis' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_sink_imports_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None; sys.modules['hypothesis'] = None\n"
        "from smtpstate.testing.sink import SMTPSink\n"
        "with SMTPSink() as sink: pass\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_fixture_teardown_stops_the_sink(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading

        PREFIX = []

        def threads():
            return [t for t in threading.enumerate() if t.name.startswith(PREFIX[0])]

        def test_uses_sink(smtp_sink):
            PREFIX.append(f"smtp-sink-{smtp_sink.port}-")
            assert threads()

        def test_after():
            assert threads() == []
        """
    )
    pytester.runpytest("-p", "no:randomly", *plugin_args()).assert_outcomes(passed=2)



def test_sinks_under_pytest_xdist(pytester: pytest.Pytester) -> None:
    """Two workers, eight tests each sending through its own sink at once: every
    sink has its own port and gets exactly its own message."""
    try:
        import xdist  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pytest-xdist is required in CI but is not installed")
        pytest.skip("pytest-xdist is not installed")
    pytester.makepyfile(
        """
        import smtplib
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_send(smtp_sink, n):
            with smtplib.SMTP(smtp_sink.host, smtp_sink.port, "client.example") as client:
                client.sendmail("a@example.org", [f"r{n}@example.org"], f"n={n}\\r\\n")
            [message] = smtp_sink.messages
            assert message.rcpt_tos == [f"r{n}@example.org"]
            assert message.content == f"n={n}\\r\\n".encode()
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", *plugin_args())
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*2 workers*"])
