"""Browser tests: a real Chromium against the real production server (`botyard serve`).

The server (tests/server.py) runs as a subprocess with its own data folder, mail folder
and (on PostgreSQL) its own database, so these tests talk to it over HTTP only and never
touch the test process's database. Under pytest-xdist every worker starts its own server.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

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

from tests.server import Server, production_server

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


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with production_server("botyard-browser-", with_worker=True) as running:
        yield running


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
