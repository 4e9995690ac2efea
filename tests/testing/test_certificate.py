"""The test certificate made with the standard library (smtpstate.testing._certificate):
the RSA arithmetic, the DER encoding, and what real TLS stacks make of it."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from smtpstate.testing import _certificate
from smtpstate.testing._certificate import TestCertificate, certificate_for

TIMEOUT = 10.0


def require_openssl() -> str:
    """The openssl program; skip without it, fail in CI (CI set)."""
    path = shutil.which("openssl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is required in CI but is not installed")
        pytest.skip("openssl is not installed")
    return path


def handshake(certificate: TestCertificate, host: str, server_hostname: str) -> dict[str, object]:
    """A TLS handshake on loopback, the server using ``certificate`` and the
    client its ``client_context()`` (strict X.509 checks on, as Python 3.13's
    default context has them); returns the peer certificate the client saw."""
    server_context = certificate.server_context()
    client_context = certificate.client_context()
    client_context.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, 0), family=family) as listener:
        listener.settimeout(TIMEOUT)
        failures: list[BaseException] = []

        def serve() -> None:
            try:
                sock, _ = listener.accept()
                with server_context.wrap_socket(sock, server_side=True) as tls:
                    tls.sendall(tls.recv(16))
            except OSError as exc:
                failures.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            sock = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
            with client_context.wrap_socket(sock, server_hostname=server_hostname) as tls:
                tls.sendall(b"ping")
                assert tls.recv(16) == b"ping"
                peer = tls.getpeercert()
        finally:
            sock.close()  # also when the handshake failed
            thread.join(TIMEOUT)
    assert peer is not None
    return dict(peer)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_handshake_verifies_the_name(name: str) -> None:
    peer = handshake(certificate_for(), "127.0.0.1", name)
    assert peer["subjectAltName"] == (
        ("DNS", "localhost"),
        ("IP Address", "127.0.0.1"),
        ("IP Address", "0:0:0:0:0:0:0:1"),
    )


def test_handshake_over_ipv6() -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    handshake(certificate_for(), "::1", "::1")


def test_other_name_is_refused() -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(certificate_for(), "127.0.0.1", "example.org")


def test_names_asked_for() -> None:
    certificate = certificate_for(("mx.test.example", "192.0.2.7"))
    peer = handshake(certificate, "127.0.0.1", "mx.test.example")
    assert peer["subjectAltName"] == (("DNS", "mx.test.example"), ("IP Address", "192.0.2.7"))
    assert ((("commonName", "mx.test.example"),)) in peer["subject"]  # type: ignore[operator]
    with pytest.raises(ValueError):
        certificate_for(())


def test_validity_from_yesterday() -> None:
    name = "validity.test.example"
    peer = handshake(certificate_for((name,)), "127.0.0.1", name)
    not_before = ssl.cert_time_to_seconds(str(peer["notBefore"]))
    not_after = ssl.cert_time_to_seconds(str(peer["notAfter"]))
    now = time.time()
    assert now - 2 * 86400 < not_before <= now - 86400 + 60
    assert not_after - not_before == (_certificate.VALID_DAYS + 1) * 86400


def test_openssl_reads_it(tmp_path: Path) -> None:
    openssl = require_openssl()
    certificate = certificate_for()
    pem = tmp_path / "cert.pem"
    pem.write_text(certificate.certificate_pem, encoding="ascii")
    text = subprocess.run(
        [openssl, "x509", "-noout", "-text", "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "Version: 3 (0x2)" in text
    assert "Signature Algorithm: sha256WithRSAEncryption" in text
    assert "Public-Key: (2048 bit)" in text
    assert "Exponent: 65537 (0x10001)" in text
    assert "CA:FALSE" in text
    assert "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" in text
    verified = subprocess.run(
        [openssl, "verify", "-x509_strict", "-CAfile", str(pem), str(pem)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.stdout.strip() == f"{pem}: OK", verified.stderr


def test_openssl_reads_the_key(tmp_path: Path) -> None:
    openssl = require_openssl()
    key = tmp_path / "key.pem"
    key.write_text(certificate_for().private_key_pem, encoding="ascii")
    checked = subprocess.run(
        [openssl, "rsa", "-check", "-noout", "-in", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "RSA key ok" in checked.stdout


def test_rsa_key_arithmetic() -> None:
    key = _certificate._process_key()
    assert key.n == key.p * key.q
    assert key.n.bit_length() == 2048
    assert key.e == 65537
    message = 0x1234567890ABCDEF
    assert pow(pow(message, key.e, key.n), key.d, key.n) == message
    signature = key.sign_sha256(b"to be signed")
    encoded = pow(int.from_bytes(signature, "big"), key.e, key.n).to_bytes(256, "big")
    assert encoded.startswith(b"\x00\x01\xff")  # EMSA-PKCS1-v1_5 (RFC 8017 9.2)
    assert encoded.endswith(_certificate.hashlib.sha256(b"to be signed").digest())


def test_one_key_per_process() -> None:
    first, second = certificate_for(("one.example",)), certificate_for(("two.example",))
    assert first.private_key_pem == second.private_key_pem
    assert first.certificate_pem != second.certificate_pem
    assert certificate_for(("one.example",)) is first


PRIMES = [2, 3, 1999, 2003, 2**61 - 1, 2**127 - 1, 2**521 - 1]
# Carmichael numbers, and strong pseudoprimes to several small bases
COMPOSITES = [1, 561, 41041, 825265, 3215031751, 3825123056546413051, (2**61 - 1) * (2**31 - 1)]


@pytest.mark.parametrize("number", PRIMES)
def test_miller_rabin_primes(number: int) -> None:
    assert _certificate._is_probable_prime(number)


@pytest.mark.parametrize("number", COMPOSITES)
def test_miller_rabin_composites(number: int) -> None:
    assert not _certificate._is_probable_prime(number)


def test_random_prime_shape() -> None:
    prime = _certificate._random_prime(256)
    assert prime.bit_length() == 256
    assert prime >> 254 == 0b11
    assert (prime - 1) % 65537 != 0
    assert _certificate._is_probable_prime(prime)


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (_certificate._integer(0), "020100"),
        (_certificate._integer(127), "02017f"),
        (_certificate._integer(128), "02020080"),
        (_certificate._integer(256), "02020100"),
        (_certificate._oid("1.2.840.113549.1.1.11"), "06092a864886f70d01010b"),
        (_certificate._oid("2.5.29.17"), "0603551d11"),
        (_certificate._tlv(0x04, b"\0" * 200), "0481c8" + "00" * 200),
        (_certificate._tlv(0x04, b"\0" * 256), "04820100" + "00" * 256),
        (_certificate._boolean(True), "0101ff"),
        (_certificate._set(b"\x02\x01\x02", b"\x02\x01\x01"), "3106020101020102"),
    ],
)
def test_der_encoding(encoded: bytes, expected: str) -> None:
    """X.690: definite lengths (8.1.3), two's complement integers (8.3), object
    identifiers (8.19), DER booleans (11.1) and sorted SET OF (11.6)."""
    assert encoded.hex() == expected


@pytest.mark.parametrize(
    ("year", "tag"), [(2049, 0x17), (2050, 0x18)]
)
def test_time_encoding(year: int, tag: int) -> None:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050."""
    moment = datetime.datetime(year, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    encoded = _certificate._time(moment)
    assert encoded[0] == tag
    assert encoded[2:].decode("ascii").endswith("0102030405Z")


def test_pem_files_do_not_outlive_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    certificate_for().server_context()
    assert list(tmp_path.iterdir()) == []
