"""Where a message came from, as the delivered file says it: ``Client`` (the TCP
peer, or the client a PROXY header, XCLIENT or XFORWARD names) and the header
lines put in front of the body: ``Return-Path:`` and ``Received:`` (RFC 5321
4.4), and with ``--dsn`` the ``X-Envelope-*`` block (docs/examples.md).

Every function here is pure: it formats what the session knows.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smtpstate import Mail, Recipient

__all__ = ["Client", "received_protocol", "trace_headers"]


@dataclass(frozen=True)
class Client:
    """The client a message came from, as the trace headers name it: the TCP
    peer, or the original client a PROXY header, XCLIENT or XFORWARD names."""

    address: str | None = None  # an IP address; None when unknown
    port: int | None = None
    name: str | None = None  # its host name (XCLIENT/XFORWARD NAME=)
    helo: str | None = None  # XFORWARD HELO=: its HELO name, for one transaction
    via: str = ""  # who said so: "PROXY v2 from [127.0.0.1]:40000", "XCLIENT from ..."

    @classmethod
    def from_peer(cls, peer: tuple[Any, ...] | None) -> Client:
        if not peer:
            return cls()
        port = peer[1] if len(peer) > 1 and isinstance(peer[1], int) else None
        return cls(address=str(peer[0]), port=port)

    def trusted(self, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
        """Whether the address is in one of ``networks`` (IPv4-mapped IPv6 counts as IPv4)."""
        if not networks:  # the usual case: no address to parse for every connection
            return False
        try:
            ip = ipaddress.ip_address(self.address or "")
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in networks)

    def literal(self) -> str:
        """``[ADDR]:PORT`` for a comment."""
        literal = _tcp_info(self.address)
        return f"{literal}:{self.port}" if self.port is not None else literal

    def relayed(self, attributes: Mapping[str, str], via: str) -> Client:
        """The client an XCLIENT or XFORWARD names: the attributes it gives replace
        this one's (the others are kept); values such as ``[UNAVAILABLE]`` clear them."""
        address, port, name, helo = self.address, self.port, self.name, self.helo
        if "ADDR" in attributes:
            address = _xclient_address(attributes["ADDR"])
        if "PORT" in attributes:
            value = attributes["PORT"]
            port = int(value) if value.isdigit() and int(value) < 65536 else None
        if "NAME" in attributes:
            name = _host_name(attributes["NAME"])
        if "HELO" in attributes:
            helo = _host_name(attributes["HELO"])
        return Client(address, port, name, helo, via)


def received_protocol(
    *, extended: bool, lmtp: bool, smtputf8: bool, tls: bool, authenticated: bool
) -> str:
    """The ``with`` of ``Received:``: SMTP, ESMTP or LMTP (RFC 3848), UTF8 in front
    after SMTPUTF8 (RFC 6531 3.7.3), S and A after TLS and AUTH (RFC 3848, RFC 4954 7)."""
    protocol = "ESMTP" if extended else "SMTP"
    if lmtp:
        protocol = "LMTP"  # RFC 3848 (LHLO is extended)
    if smtputf8:
        protocol = "UTF8" + protocol.replace("ESMTP", "SMTP")  # RFC 6531 3.7.3
    if extended:  # ESMTPSA, UTF8SMTPS...
        protocol += "S" if tls else ""
        protocol += "A" if authenticated else ""
    return protocol


def trace_headers(
    sender: Mail,
    recipients: Sequence[Recipient],
    client: Client,
    *,
    helo: str,
    by: str,
    protocol: str,
    queue_id: str,
    dsn: bool,
) -> bytes:
    """``Return-Path:`` and ``Received:`` (RFC 5321 4.4), then with ``dsn`` the
    X-Envelope-* block (docs/examples.md); CRLF-terminated."""
    path = sender.reverse_path
    # "for" only names a single recipient, so a copy does not list the others.
    only = recipients[0].forward_path.address if len(recipients) == 1 else ""
    for_clause = f"\r\n\tfor <{only}>" if only else ""
    tcp_info = _tcp_info(client.address)
    if client.name:
        tcp_info = f"{client.name} {tcp_info}"
    # A relayed client: its port and the relay, in the comment RFC 5321 4.4
    # allows before the ";" of the stamp.
    port = f"client port {client.port}; " if client.port is not None else ""
    relay = f"\r\n\t({port}{client.via})" if client.via else ""
    date = email.utils.formatdate(localtime=True)
    received = (
        f"Received: from {client.helo or helo} ({tcp_info})\r\n"
        f"\tby {by} with {protocol} id {queue_id}"
        f"{for_clause}{relay};\r\n\t{date}\r\n"
    )
    head = f"Return-Path: <{path.address if path is not None else ''}>\r\n{received}"
    if dsn:
        head += _envelope_headers(sender, recipients)
    return head.encode()


def _envelope_headers(mail: Mail, recipients: Sequence[Recipient]) -> str:
    """--dsn: the envelope as MAIL and RCPT gave it, with the RFC 3461
    parameters in xtext (docs/examples.md):
    ``X-Envelope-From: <s> RET=HDRS ENVID=abc`` and, per recipient,
    ``X-Envelope-To: <r> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y``."""
    line = f"X-Envelope-From: <{mail.reverse_path.address if mail.reverse_path else ''}>"
    if mail.ret is not None:
        line += f" RET={mail.ret}"
    if mail.envid is not None:
        line += f" ENVID={_xtext(mail.envid)}"
    lines = [line]
    for rcpt in recipients:
        line = f"X-Envelope-To: <{rcpt.forward_path.address}>"
        if rcpt.notify is not None:
            line += f" NOTIFY={','.join(rcpt.notify)}"
        if rcpt.orcpt is not None:
            address_type, address = rcpt.orcpt
            line += f" ORCPT={_xtext(address_type)};{_xtext(address)}"
        lines.append(line)
    return "".join(f"{line}\r\n" for line in lines)


def _tcp_info(address: str | None) -> str:
    """The TCP-info of a Received: header (RFC 5321 4.4): the address literal."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"


_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.:_-]*[A-Za-z0-9\]])?|\[[A-Za-z0-9.:]+\]")


def _host_name(value: str) -> str | None:
    """A name fit for a trace header (no spaces, parentheses or line breaks);
    None for Postfix's ``[UNAVAILABLE]``/``[TEMPUNAVAIL]`` and anything odd."""
    if value.upper() in ("[UNAVAILABLE]", "[TEMPUNAVAIL]"):
        return None
    return value if len(value) <= 255 and _HOST_NAME.fullmatch(value) else None


def _xclient_address(value: str) -> str | None:
    """XCLIENT/XFORWARD ADDR=: an IPv4 address or ``IPV6:`` and an IPv6 address."""
    if value[:5].upper() == "IPV6:":
        value = value[5:]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _xtext(value: str) -> str:
    """RFC 3461 4 xtext: printable ASCII but "+" and "=" as is, every other octet
    (of the UTF-8 form) as +HH. Safe in a header: no spaces, no line breaks."""
    out = []
    for octet in value.encode():
        if 33 <= octet <= 126 and octet not in (0x2B, 0x3D):
            out.append(chr(octet))
        else:
            out.append(f"+{octet:02X}")
    return "".join(out)
