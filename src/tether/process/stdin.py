"""What ``tether run``'s command reads on stdin, first run and re-runs alike.

The command reads what it would read without tether:

- **a terminal** stays the terminal (under a pseudo-terminal, the keys typed are
  passed through in raw mode);
- **a regular file** (``tether run -- psql < x.sql``) is given to the command
  itself, and rewound to where it started before every re-run;
- **a pipe** (or socket) is read by tether as it comes and passed on to the
  command live, keeping a copy of up to :data:`REPLAY_LIMIT_BYTES`. A re-run
  after a fix gets the copy again, followed by whatever the pipe still holds,
  so every run reads the same input. Past the limit the copy is dropped: the
  input cannot be replayed, and ``tether run`` does not re-run the command
  unless ``--rerun-stdin`` (then a re-run reads only what is left of the pipe);
- **anything else** (``/dev/null``, a closed stdin) is passed on as it is.

Only the standard library is imported: this is on ``tether run``'s fast path.
"""

from __future__ import annotations

import contextlib
import os
import stat

__all__ = ["REPLAY_LIMIT_BYTES", "StdinFeed", "StdinReader"]

REPLAY_LIMIT_BYTES = 1024 * 1024
"""Bytes of a piped stdin kept for re-runs (1 MiB)."""


class StdinFeed:
    """Our stdin (``fd``), seen as one of ``"tty"``, ``"file"``, ``"pipe"``, ``"inherit"``, ``"none"``.

    Args:
        fd: the file descriptor to read (``0``).
        limit: bytes of a pipe kept to replay it (see :data:`REPLAY_LIMIT_BYTES`).

    Attributes:
        kind: how the command gets it (see the module docstring); ``"none"`` when ``fd``
            is closed (the command then gets ``/dev/null``).
        copy: what was read from a pipe so far, while it fits in ``limit``.
        whole: ``copy`` holds everything read from the pipe (it can be replayed).
        eof: the pipe reached its end.
    """

    def __init__(self, fd: int = 0, limit: int = REPLAY_LIMIT_BYTES) -> None:
        self.fd = fd
        self.limit = limit
        self.copy = bytearray()
        self.whole = True
        self.eof = False
        self.start = 0
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            self.kind = "none"
            return
        if os.isatty(fd):
            self.kind = "tty"
        elif stat.S_ISREG(mode):
            self.kind = "file"
            try:
                self.start = os.lseek(fd, 0, os.SEEK_CUR)
            except OSError:
                self.kind = "inherit"
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            self.kind = "pipe"
        else:
            self.kind = "inherit"

    @property
    def replayable(self) -> bool:
        """A re-run reads the same input as the first run."""
        return self.kind != "pipe" or self.whole

    def rewind(self) -> None:
        """Before a run: a regular file goes back to where it was when tether started."""
        if self.kind == "file":
            with contextlib.suppress(OSError):
                os.lseek(self.fd, self.start, os.SEEK_SET)

    def reader(self) -> StdinReader:
        """For one run of a ``"pipe"`` feed: the copy first (when whole), then the pipe."""
        return StdinReader(self)


class StdinReader:
    """One run's view of a piped :class:`StdinFeed`: a chunk at a time, to write to the command."""

    def __init__(self, feed: StdinFeed) -> None:
        self.feed = feed
        self.pos = 0 if feed.whole else len(feed.copy)

    def buffered(self, size: int = 65536) -> bytes:
        """The next chunk of the copy not yet given to this run (``b""`` when none)."""
        copy = self.feed.copy
        if not self.feed.whole or self.pos >= len(copy):
            return b""
        chunk = bytes(copy[self.pos : self.pos + size])
        self.pos += len(chunk)
        return chunk

    @property
    def done(self) -> bool:
        """Nothing more will come: the copy is given and the pipe is at its end."""
        feed = self.feed
        return feed.eof and (not feed.whole or self.pos >= len(feed.copy))

    def read(self, size: int = 65536) -> bytes:
        """Read the pipe (it is readable); keeps the copy; ``b""`` at its end."""
        feed = self.feed
        try:
            data = os.read(feed.fd, size)
        except OSError:
            data = b""
        if not data:
            feed.eof = True
            return b""
        if feed.whole and len(feed.copy) + len(data) <= feed.limit:
            feed.copy += data
            self.pos = len(feed.copy)
        else:
            feed.whole = False
            feed.copy.clear()
            self.pos = 0
        return data
