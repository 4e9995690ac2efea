"""The PROXY protocol header (HAProxy's specification, versions 1 and 2).

A load balancer in front of the server sends one header before any SMTP byte,
naming the real client. The connection reads it first when configured to
(``proxy_protocol=True``) and never otherwise: guessing whether a header is
there would let any client forge its address (specification 2 and 5).
"""

from __future__ import annotations

import ipaddress
import re
import struct

from ._events import ProxyHeader

__all__ = ["ProxyError", "read_proxy_header"]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
# 2.1: a version 1 line is at most 107 octets with its CRLF.
V1_MAX = 107
# 2.2: version 2 families: (address family, transport) -> (name, address length)
_V2_FAMILIES = {
    0x11: ("TCP4", 4),
    0x12: ("UDP4", 4),
    0x21: ("TCP6", 16),
    0x22: ("UDP6", 16),
    0x31: ("UNIX_STREAM", 108),
    0x32: ("UNIX_DGRAM", 108),
}
# 2.1: decimal numbers have no leading zero.
_PORT = re.compile(r"0|[1-9][0-9]{0,4}")
_IPV4 = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")


class ProxyError(Exception):
    """The header is malformed or missing: the connection must be aborted."""


def read_proxy_header(data: bytearray) -> ProxyHeader | None:
    """Take a whole PROXY header off the front of ``data``; None while it is
    incomplete. Anything else raises ProxyError as soon as it can be told."""
    if data[:12] == V2_SIGNATURE[: len(data[:12])] and len(data) < 16:
        return None
    if data.startswith(V2_SIGNATURE):
        return _read_v2(data)
    if V1_PREFIX.startswith(bytes(data[:6])):
        return _read_v1(data)
    raise ProxyError("the connection does not start with a PROXY header")


def _read_v1(data: bytearray) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX or b"\n" in data or b"\r" in data[:-1]:
            raise ProxyError("PROXY v1 line without CRLF in 107 octets")
        return None
    line = bytes(data[:end])
    del data[: end + 2]
    fields = line.decode("ascii", "replace").split(" ")
    if fields[:2] == ["PROXY", "UNKNOWN"]:
        # 2.1: the rest of an UNKNOWN line is to be ignored.
        return ProxyHeader(version=1, command="PROXY", protocol="UNKNOWN")
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyError(f"malformed PROXY v1 line: {line[:V1_MAX]!r}")
    _, protocol, source, destination, source_port, destination_port = fields
    for address in (source, destination):
        _check_address(address, protocol)
    for port in (source_port, destination_port):
        if not _PORT.fullmatch(port) or int(port) > 65535:
            raise ProxyError(f"bad port in PROXY v1 line: {port!r}")
    return ProxyHeader(
        version=1,
        command="PROXY",
        protocol=protocol,
        source_address=source,
        destination_address=destination,
        source_port=int(source_port),
        destination_port=int(destination_port),
    )


def _check_address(address: str, protocol: str) -> None:
    try:
        if protocol == "TCP4":
            if not _IPV4.fullmatch(address):
                raise ValueError(address)
            ipaddress.IPv4Address(address)
        elif "%" in address:  # a zone index is no part of an address on the wire
            raise ValueError(address)
        else:
            ipaddress.IPv6Address(address)
    except ValueError:
        raise ProxyError(f"bad {protocol} address in PROXY v1 line: {address!r}") from None


def _read_v2(data: bytearray) -> ProxyHeader | None:
    version_command, family, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        raise ProxyError(f"unsupported PROXY v2 version/command byte {version_command:#x}")
    if family >> 4 > 3 or family & 0x0F > 2:
        # 2.2: address families 0-3 and transports 0-2; others are rejected.
        raise ProxyError(f"unsupported PROXY v2 family byte {family:#x}")
    if len(data) < 16 + length:
        return None
    block = bytes(data[16 : 16 + length])
    del data[: 16 + length]
    command = "PROXY" if version_command & 0x0F else "LOCAL"
    if command == "LOCAL" or family not in _V2_FAMILIES:
        # 2.2: LOCAL (a health check) discards the block, family included; UNSPEC
        # and the valid combinations not listed fall back to UNSPEC, whose
        # address information is ignored.
        return ProxyHeader(version=2, command=command, protocol="UNSPEC")
    protocol, size = _V2_FAMILIES[family]
    if size == 108:
        if length < 216:
            raise ProxyError("PROXY v2 UNIX address block too short")
        return ProxyHeader(
            version=2,
            command=command,
            protocol=protocol,
            source_address=block[:108].split(b"\0", 1)[0].decode("utf-8", "replace"),
            destination_address=block[108:216].split(b"\0", 1)[0].decode("utf-8", "replace"),
            tlvs=_tlvs(block, 216),
        )
    if length < 2 * size + 4:
        raise ProxyError("PROXY v2 address block too short")
    make = ipaddress.IPv4Address if size == 4 else ipaddress.IPv6Address
    source_port, destination_port = struct.unpack_from("!HH", block, 2 * size)
    return ProxyHeader(
        version=2,
        command=command,
        protocol=protocol,
        source_address=str(make(block[:size])),
        destination_address=str(make(block[size : 2 * size])),
        source_port=source_port,
        destination_port=destination_port,
        tlvs=_tlvs(block, 2 * size + 4),
    )


def _tlvs(block: bytes, start: int) -> tuple[tuple[int, bytes], ...]:
    """2.2.1-2.2.8: type (1 octet), length (2 octets), value; exposed as read."""
    found = []
    while start < len(block):
        if start + 3 > len(block):
            raise ProxyError("truncated PROXY v2 TLV")
        kind, size = struct.unpack_from("!BH", block, start)
        value = block[start + 3 : start + 3 + size]
        if len(value) != size:
            raise ProxyError("truncated PROXY v2 TLV")
        found.append((kind, value))
        start += 3 + size
    return tuple(found)
