"""A self-signed certificate for test servers, made with the standard library only.

FOR TESTS ONLY. The key is generated with ``secrets`` and checked with
Miller-Rabin, but nothing here is reviewed cryptographic code: it exists so the
test sink can offer STARTTLS without a runtime dependency and without a
certificate file in the repository.

What it makes: a 2048-bit RSA key (e = 65537) and an X.509 v3 certificate signed
with it (PKCS#1 v1.5, SHA-256), naming ``localhost``, ``127.0.0.1`` and ``::1``
(plus any names asked for) in its subjectAltName, valid from a day ago for
``VALID_DAYS`` days. DER is written by hand below (ITU-T X.690), the structures
are those of RFC 5280 4.1 (certificate), RFC 8017 A.1.2 (private key) and 9.2
(signature encoding).

The key takes a moment to generate, so one is made per process and reused;
certificates are cheap (one signature) and are cached per set of names.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import math
import os
import secrets
import shutil
import ssl
import tempfile
from base64 import encodebytes
from dataclasses import dataclass

__all__ = ["TestCertificate", "certificate_for"]

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
VALID_DAYS = 30
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")

# -- primes ------------------------------------------------------------------------

_SMALL_PRIMES = [n for n in range(3, 2000, 2) if all(n % d for d in range(3, math.isqrt(n) + 1, 2))]
_MILLER_RABIN_ROUNDS = 40  # error below 4**-40 for any odd composite


def _is_probable_prime(n: int) -> bool:
    """Trial division by the small primes, then Miller-Rabin with random bases."""
    if n < 4:
        return n in (2, 3)
    if n % 2 == 0:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(_MILLER_RABIN_ROUNDS):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int) -> int:
    """A random prime of exactly ``bits`` bits whose top two bits are set (so two
    of them multiply to exactly 2 * bits bits), with gcd(p - 1, e) = 1."""
    while True:
        candidate = secrets.randbits(bits) | (0b11 << (bits - 2)) | 1
        if (candidate - 1) % PUBLIC_EXPONENT != 0 and _is_probable_prime(candidate):
            return candidate


@dataclass(frozen=True)
class _RsaKey:
    n: int
    e: int
    d: int
    p: int
    q: int

    @property
    def size(self) -> int:
        """The modulus length in octets."""
        return (self.n.bit_length() + 7) // 8

    def sign_sha256(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 8.2.1, EMSA 9.2)."""
        digest_info = _sequence(
            _sequence(_oid("2.16.840.1.101.3.4.2.1"), _NULL),
            _tlv(0x04, hashlib.sha256(message).digest()),
        )
        padding = b"\xff" * (self.size - len(digest_info) - 3)
        encoded = b"\x00\x01" + padding + b"\x00" + digest_info
        signature = pow(int.from_bytes(encoded, "big"), self.d, self.n)
        return signature.to_bytes(self.size, "big")

    def private_key_der(self) -> bytes:
        """RSAPrivateKey (RFC 8017 A.1.2), the PKCS#1 form OpenSSL reads."""
        p, q, d = self.p, self.q, self.d
        values = (0, self.n, self.e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p))
        return _sequence(*(_integer(value) for value in values))

    def public_key_info_der(self) -> bytes:
        """SubjectPublicKeyInfo with rsaEncryption (RFC 5280 4.1.2.7, RFC 3279 2.3.1)."""
        public_key = _sequence(_integer(self.n), _integer(self.e))
        return _sequence(_sequence(_oid("1.2.840.113549.1.1.1"), _NULL), _bit_string(public_key))


def _new_key() -> _RsaKey:
    half = KEY_BITS // 2
    while True:
        p, q = _random_prime(half), _random_prime(half)
        if p == q:  # pragma: no cover - astronomically unlikely
            continue
        n = p * q
        lam = math.lcm(p - 1, q - 1)
        d = pow(PUBLIC_EXPONENT, -1, lam)
        return _RsaKey(n=n, e=PUBLIC_EXPONENT, d=d, p=max(p, q), q=min(p, q))


@functools.lru_cache(maxsize=1)
def _process_key() -> _RsaKey:
    return _new_key()


# -- DER ---------------------------------------------------------------------------

