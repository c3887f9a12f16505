from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from botyard.messaging.writer import writer_turn

pytestmark = pytest.mark.django_db

# Another process tries the lock without waiting: 0 when it got it, 1 when it is held.
TRY_LOCK = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR)\n"
    "try:\n"
    "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "except BlockingIOError:\n"
    "    sys.exit(1)\n"
)


def _other_process_gets(lock_file: str) -> bool:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, lock_file], check=False).returncode == 0


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a file lock for SQLite only")
def test_one_process_at_a_time_holds_the_writer_turn() -> None:
    lock_file = f"{connection.settings_dict['NAME']}.writer-lock"
    with writer_turn():
        assert os.path.exists(lock_file)
        assert not _other_process_gets(lock_file)
    assert _other_process_gets(lock_file)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL needs no turn")
def test_postgresql_takes_no_file_lock() -> None:
    with writer_turn():
        pass  # nothing to wait for, nothing created
    assert not any(name.endswith(".writer-lock") for name in os.listdir("."))
