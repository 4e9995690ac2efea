"""Maildir delivery: the folder layout, unique file names and queue ids, and
``Spool``, one message on its way in.

A message is written to ``tmp/`` as it arrives and renamed into ``new/`` only
once accepted (an atomic rename), so a reader never sees half of it. What goes
in front of the body (the trace headers) is ``_trace.py``'s; when to deliver is
``_policy.py``'s.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import time
from collections.abc import Sequence
from mailbox import Maildir
from typing import BinaryIO

__all__ = ["NullSpool", "Spool", "make_maildir", "new_queue_id"]


def make_maildir(path: str) -> None:
    """Create the Maildir layout (tmp/, new/, cur/) if missing or empty."""
    Maildir(path, create=True)
    # mailbox.Maildir leaves an existing but empty folder as it is.
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


# Queue ids: 16 hex digits, a random half per process and a counter (cheaper than
# a uuid4 per message, which asks the kernel for randomness every time).
_queue_prefix = os.urandom(4).hex().upper()
_queue_counter = itertools.count(1)


def new_queue_id() -> str:
    """The id the 250 reply and ``Received:`` give a message."""
    return f"{_queue_prefix}{next(_queue_counter):08X}"


# File names: time, process id and a counter (one message may become several
# files, in LMTP), then the host name with "/" and ":" escaped.
_file_counter = itertools.count(1)
_host_part = socket.gethostname().replace("/", r"\057").replace(":", r"\072")


class Spool:
    """One message on its way into a Maildir: written to ``tmp/`` as it arrives,
    renamed into ``new/`` only once accepted, so readers never see half of it."""

    def __init__(self, maildir: str, head: bytes) -> None:
        now = time.time()
        seconds, micro = int(now), int(now % 1 * 1_000_000)
        name = f"{seconds}.M{micro}P{os.getpid()}Q{next(_file_counter)}.{_host_part}"
        self._maildir = maildir
        self._tmp = os.path.join(maildir, "tmp", name)
        self._new = os.path.join(maildir, "new", name)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        try:
            self._file.write(head)
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(data)

    def commit(self) -> None:
        """Close the file and move it into ``new/`` (an atomic rename)."""
        assert self._file is not None
        file, self._file = self._file, None
        try:
            file.close()
            os.rename(self._tmp, self._new)
        except BaseException:
            self._remove()
            raise

    def deliver_copies(self, heads: Sequence[bytes]) -> list[bool]:
        """LMTP: one file in ``new/`` per head, each the head and then this spool's
        content (the body); whether each copy landed. This spool is removed."""
        assert self._file is not None
        landed = []
        try:
            self._file.flush()
            for head in heads:
                try:
                    copy = Spool(self._maildir, head)
                    try:
                        with open(self._tmp, "rb") as body:
                            shutil.copyfileobj(body, copy)
                    except BaseException:
                        copy.discard()
                        raise
                    copy.commit()
                    landed.append(True)
                except OSError:
                    landed.append(False)
        finally:
            self.discard()
        return landed

    def discard(self) -> None:
        """Drop a message that was rejected, too big or cut off."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            finally:
                self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class NullSpool(Spool):
    """``--discard``: take the message and forget it."""

    def __init__(self) -> None:
        self._file = None

    def commit(self) -> None:
        pass

    def deliver_copies(self, heads: Sequence[bytes]) -> list[bool]:
        return [True] * len(heads)