_NULL = b"\x05\x00"


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: the tag, the definite length (X.690 8.1.3), the content."""
    length = len(content)
    if length < 0x80:
        encoded_length = bytes([length])
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        encoded_length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + encoded_length + content


def _sequence(*elements: bytes) -> bytes:
    return _tlv(0x30, b"".join(elements))


def _set(*elements: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(elements)))  # DER sorts SET OF (X.690 11.6)


def _integer(value: int) -> bytes:
    """A non-negative INTEGER, with a leading zero octet when the top bit is set."""
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _boolean(value: bool) -> bytes:
    return _tlv(0x01, b"\xff" if value else b"\x00")


def _bit_string(content: bytes) -> bytes:
    return _tlv(0x03, b"\x00" + content)  # no unused bits


def _oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER (X.690 8.19): the first two arcs in one number, then
    each arc in base 128, high bit set on all but its last octet."""
    arcs = [int(arc) for arc in dotted.split(".")]
    numbers = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    out = bytearray()
    for number in numbers:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _time(moment: datetime.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5)."""
    if moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _name(common_name: str) -> bytes:
    """A Name with one organization and one common name (RFC 5280 4.1.2.4)."""
    organization = _sequence(_oid("2.5.4.10"), _tlv(0x0C, b"smtpstate test certificate"))
    common = _sequence(_oid("2.5.4.3"), _tlv(0x0C, common_name.encode("utf-8")))
    return _sequence(_set(organization), _set(common))


def _extension(oid: str, critical: bool, value: bytes) -> bytes:
    flag = _boolean(True) if critical else b""
    return _sequence(_oid(oid), flag, _tlv(0x04, value))


def _subject_alt_name(names: tuple[str, ...]) -> bytes:
    """dNSName [2] for names, iPAddress [7] for IPv4 and IPv6 addresses (RFC 5280 4.2.1.6)."""
    general_names = []
    for name in names:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            general_names.append(_tlv(0x82, name.encode("ascii")))
        else:
            general_names.append(_tlv(0x87, address.packed))
    return _sequence(*general_names)


def _certificate_der(key: _RsaKey, names: tuple[str, ...], now: datetime.datetime) -> bytes:
    """A self-signed X.509 v3 certificate (RFC 5280 4.1) for ``names``."""
    signature_algorithm = _sequence(_oid("1.2.840.113549.1.1.11"), _NULL)  # sha256WithRSA
    public_key_info = key.public_key_info_der()
    # The key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 (1)).
    public_key_bits = _sequence(_integer(key.n), _integer(key.e))
    key_id = hashlib.sha1(public_key_bits).digest()
    extensions = [
        _extension("2.5.29.19", True, _sequence()),  # basicConstraints: not a CA
        _extension("2.5.29.15", True, _tlv(0x03, b"\x05\xa0")),  # digitalSignature, keyEnc.
        _extension("2.5.29.37", False, _sequence(_oid("1.3.6.1.5.5.7.3.1"))),  # serverAuth
        _extension("2.5.29.14", False, _tlv(0x04, key_id)),  # subjectKeyIdentifier
        _extension("2.5.29.35", False, _sequence(_tlv(0x80, key_id))),  # authorityKeyId.
        _extension("2.5.29.17", False, _subject_alt_name(names)),
    ]
    name = _name(names[0])
    to_be_signed = _sequence(
        _tlv(0xA0, _integer(2)),  # version v3
        _integer(secrets.randbits(120) | 1 << 120),  # positive, at most 20 octets
        signature_algorithm,
        name,  # issuer: itself
        _sequence(
            _time(now - datetime.timedelta(days=1)), _time(now + datetime.timedelta(VALID_DAYS))
        ),
        name,  # subject
        public_key_info,
        _tlv(0xA3, _sequence(*extensions)),
    )
    return _sequence(to_be_signed, signature_algorithm, _bit_string(key.sign_sha256(to_be_signed)))


def _pem(label: str, der: bytes) -> str:
    body = encodebytes(der).decode("ascii")  # 76 characters a line
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


# -- the public part ---------------------------------------------------------------


@dataclass(frozen=True)
class TestCertificate:
    """A self-signed certificate and its private key, as PEM text. For tests only."""

    __test__ = False  # not a pytest test class, whatever its name

    certificate_pem: str
    private_key_pem: str
    names: tuple[str, ...]

    def server_context(self) -> ssl.SSLContext:
        """An ``SSLContext`` for the server side, loaded with this certificate. The
        PEM files exist only while it loads, in a private temporary directory."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        directory = tempfile.mkdtemp(prefix="smtpstate-cert-")  # mode 0700
        try:
            cert_file = os.path.join(directory, "cert.pem")
            key_file = os.path.join(directory, "key.pem")
            for path, text in ((cert_file, self.certificate_pem), (key_file, self.private_key_pem)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(descriptor, "w", encoding="ascii") as file:
                    file.write(text)
            context.load_cert_chain(cert_file, key_file)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client ``SSLContext`` that trusts this certificate alone, and checks
        the host name (or address) against it as usual."""
        return ssl.create_default_context(cadata=self.certificate_pem)


@functools.lru_cache(maxsize=16)
def certificate_for(names: tuple[str, ...] = DEFAULT_NAMES) -> TestCertificate:
    """The certificate for ``names`` (DNS names or IP addresses; the first is also
    the common name), signed with this process's key. Cached per ``names``."""
    if not names:
        raise ValueError("a certificate needs at least one name")
    key = _process_key()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    der = _certificate_der(key, names, now)
    return TestCertificate(
        certificate_pem=_pem("CERTIFICATE", der),
        private_key_pem=_pem("RSA PRIVATE KEY", key.private_key_der()),
        names=names,
    )
