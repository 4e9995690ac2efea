"""What a connection remembers between commands, as two objects that are
replaced whole and never cleared field by field: a field added to either
starts at its initial value in every new session or transaction, with no
reset code to forget (compare h11's ``ConnectionState``).

- ``Session``: what the session has learnt from the client (HELO or EHLO,
  TLS, authentication). RFC 3207 4.2: after the TLS handshake the server
  discards all it learnt from the client, so ``tls_established()`` puts a
  new ``Session`` in place; XCLIENT (Postfix) starts the session again as
  the client it names, and does the same.
- ``Transaction``: one mail transaction, made when MAIL is accepted. RFC 5321
  4.1.4: RSET, HELO/EHLO and the end of the transaction (the reply to the end
  of its data, or a failed BDAT chunk) abort or end it; the connection then
  drops it, and outside a transaction has none (``_transaction is None``).
  STARTTLS and XCLIENT are out of sequence inside a transaction (503), so
  none exists when they are accepted.

The connection keeps the rest itself: the framing under way (the body's
``DataReader``, a BDAT chunk's octets, a SASL exchange), which outlives no
reader and can be refused outside a transaction (a refused BDAT's octets are
read all the same), and what holds for the whole connection (the PROXY
header, which comes from the proxy, not the client, and so survives STARTTLS
and XCLIENT; the error count that ``max_errors`` bounds).
"""

from __future__ import annotations

from ._events import Mail, Mailbox

__all__ = ["Session", "Transaction"]


class Session:
    """What the session has learnt. Replaced whole on the TLS handshake (RFC
    3207 4.2) and on an accepted XCLIENT; HELO/EHLO and AUTH only add to it."""

    __slots__ = ("authenticated", "extended", "tls_active")

    def __init__(self, tls_active: bool, authenticated: str | None = None) -> None:
        # RFC 8314 3: under implicit TLS (port 465) the first session is under TLS.
        self.tls_active = tls_active
        # The identity AUTH established (or XCLIENT LOGIN named), or None.
        self.authenticated = authenticated
        # None before HELO/EHLO, then whether the client said EHLO (or LHLO).
        self.extended: bool | None = None


class Transaction:
    """One mail transaction, from an accepted MAIL to its end: dropped whole by
    RSET, HELO/EHLO (RFC 5321 4.1.4) and the reply to the end of its data (or
    to a failed BDAT chunk, RFC 3030 2); a new MAIL makes a new one."""

    __slots__ = (
        "bdat_size",
        "binarymime",
        "recipients",
        "rejected_recipients",
        "replies_owed",
        "smtputf8",
    )

    def __init__(self, mail: Mail) -> None:
        # Only parameters can set these (MAIL ... SMTPUTF8, BODY=BINARYMIME).
        self.smtputf8 = False
        self.binarymime = False
        if mail.params:
            self.smtputf8 = mail.smtputf8  # RFC 6531 3.4: UTF-8 addresses in RCPT
            self.binarymime = mail.body == "BINARYMIME"  # RFC 3030 3: BDAT only
        self.recipients: list[Mailbox] = []  # the accepted forward paths, in order
        # Refused RCPTs: DATA with none accepted then gets 554, not 503 (RFC 5321 3.3).
        self.rejected_recipients = 0
        self.bdat_size = 0  # octets of accepted BDAT chunks so far (RFC 3030 2)
        # The replies the end of the data is owed: one per recipient in LMTP
        # (RFC 2033 4.2), set when the end is read.
        self.replies_owed = 0
