"""Browser tests: a real Chromium against the real production server (`botyard serve`).

The server runs as a subprocess with its own data folder, mail folder and (on PostgreSQL)
its own database, so these tests talk to it over HTTP only and never touch the test
process's database. Under pytest-xdist every worker starts its own server.
"""

from __future__ import annotations

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
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)
from psycopg import sql

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

SECRET_KEY = "browser-tests-only-" + "k" * 40
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# Variables of the test process that must not leak into the server's configuration.
SERVER_VARIABLES = (
    "BOTYARD_DATA_DIR",
    "DATABASE_URL",
    "EMAIL_URL",
    "BASE_URL",
    "SECRET_KEY",
    "BOTYARD_DEBUG",
    "BOTYARD_SIGNUP",
    "BOTYARD_LOG_FORMAT",
    "DJANGO_SETTINGS_MODULE",
)
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


# Generous, because a busy CI machine hashing argon2 passwords in two server processes is
# slow; a passing test never waits this long.
expect.set_options(timeout=15_000)
ACTION_TIMEOUT = 15_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A failing browser test is easier to read next to what the server said meanwhile.
    running = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(running, Server):
        for name in ("serve", "worker"):
            text = running.log(name)
            if text:
                report.sections.append((f"botyard {name} (last 60 lines)", _tail(text, 60)))
    return report


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


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
    """A fresh database on the test process's PostgreSQL server, dropped afterwards."""

    def __init__(self, url: str) -> None:
        self.admin_url = url
        self.name = f"botyard_browser_{secrets.token_hex(4)}"
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


def _wait_until_healthy(server: Server) -> None:
    assert server.process is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"botyard serve exited with {server.process.returncode} before it answered "
                f"/healthz; its output:\n{server.log()}"
            )
        try:
            with urllib.request.urlopen(server.url("/healthz"), timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"botyard serve did not answer /healthz within {STARTUP_TIMEOUT:.0f} s; "
        f"its output:\n{server.log()}"
    )


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


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="botyard-browser-"))
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
                base_url=base_url,
                mail_dir=mail_dir,
                data_dir=data_dir,
                env=env,
                log_dir=root,
            )
            _start(candidate)
            try:
                _wait_until_healthy(candidate)
            except RuntimeError:
                _stop(candidate)
                # Another process may have taken the port between choosing and binding it.
                if "Address already in use" in candidate.log():
                    continue
                raise
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


# --- the browser -----------------------------------------------------------------------


# Package scope, not session: Playwright's sync API keeps an asyncio loop marked as running
# in the main thread while it is started, and Django then refuses database access
# (SynchronousOnlyOperation) in any ordinary test that the same xdist worker runs next.
# Stopping Playwright when this package's tests are done keeps the rest of the suite safe.
@pytest.fixture(scope="package")
def playwright_manager() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install -y chromium"
        )
    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture(scope="package")
def browser(playwright_manager: Playwright) -> Iterator[Browser]:
    browser = playwright_manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


class PageProblems:
    """What a page did wrong that a test would not see: script errors, CSP violations,
    stylesheets or scripts that failed to load."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.items.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._request_failed)

    def _console(self, message: ConsoleMessage) -> None:
        # A document answered with 4xx (a refused form) is logged as "Failed to load
        # resource"; assets are checked through their responses instead.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.items.append(f"console error: {message.text}")

    def _response(self, response: Response) -> None:
        kind = response.request.resource_type
        if kind in {"stylesheet", "script", "image", "font"} and response.status >= 400:
            self.items.append(f"{kind} {response.url} answered {response.status}")

    def _request_failed(self, request: Request) -> None:
        # Aborted means the test moved on to another page before this one finished loading.
        if request.failure == "net::ERR_ABORTED":
            return
        if request.resource_type in {"stylesheet", "script", "image", "font"}:
            self.items.append(f"{request.resource_type} {request.url} failed: {request.failure}")


def new_context(browser: Browser, server: Server, viewport: ViewportSize) -> BrowserContext:
    context = browser.new_context(base_url=server.base_url, viewport=viewport)
    context.set_default_timeout(ACTION_TIMEOUT)
    return context


@pytest.fixture
def open_page(browser: Browser, server: Server) -> Iterator[Callable[..., Page]]:
    """`open_page(viewport=PHONE)`: a page in a context of its own (so a session of its own,
    e.g. a second user), watched for problems and closed after the test."""
    contexts: list[BrowserContext] = []
    problems = PageProblems()

    def open_(viewport: ViewportSize = DESKTOP) -> Page:
        context = new_context(browser, server, viewport)
        contexts.append(context)
        page = context.new_page()
        problems.watch(page)
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()
    assert not problems.items, "the page reported problems:\n" + "\n".join(problems.items)


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A desktop-sized page (1280x800) in a fresh context."""
    return open_page(DESKTOP)


def save_screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """`screenshot(page, "signin")` saves docs/screenshots/signin.png (full page)."""
    return save_screenshot
