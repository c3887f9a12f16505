"""SQLite: message transactions take turns on a file lock before they take SQLite's.

SQLite has one writer at a time, and a connection that finds the write lock taken does
not wait for it to be released: its busy handler sleeps 1 ms, then 2, 5, 10 … and tries
again. A message's transaction holds the lock for a fraction of a millisecond, so under
load most of a waiting worker's time went to those sleeps. `flock` queues the processes
in the kernel instead and wakes the next one as soon as the lock is free; SQLite's own
lock (BEGIN IMMEDIATE) is then almost always free when asked for. Writers elsewhere (the
dashboard, the scheduler) still rely on SQLite's lock alone, which stays the guarantee:
this one only makes the common case wait less. On PostgreSQL it does nothing.

A turn never makes a message wait longer in all than SQLite's own timeout would: time
spent queueing is taken off the busy timeout of the transaction that follows, so every
holder of the turn gives it up by its own deadline.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections

DEFAULT_TIMEOUT = 5.0  # sqlite3's default, when the settings give none


class _State(threading.local):
    depth = 0  # turns this thread holds: a nested one is already inside


_threads = threading.Lock()  # flock does not tell apart the threads of one process
_state = _State()
_files: dict[str, tuple[int, int]] = {}  # database file -> (pid that opened it, fd)


def _after_fork() -> None:
    global _threads
    _threads = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork)


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
    """The SQLite file a new transaction would write to; None when no turn is needed:
    PostgreSQL, an in-memory database, or a transaction already open (it may hold
    SQLite's lock already, and its statements are savepoints)."""
    db = connections[DEFAULT_DB_ALIAS]  # read once: `connection` looks it up each time
    if db.vendor != "sqlite" or db.in_atomic_block:
        return None
    name = str(db.settings_dict["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        return None
    return name


def _busy_timeout(seconds: float) -> None:
    connection.ensure_connection()
    connection.connection.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")


@contextmanager
def writer_turn() -> Iterator[None]:
    """Wait for this database's turn to write (SQLite files only)."""
    database = None if _state.depth else _database_file()
    if database is None:
        yield
        return
    timeout = float(connection.settings_dict.get("OPTIONS", {}).get("timeout", DEFAULT_TIMEOUT))
    asked = time.monotonic()
    with _threads:
        fd = _lock_file(database)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _state.depth += 1
        try:
            waited = time.monotonic() - asked
            if waited >= timeout:
                raise OperationalError("database is locked")
            shortened = waited > 0.001
            if shortened:
                _busy_timeout(timeout - waited)
            try:
                yield
            finally:
                if shortened:
                    _busy_timeout(timeout)
        finally:
            _state.depth -= 1
            fcntl.flock(fd, fcntl.LOCK_UN)
