"""A hypothesis state machine that plays an SMTP client against the engine.

The model is a client that knows RFC 5321 and keeps its own idea of the session
state (3.3 transactions, 4.1.1 command rules, 4.1.4 sequencing). Each rule builds
a group of commands (sometimes one, sometimes a pipelined group, RFC 2920; AUTH
PLAIN included, RFC 4954; BDAT chunks, RFC 3030; STARTTLS, RFC 3207, with
plaintext commands injected after it) with the replies it expects;
the group is fed to the engine cut at random points, and after each step the invariants are checked:

- one reply per command, in order, with the expected codes;
- no command is taken from inside a body (the body's events are MessageData then
  EndOfMessage, with nothing between);
- ``conn.state`` is the state the model predicts;
- the receive buffer holds no more than a line limit (or the body reader's hold
  for an open line) plus one read;
- a delivered body equals the body the model sent, dot-unstuffed (or, when the
  body broke a rule under the reject policy, is a prefix of it and is refused);
  a BDAT message is its accepted chunks' octets exactly, whatever they hold;
- nothing sent after STARTTLS in the same write is ever answered (RFC 3207 4.2).

The machinery is smtpstate.testing's: the machine is a ``ClientMachine``, whose
in-memory ``Client`` feeds the cuts and answers the events (the hooks below add
the buffer bound and the STARTTLS checks), and whose invariant checks the wire
of the whole session after each step (``check_invariants``: one reply per
command, none to the plaintext after STARTTLS, nothing after 221 or 421, the
stored messages exactly the accepted ones).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from smtpstate import (
    Command,
    ConnectionClosed,
    DataStart,
    EndOfChunk,
    EndOfMessage,
    Event,
    Extensions,
    Hello,
    LocalProtocolError,
    MessageData,
    Options,
    Recipient,
    Reply,
    Reset,
    ServerConnection,
    State,
)
from smtpstate._data import _HOLD_LIMIT
from smtpstate.testing.client import Client
from smtpstate.testing.stateful import ClientMachine

from .helpers import default_answer

S = State
# A plaintext command injected after STARTTLS: it must never run.
INJECTED = b"MAIL FROM:<injected@example.org>\r\n"
TRANSACTION = (S.IN_MAIL, S.HAS_RCPT)  # where RCPT is in sequence
IN_TRANSACTION = (S.IN_MAIL, S.HAS_RCPT, S.IN_BDAT)  # what QUIT or a close abandons
LONG = 1500  # a body line well over the 1000-octet limit (RFC 5321 4.5.3.1.6)


def answer(event: Event) -> Reply | None:
    """The application: accepts everything except recipients named ``bad``."""
    if isinstance(event, Recipient) and event.forward_path.local_part == "bad":
        return Reply(550, "No such user", "5.1.1")
    return default_answer(event)


@dataclass
class Step:
    """Bytes for the engine, and what the model expects them to cause."""

    wire: bytes = b""
    codes: list[int] = field(default_factory=list)
    bodies: list[tuple[bytes, bool]] = field(default_factory=list)  # (unstuffed, refused)
    chunks_before: bytes = b""  # the model's BDAT octets held when the step began


# Body lines: no CRLF inside (that would be a real line end), but bare CR, bare
# LF, NUL and dots anywhere, and the smuggling shapes ("\n.", ".\r", ...).
_plain_line = st.binary(max_size=24).filter(lambda b: b"\r\n" not in b and not b.endswith(b"\r"))
_special = st.sampled_from(
    [b"", b".", b"..", b". ", b".\n", b"\n.", b"\r.", b"x\n.", b"\x00.", b"a\rb", b"a\nb"]
)
_long_line = st.integers(min_value=LONG, max_value=LONG + 50).map(lambda n: b"y" * n)
# BDAT payloads that would be commands or an end of data if they were read as lines.
_smuggling_payload = st.sampled_from(
    [b"\r\n.\r\nQUIT\r\n", b"RSET\r\n", b"\r\n.\r\n", b"GET / HTTP/1.1\r\n\r\n", b"\n.\n"]
)
body_lines = st.lists(
    st.one_of(_plain_line, _special, _plain_line, _long_line).filter(
        lambda b: b"\r\n" not in b and not b.endswith(b"\r")
    ),
    max_size=12,
)


class ModelClient(Client):
    """The in-memory client, with the model's checks at the points only the
    engine loop sees."""

    def __init__(self, model: SmtpClientModel, conn: ServerConnection) -> None:
        self.model = model
        super().__init__(model.application, connection=conn)

    def need_data(self) -> None:
        # Bounded: a command line's limit, or in a body the open line the
        # reader holds back to deliver whole lines, plus one read.
        held = len(self.conn.trailing_data[0])
        assert held <= max(self.model.limit, _HOLD_LIMIT) + self.model.largest, held

    def drop_plaintext(self, data: bytes) -> None:
        # After the 220 to STARTTLS the rest of this write is plaintext read
        # ahead of the handshake: the engine refuses it and changes nothing
        # (RFC 3207 4.2), so the adapter discards it.
        with pytest.raises(LocalProtocolError):
            self.conn.receive_data(data)
        assert self.conn.state is S.TLS_PENDING
        assert self.conn.trailing_data == (b"", False)

    def start_tls(self) -> None:
        assert self.conn.state is S.TLS_PENDING and self.model.tls_pending
        super().start_tls()


class SmtpClientModel(ClientMachine):
    def __init__(self) -> None:
        super().__init__()
        self.largest = 0  # the largest read of the write being run

    def application(self, conn: ServerConnection, event: Event) -> Reply | None:
        return answer(event)

    def make_client(self) -> Client:
        return ModelClient(self, self.new_connection)

    # -- the session --------------------------------------------------------------

    @initialize(
        bad=st.sampled_from(["reject", "pass"]),
        long=st.sampled_from(["reject", "pass"]),
        max_errors=st.sampled_from([None, 6, 20]),
    )
    def connect(self, bad: str, long: str, max_errors: int | None) -> None:  # type: ignore[override]
        self.start(bad, long, max_errors)

    def start(self, bad: str, long: str, max_errors: int | None) -> None:
        self.new_connection = ServerConnection(
            "mx.example.org",
            Extensions(
                pipelining=True,
                auth=("PLAIN",),
                auth_without_tls=True,
                chunking=True,
                starttls=True,
            ),
            Options(
                bad_line_endings=bad,  # type: ignore[arg-type]
                long_lines=long,  # type: ignore[arg-type]
                max_errors=max_errors,
            ),
        )
        self.bad_policy, self.long_policy, self.max_errors = bad, long, max_errors
        self.new_connection.send(Reply(220, "mx.example.org ESMTP"))
        self.open()  # the Client takes the greeted connection
        self.state = S.AWAIT_HELLO  # the model's idea of the state
        self.errors = 0  # commands the engine refused (the error budget)
        self.refused_rcpts = 0
        self.dead = False  # the engine ended the session (RemoteProtocolError)
        self.extended = False  # EHLO (not HELO) was accepted
        self.authenticated = False
        self.chunks = b""  # the accepted BDAT octets of the open transaction
        self.tls = False  # the TLS handshake after STARTTLS is done
        self.tls_pending = False  # STARTTLS got its 220 in the step being built
        self.limit = 512 + Extensions(pipelining=True).mail_line_allowance()

    @property
    def closed(self) -> bool:
        return self.dead or self.state is S.CLOSED

    @precondition(lambda self: self.closed)
    @rule(
        bad=st.sampled_from(["reject", "pass"]),
        long=st.sampled_from(["reject", "pass"]),
        max_errors=st.sampled_from([None, 6, 20]),
    )
    def reconnect(self, bad: str, long: str, max_errors: int | None) -> None:
        self.start(bad, long, max_errors)

    # -- the model: one command at a time -------------------------------------------

    def refuse(self, step: Step, code: int) -> None:
        """The engine refuses the command (503, 500, 501): the state stays, and
        the error budget shrinks (RFC 5321 4.1.4 for the sequence)."""
        step.codes.append(code)
        self.errors += 1

    def expect(self, step: Step, kind: str, arg: object = None) -> None:
        """Add one command to ``step`` and move the model along."""
        if self.tls_pending:
            # Sent ahead of the handshake after STARTTLS: never read (RFC 3207
            # 4.2, CVE-2011-0411), so it changes nothing; a line stands for it.
            step.wire += INJECTED
            return
        if self.closed or (self.max_errors is not None and self.errors >= self.max_errors):
            return  # nothing more is read
        st_ = self.state
        if kind == "hello":
            step.wire += b"EHLO client.example\r\n" if arg else b"HELO client.example\r\n"
            step.codes.append(250)
            self.state, self.refused_rcpts = S.READY, 0  # 4.1.4: clears the transaction
            self.extended = bool(arg)
            self.chunks = b""
        elif kind == "mail":
            step.wire += b"MAIL FROM:<a@example.org>\r\n"
            if st_ is S.READY:
                step.codes.append(250)
                self.state = S.IN_MAIL
                self.chunks = b""
            else:
                self.refuse(step, 503)  # before HELO, or nested MAIL
        elif kind == "rcpt":
            step.wire += b"RCPT TO:<%s@example.net>\r\n" % (b"ok" if arg else b"bad")
            if st_ not in TRANSACTION:
                self.refuse(step, 503)
            elif arg:
                step.codes.append(250)
                self.state = S.HAS_RCPT
            else:
                step.codes.append(550)  # the application's refusal: not an engine error
                self.refused_rcpts += 1
        elif kind == "data":
            lines: list[bytes] = arg  # type: ignore[assignment]
            step.wire += b"DATA\r\n"
            if st_ is not S.HAS_RCPT:
                # 3.3: 554 once every recipient was refused, 503 otherwise.
                self.refuse(step, 554 if st_ is S.IN_MAIL and self.refused_rcpts else 503)
            else:
                self.body(step, lines)
        elif kind == "rset":
            step.wire += b"RSET\r\n"
            step.codes.append(250)
            self.state = S.AWAIT_HELLO if st_ is S.AWAIT_HELLO else S.READY
            self.refused_rcpts = 0
            self.chunks = b""
        elif kind == "bdat":
            payload, last = arg  # type: ignore[misc]
            step.wire += b"BDAT %d%s\r\n" % (len(payload), b" LAST" if last else b"")
            step.wire += payload  # RFC 3030 2: exactly that many octets, never commands
            if st_ not in (S.HAS_RCPT, S.IN_BDAT):
                self.refuse(step, 503)  # before MAIL or RCPT: refused, octets read anyway
            else:
                step.codes.append(250)
                self.chunks += payload
                self.state = S.IN_BDAT
                if last:  # the message ends like CRLF.CRLF does
                    step.bodies.append((self.chunks, False))
                    self.state, self.refused_rcpts, self.chunks = S.READY, 0, b""
        elif kind == "noop":
            step.wire += b"NOOP\r\n"
            step.codes.append(250)
        elif kind == "unknown":
            step.wire += b"XYZZY plugh\r\n"
            self.refuse(step, 500)
        elif kind == "bare":
            step.wire += b"NOOP" + arg + b"x\r\n"  # type: ignore[operator]
            self.refuse(step, 500)  # a bare CR or LF makes the line invalid
        elif kind == "toolong":
            step.wire += b"NOOP " + b"z" * self.limit + b"\r\n"
            self.refuse(step, 500)  # 4.5.3.1.4
        elif kind == "auth":
            secret = b"secret" if arg else b"wrong"
            step.wire += b"AUTH PLAIN " + base64.b64encode(b"\0user\0" + secret) + b"\r\n"
            if st_ is not S.READY or not self.extended or self.authenticated:
                # RFC 4954 4: after EHLO, outside a transaction, and only once.
                self.refuse(step, 503)
            elif arg:
                step.codes.append(235)
                self.authenticated = True
            else:
                self.refuse(step, 535)  # a failed AUTH counts against the budget
        elif kind == "starttls":
            step.wire += b"STARTTLS\r\n"
            if st_ is not S.READY or self.tls:
                self.refuse(step, 503)  # RFC 3207 4: after EHLO, outside a mail transaction, once
            else:
                step.codes.append(220)  # what follows in this write is plaintext sent ahead
                self.tls_pending = True
        elif kind == "quit":
            step.wire += b"QUIT\r\n"
            step.codes.append(221)
            self.state = S.CLOSED
        elif kind == "http":
            step.wire += b"GET / HTTP/1.1\r\nHost: mx\r\n\r\n"
            step.codes.append(421)
            self.dead = True
            return
        else:  # pragma: no cover
            raise AssertionError(kind)
        if self.max_errors is not None and self.errors >= self.max_errors:
            step.codes.append(421)  # the error budget is spent: 421 4.7.0 and close
            self.dead = True

    def body(self, step: Step, lines: list[bytes]) -> None:
        """354, the body dot-stuffed (4.5.2), the final dot, and the body's reply."""
        step.codes.append(354)
        step.wire += b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n" for x in lines)
        step.wire += b".\r\n"
        body = b"".join(x + b"\r\n" for x in lines)
        bad = any(c in x for x in lines for c in (b"\r", b"\n", b"\x00"))
        long = any(len(x) + 2 + x.startswith(b".") > 1000 for x in lines)
        refuse_bad = bad and self.bad_policy == "reject"
        refused = refuse_bad or (long and self.long_policy == "reject")
        step.codes.append(550 if refuse_bad else 500 if refused else 250)
        step.bodies.append((body, refused))
        self.state, self.refused_rcpts = S.READY, 0  # 4.1.1.4: the body's reply ends it
        self.chunks = b""

    # -- running a step against the engine ------------------------------------------

    def run(self, step: Step, cuts: list[int], eof: bool = False) -> None:
        assert self.client is not None
        client = self.client
        data = step.wire
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        self.largest = max((b - a for a, b in itertools.pairwise(points)), default=0)
        first_event, first_reply = len(client.events), len(client.replies)
        # The client answers every command through ``answer``; a protocol
        # error's reply goes out and the session ends; STARTTLS goes through
        # ModelClient's hooks.
        self.send(data, points)
        if eof:
            self.close_client()
        events = client.events[first_event:]
        out = b"".join(reply.raw for reply in client.replies[first_reply:])
        self.check(step, events, out)
        if self.tls_pending:  # RFC 3207 4.2: the session starts again, under TLS
            self.tls_pending, self.tls = False, True
            self.state, self.extended, self.authenticated = S.AWAIT_HELLO, False, False
            self.refused_rcpts, self.chunks = 0, b""

    def check(self, step: Step, events: list[Event], out: bytes) -> None:
        codes = [int(line[:3]) for line in out.split(b"\r\n") if line[3:4] == b" "]
        commands = [e for e in events if isinstance(e, Command)]
        # One reply per command, in order (the 421 of a protocol error has no event).
        assert codes == step.codes, (codes, step.codes, step.wire[:200])
        assert len(commands) == len(codes) - (1 if self.dead and codes[-1:] == [421] else 0)
        # Nothing inside a body is a command: DataStart, MessageData*, EndOfMessage.
        # A BDAT chunk's octets come as MessageData just before the chunk's own
        # event (EndOfChunk, or EndOfMessage for LAST); the message is the
        # accepted chunks' octets, from the first chunk to LAST.
        bodies: list[bytes] = []
        inside: bytearray | None = None
        chunked = bytearray(step.chunks_before)
        chunk_open = False  # MessageData of a chunk seen, its event not yet
        for e in events:
            if inside is not None:
                if isinstance(e, MessageData):
                    inside += e.data
                    continue
                assert isinstance(e, (EndOfMessage, ConnectionClosed)), e
                if isinstance(e, EndOfMessage):
                    bodies.append(bytes(inside))
                inside = None
            elif isinstance(e, DataStart):
                inside = bytearray()
            elif isinstance(e, MessageData):
                chunked += e.data
                chunk_open = True
            elif isinstance(e, EndOfMessage):  # BDAT LAST
                bodies.append(bytes(chunked))
                chunked.clear()
                chunk_open = False
            elif isinstance(e, EndOfChunk):
                chunk_open = False
            else:
                assert not chunk_open, f"{e} inside a BDAT chunk"
                if isinstance(e, (Reset, Hello)):
                    chunked.clear()  # the transaction, and its chunks, are abandoned
        assert bytes(chunked) == self.chunks or self.closed  # what the model holds
        ends = [e for e in events if isinstance(e, EndOfMessage)]
        assert len(bodies) == len(step.bodies) == len(ends)
        for got, (sent, refused), end in zip(bodies, step.bodies, ends, strict=True):
            if refused:
                assert end.reply is not None and end.reply.code >= 500
                assert sent.startswith(got)  # delivery stops before the first fault
            else:
                assert end.reply is None
                assert got == sent  # dot-unstuffed, byte for byte

    # -- rules ------------------------------------------------------------------------

    cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=6)

    def single(self, kind: str, arg: object, cuts: list[int]) -> None:
        step = Step(chunks_before=self.chunks)
        self.expect(step, kind, arg)
        self.run(step, cuts)

    @precondition(lambda self: not self.closed)
    @rule(extended=st.booleans(), cuts=cuts)
    def hello(self, extended: bool, cuts: list[int]) -> None:
        self.single("hello", extended, cuts)

    @precondition(lambda self: not self.closed)
    @rule(cuts=cuts)
    def mail(self, cuts: list[int]) -> None:
        self.single("mail", None, cuts)

    @precondition(lambda self: not self.closed)
    @rule(good=st.booleans(), cuts=cuts)
    def rcpt(self, good: bool, cuts: list[int]) -> None:
        self.single("rcpt", good, cuts)

    @precondition(lambda self: not self.closed and self.state in (S.AWAIT_HELLO, S.READY))
    @rule(extended=st.booleans(), cuts=cuts)
    def start_transaction(self, extended: bool, cuts: list[int]) -> None:
        """(EHLO,) MAIL and an accepted RCPT in one write, so that bodies and BDAT
        chunks (which need HAS_RCPT) come often, not only by chance."""
        step = Step(chunks_before=self.chunks)
        if self.state is S.AWAIT_HELLO:
            self.expect(step, "hello", extended)
        self.expect(step, "mail", None)
        self.expect(step, "rcpt", True)
        self.run(step, cuts)

    @precondition(lambda self: not self.closed and self.state in (S.HAS_RCPT, S.IN_BDAT))
    @rule(
        chunks=st.lists(
            st.one_of(st.binary(max_size=40), _smuggling_payload), min_size=1, max_size=3
        ),
        cuts=cuts,
    )
    def bdat_message(self, chunks: list[bytes], cuts: list[int]) -> None:
        """RFC 3030 2: a whole message in chunks, the last one with LAST, in one write."""
        step = Step(chunks_before=self.chunks)
        for index, payload in enumerate(chunks, 1):
            self.expect(step, "bdat", (payload, index == len(chunks)))
        self.run(step, cuts)

    @precondition(lambda self: not self.closed)
    @rule(lines=body_lines, cuts=cuts)
    def data(self, lines: list[bytes], cuts: list[int]) -> None:
        self.single("data", lines, cuts)

    @precondition(lambda self: not self.closed)
    @rule(cuts=cuts)
    def rset(self, cuts: list[int]) -> None:
        self.single("rset", None, cuts)

    @precondition(lambda self: not self.closed)
    @rule(
        kind=st.sampled_from(["noop", "unknown", "toolong"]),
        cuts=cuts,
    )
    def odd_command(self, kind: str, cuts: list[int]) -> None:
        self.single(kind, None, cuts)

    @precondition(lambda self: not self.closed)
    @rule(ending=st.sampled_from([b"\n", b"\r", b"\r\r", b"\n\n"]), cuts=cuts)
    def bare_line_ending(self, ending: bytes, cuts: list[int]) -> None:
        self.single("bare", ending, cuts)

    @precondition(lambda self: not self.closed)
    @rule(
        group=st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "hello",
                        "mail",
                        "rcpt",
                        "data",
                        "rset",
                        "noop",
                        "unknown",
                        "auth",
                        "bdat",
                        "starttls",
                    ]
                ),
                st.booleans(),
                body_lines,
            ),
            min_size=2,
            max_size=8,
        ),
        cuts=cuts,
    )
    def pipelined(self, group: list[tuple[str, bool, list[bytes]]], cuts: list[int]) -> None:
        """RFC 2920: several commands (bodies and BDAT chunks included) in one write."""
        step = Step(chunks_before=self.chunks)
        for kind, flag, lines in group:
            if kind == "data":
                self.expect(step, kind, lines)
            elif kind == "bdat":
                self.expect(step, kind, (b"\r\n".join(lines), flag))
            else:
                self.expect(step, kind, flag)
        self.run(step, cuts)

    @precondition(lambda self: not self.closed)
    @rule(
        payload=st.one_of(st.binary(max_size=40), _smuggling_payload), last=st.booleans(), cuts=cuts
    )
    def bdat(self, payload: bytes, last: bool, cuts: list[int]) -> None:
        """RFC 3030 2: BDAT and its octets, which are data whatever they hold."""
        self.single("bdat", (payload, last), cuts)

    @precondition(lambda self: not self.closed)
    @rule(good=st.booleans(), cuts=cuts)
    def auth(self, good: bool, cuts: list[int]) -> None:
        self.single("auth", good, cuts)

    @precondition(lambda self: not self.closed)
    @rule(cuts=cuts)
    def starttls(self, cuts: list[int]) -> None:
        self.single("starttls", None, cuts)

    @precondition(lambda self: not self.closed)
    @rule(cuts=cuts)
    def quit(self, cuts: list[int]) -> None:
        self.single("quit", None, cuts)

    @precondition(lambda self: not self.closed)
    @rule(cuts=cuts)
    def http(self, cuts: list[int]) -> None:
        self.single("http", None, cuts)

    @precondition(lambda self: not self.closed)
    @rule(
        where=st.sampled_from(["idle", "mid_command", "mid_body", "after_terminator"]),
        lines=body_lines,
        cuts=cuts,
    )
    def disconnect(self, where: str, lines: list[bytes], cuts: list[int]) -> None:
        """The client goes away: ConnectionClosed, no reply, and a partial body
        is never completed (RFC 5321 4.1.1.4: only CRLF.CRLF ends it)."""
        step = Step(chunks_before=self.chunks)
        in_transaction = self.state in IN_TRANSACTION
        mid_body = False
        if where == "mid_command":
            step.wire = b"MAIL FROM:<a@exa"
        elif where in ("mid_body", "after_terminator") and self.state is S.HAS_RCPT:
            self.expect(step, "data", lines)
            if where == "mid_body":
                step.wire = step.wire[: -len(b".\r\n")]  # everything but the final dot line
                step.codes.pop()  # no reply to a body that did not end
                step.bodies.clear()
                mid_body = in_transaction = True
            else:
                in_transaction = False
        self.state = S.CLOSED
        if self.dead:
            self.run(step, cuts)
            return
        self.run_to_close(step, cuts, in_transaction, mid_body)

    def run_to_close(self, step: Step, cuts: list[int], mid_tx: bool, mid_body: bool) -> None:
        events_before = self.conn.state
        self.run(step, cuts, eof=True)
        closed = self.conn.next_event()
        assert isinstance(closed, ConnectionClosed), (closed, events_before)
        assert closed.mid_transaction == mid_tx
        assert closed.mid_body == mid_body

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def state_is_as_rfc_5321_says(self) -> None:
        if self.client is None:
            return
        if self.dead:
            assert self.conn.state is S.ERROR
        else:
            assert self.conn.state is self.state, (self.conn.state, self.state)
            assert self.conn.awaiting_reply is None  # every command was answered


SmtpClientModel.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_stateful_client_against_engine = SmtpClientModel.TestCase
