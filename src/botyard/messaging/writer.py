"""SQLite: message transactions take turns on a file lock before they take SQLite's.

SQLite has one writer at a time, and a connection that finds the write lock taken does
not wait for it to be released: its busy handler sleeps 1 ms, then 2, 5, 10 … and tries
again. A message's transaction holds the lock for a fraction of a millisecond, so under
load most of a waiting worker's time went to those sleeps. `flock` queues the processes
in the kernel instead and wakes the next one as soon as the lock is free; SQLite's own
lock (BEGIN IMMEDIATE) is then almost always free when asked for. Writers elsewhere (the
dashboard, the scheduler) still rely on SQLite's lock alone, which stays the guarantee:
this one only makes the common case wait less. On PostgreSQL it does nothing.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_threads = threading.Lock()  # flock does not tell apart the threads of one process
_files: dict[str, tuple[int, int]] = {}  # database file -> (pid that opened it, fd)


def _lock_file(database: str) -> int:
    pid = os.getpid()
    opened = _files.get(database)
    if opened is None or opened[0] != pid:
        # Opened per process: a descriptor inherited across fork shares the parent's
        # lock, which would let every worker in at once.
        fd = os.open(f"{database}.writer-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        _files[database] = opened = (pid, fd)
    return opened[1]


def _database_file() -> str | None:
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or name == ":memory:" or "mode=memory" in name:
        return None
    return name


@contextmanager
def writer_turn() -> Iterator[None]:
    """Wait for this database's turn to write (SQLite files only)."""
    database = _database_file()
    if database is None:
        yield
        return
    with _threads:
        fd = _lock_file(database)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
