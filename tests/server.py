"""The real production server for tests that need one (the browser tests, the crash
test): `botyard serve` as a subprocess with its own data folder, mail folder and (on
PostgreSQL) its own database, reached over HTTP only, never through the test process's
database. Under pytest-xdist every worker starts its own."""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from botyard import config

SECRET_KEY = "browser-tests-only-" + "k" * 40
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# Variables of the test process that must not leak into the server's configuration.
SERVER_VARIABLES = (*config.VARIABLES, "DJANGO_SETTINGS_MODULE")
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"

# --- the server ------------------------------------------------------------------------


def _botyard_command() -> list[str]:
    script = Path(sys.executable).with_name("botyard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "botyard.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.split("+")[0] in {"postgres", "postgresql", "pgsql"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_connection(url: str) -> psycopg.Connection:
    """A connection to the `postgres` database of the server that `url` points at."""
    parts = urlsplit(_with_database(url, "postgres"))
    return psycopg.connect(urlunsplit(parts._replace(scheme="postgresql")), autocommit=True)


class PostgresDatabase:
    """A fresh database on the PostgreSQL server `url` points at, dropped afterwards (also
    used by the benchmarks in bench/)."""

    def __init__(self, url: str, prefix: str = "botyard_server") -> None:
        self.admin_url = url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = _with_database(url, self.name)

    def create(self) -> None:
        with _admin_connection(self.admin_url) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        with _admin_connection(self.admin_url) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            )
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.name))
            )


@dataclass
class Server:
    """`botyard serve` and `botyard worker` (which sends the emails), sharing one data folder
    and database, as a production install runs them."""

    base_url: str
    mail_dir: Path
    data_dir: Path
    env: dict[str, str]
    log_dir: Path
    database: PostgresDatabase | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    worker: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def run_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run another `botyard` command against the server's data and database."""
        result = subprocess.run(
            [*_botyard_command(), *args],
            env=self.env,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"botyard {' '.join(args)} exited with {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def emails(self) -> list[EmailMessage]:
        """Every email sent so far, oldest first."""
        if not self.mail_dir.is_dir():
            return []
        found: list[EmailMessage] = []
        for path in sorted(self.mail_dir.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
            for chunk in path.read_bytes().split(MAIL_SEPARATOR):
                if chunk.strip():
                    message = email.message_from_bytes(chunk, policy=email.policy.default)
                    found.append(cast(EmailMessage, message))
        return found

    def wait_for_email(self, to: str, timeout: float = 20.0) -> EmailMessage:
        """The latest email to `to`, waiting for the worker to send it."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [m for m in self.emails() if to.lower() in str(m["To"]).lower()]
            if matching:
                return matching[-1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no email to {to} within {timeout:.0f} s; worker output:\n"
                    + self.log("worker")
                )
            time.sleep(0.2)

    def log(self, name: str = "serve") -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _spawn(server: Server, name: str, *args: str) -> subprocess.Popen[bytes]:
    with (server.log_dir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [*_botyard_command(), *args],
            env=server.env,
            cwd=server.data_dir,  # so that no `.env` of the checkout is read
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _start(server: Server) -> None:
    port = str(urlsplit(server.base_url).port)
    server.process = _spawn(
        server, "serve", "serve", "--host", "127.0.0.1", "--port", port, "--workers", "2"
    )


def wait_until_healthy(
    process: subprocess.Popen[bytes], base_url: str, log: Callable[[], str],
    timeout: float = STARTUP_TIMEOUT,
) -> None:  # fmt: skip
    """Until `botyard serve` answers /healthz with 200; RuntimeError, with its output
    (`log()`), when it exits first or takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"botyard serve exited with {process.returncode} before it answered "
                f"/healthz; its output:\n{log()}"
            )
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"botyard serve did not answer /healthz within {timeout:.0f} s; its output:\n{log()}"
    )


def _wait_until_healthy(server: Server) -> None:
    assert server.process is not None
    wait_until_healthy(server.process, server.base_url, server.log)


def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Its session holds only what it started (gunicorn's workers), all ours to end.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def _stop(server: Server) -> None:
    _stop_process(server.worker)
    _stop_process(server.process)


@contextlib.contextmanager
def production_server(prefix: str, *, with_worker: bool) -> Iterator[Server]:
    """`botyard serve --workers 2` (and, `with_worker`, `botyard worker`) on a free port of
    127.0.0.1, with a new data folder and, when the test process runs on PostgreSQL, a new
    database on the same PostgreSQL server; all removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    database: PostgresDatabase | None = None
    test_database_url = os.environ.get("DATABASE_URL", "")
    if test_database_url and _is_postgres(test_database_url):
        database = PostgresDatabase(test_database_url)
        database.create()
    running: Server | None = None
    try:
        for _attempt in range(3):
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            data_dir = root / "data"
            mail_dir = root / "mail"
            env = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
            env.update(
                BOTYARD_DATA_DIR=str(data_dir),
                EMAIL_URL=f"file://{mail_dir}",
                BASE_URL=base_url,
                SECRET_KEY=SECRET_KEY,
                BOTYARD_SIGNUP="open",
                PYTHONUNBUFFERED="1",
            )
            if database is not None:
                env["DATABASE_URL"] = database.url
            data_dir.mkdir(exist_ok=True)
            candidate = Server(
                base_url=base_url, mail_dir=mail_dir, data_dir=data_dir, env=env,
                log_dir=root, database=database,
            )  # fmt: skip
            _start(candidate)
            try:
                _wait_until_healthy(candidate)
            except RuntimeError:
                _stop(candidate)
                # Another process may have taken the port between choosing and binding it.
                if "Address already in use" in candidate.log():
                    continue
                raise
            if with_worker:
                # Started once the server has migrated, so that the two never migrate at once.
                candidate.worker = _spawn(candidate, "worker", "worker", "--interval", "0.2")
            running = candidate
            break
        else:
            raise RuntimeError("could not find a free port for botyard serve")
        yield running
    finally:
        if running is not None:
            _stop(running)
        if database is not None:
            database.drop()
        shutil.rmtree(root, ignore_errors=True)
