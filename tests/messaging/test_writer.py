"""SQLite's writer turn (messaging/writer.py): one process at a time, never a longer wait
in all than SQLite's own timeout, and nothing to do on PostgreSQL or inside an open
transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection, transaction

from botyard.messaging.writer import writer_turn

pytestmark = pytest.mark.django_db(transaction=True)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="a file lock for SQLite")

# Another process tries the lock without waiting: 0 when it got it, 1 when it is held.
TRY_LOCK = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "try:\n"
    "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "except BlockingIOError:\n"
    "    sys.exit(1)\n"
)
# Another process takes the lock, says so, and keeps it until its input closes.
HOLD_LOCK = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def _lock_file() -> str:
    return f"{connection.settings_dict['NAME']}.writer-lock"


def _other_process_gets_the_turn() -> bool:
    result = subprocess.run([sys.executable, "-c", TRY_LOCK, _lock_file()], check=False)
    return result.returncode == 0


@contextmanager
def _turn_held_elsewhere(*, released_after: float) -> Iterator[None]:
    """Another process holds the turn, and gives it up `released_after` seconds on
    (while this thread waits for it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, _lock_file()],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    release = threading.Timer(released_after, holder.stdin.close)
    release.start()
    try:
        yield
    finally:
        release.join()
        holder.wait(timeout=10)


def _busy_timeout_ms() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0])


@sqlite_only
def test_one_process_at_a_time_holds_the_writer_turn() -> None:
    with writer_turn():
        assert os.path.exists(_lock_file())
        assert not _other_process_gets_the_turn()
        with writer_turn():  # nested: already inside, nothing more to wait for
            assert not _other_process_gets_the_turn()
        assert not _other_process_gets_the_turn()
    assert _other_process_gets_the_turn()


@sqlite_only
def test_no_turn_is_taken_inside_an_open_transaction() -> None:
    with transaction.atomic(), writer_turn():
        assert _other_process_gets_the_turn()


@sqlite_only
def test_queueing_counts_against_sqlites_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = _busy_timeout_ms()
    options = {**connection.settings_dict.get("OPTIONS", {}), "timeout": configured / 1000}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    with _turn_held_elsewhere(released_after=0.2), writer_turn():
        shortened = _busy_timeout_ms()
    assert 0 < shortened < configured  # what the wait took is off the transaction's budget
    assert _busy_timeout_ms() == configured  # and given back afterwards


@sqlite_only
def test_a_turn_given_only_after_the_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    options = {**connection.settings_dict.get("OPTIONS", {}), "timeout": 0.05}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    with (
        _turn_held_elsewhere(released_after=0.5),
        pytest.raises(OperationalError, match="database is locked"),
        writer_turn(),
    ):
        pytest.fail("the turn came after the timeout and must not be used")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL needs no turn")
def test_postgresql_takes_no_file_lock() -> None:
    with writer_turn():
        pass  # nothing to wait for, nothing created
    assert not any(name.endswith(".writer-lock") for name in os.listdir("."))
