"""RFC 8689 (REQUIRETLS), one test per rule."""

from __future__ import annotations

import re

import pytest

from smtpstate import Extensions, Mail, RejectedCommand, ServerConnection, State

from .helpers import drive, new_conn

TLS = Extensions(starttls=True, requiretls=True)


def under_tls(extensions: Extensions = TLS) -> ServerConnection:
    """A connection after STARTTLS and the handshake."""
    conn = new_conn(extensions=extensions)
    drive(conn, b"EHLO c\r\nSTARTTLS\r\n")
    assert conn.state is State.TLS_PENDING
    conn.tls_established()
    return conn


def test_2_requiretls_is_advertised_only_under_tls() -> None:
    """The EHLO keyword REQUIRETLS is offered only after STARTTLS."""
    conn = new_conn(extensions=TLS)
    _, out = drive(conn, b"EHLO c\r\n")
    assert b"REQUIRETLS" not in out
    _, out = drive(under_tls(), b"EHLO c\r\n")
    assert re.search(rb"250[- ]REQUIRETLS\r\n", out)
    _, out = drive(under_tls(Extensions(starttls=True)), b"EHLO c\r\n")
    assert b"REQUIRETLS" not in out


def test_2_requiretls_parameter_is_accepted_under_tls() -> None:
    """MAIL FROM:<...> REQUIRETLS is valid on a TLS session; Mail.requiretls."""
    events, out = drive(under_tls(), b"EHLO c\r\nMAIL FROM:<a@b.example> REQUIRETLS\r\n")
    assert isinstance(events[-1], Mail)
    assert events[-1].requiretls
    assert out.endswith(b"250 2.0.0 OK\r\n")


@pytest.mark.parametrize(
    "extensions",
    [TLS, Extensions(requiretls=True), Extensions()],
    ids=["before-tls", "no-tls", "off"],
)
def test_2_requiretls_without_tls_is_555(extensions: Extensions) -> None:
    """Only specified on a TLS session: otherwise the parameter is unknown (555 5.5.4)."""
    conn = new_conn(extensions=extensions)
    events, out = drive(conn, b"EHLO c\r\nMAIL FROM:<a@b.example> REQUIRETLS\r\n")
    assert isinstance(events[-1], RejectedCommand)
    assert out.endswith(b"555 5.5.4 Unsupported parameter REQUIRETLS\r\n")


def test_2_requiretls_parameter_is_off_under_tls_when_not_enabled() -> None:
    """TLS alone does not offer REQUIRETLS."""
    events, _ = drive(
        under_tls(Extensions(starttls=True)), b"EHLO c\r\nMAIL FROM:<a@b.example> REQUIRETLS\r\n"
    )
    assert isinstance(events[-1], RejectedCommand)
    assert events[-1].reply.code == 555


def test_2_requiretls_takes_no_value() -> None:
    """The parameter has no value (501 5.5.4 otherwise)."""
    events, _ = drive(under_tls(), b"EHLO c\r\nMAIL FROM:<a@b.example> REQUIRETLS=YES\r\n")
    assert isinstance(events[-1], RejectedCommand)
    assert events[-1].reply.code == 501
    assert events[-1].reply.enhanced == "5.5.4"


def test_2_mail_line_may_be_11_octets_longer() -> None:
    """With REQUIRETLS the MAIL line limit grows by 11 octets (" REQUIRETLS")."""
    assert Extensions(requiretls=True).mail_line_allowance() == 11
    path = b"<" + b"a" * 64 + b"@" + b"b" * 63 + b"." + b"c" * 63 + b"." + b"d" * 61 + b">"
    line = b"MAIL FROM:" + path + b" " * (512 - 2 - 10 - len(path)) + b" REQUIRETLS\r\n"
    assert len(line) == 523
    events, _ = drive(under_tls(), b"EHLO c\r\n" + line)
    assert isinstance(events[-1], Mail) and events[-1].requiretls
    events, out = drive(under_tls(), b"EHLO c\r\n" + line[:-2] + b" \r\n")
    assert out.endswith(b"500 5.5.2 Line too long\r\n")
