"""Security headers and cookies (SECURITY.md "Headers" and "Cookies"), on dashboard pages
and API answers alike, over http and https, and the templates the CSP has to allow."""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

import botyard
from botyard.accounts.models import User
from tests import factories

pytestmark = pytest.mark.django_db

HSTS = "Strict-Transport-Security"
SETTINGS_FILE = Path(botyard.__file__).parent / "settings.py"
TEMPLATES = sorted(Path(botyard.__file__).parent.glob("*/templates/**/*.html"))


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user, backend="botyard.accounts.backends.EmailBackend")
    return client


def fetch(
    client: Client,
    kind: str,
    token: str,
    *,
    secure: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    """One answer of each kind: a dashboard page, the sign-in page, an API answer and an
    API problem."""
    sent = dict(headers or {})
    if kind == "dashboard page":
        path = "/"
    elif kind == "sign-in page":
        client.logout()
        path = "/signin"
    elif kind == "api answer":
        path = "/api/v1/me"
        sent["Authorization"] = f"Bearer {token}"
    else:
        assert kind == "api problem"
        path = "/api/v1/workspaces/ws_missing"
    response = client.get(path, secure=secure, headers=sent)
    assert response.status_code == (404 if kind == "api problem" else 200), response.content
    return response


KINDS = ["dashboard page", "sign-in page", "api answer", "api problem"]


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0].lower()] = words[1:]
    return parsed


@pytest.mark.parametrize("kind", KINDS)
def test_content_security_policy_allows_no_inline_script_or_style(
    signed_in: Client, user_token: str, kind: str
) -> None:
    response = fetch(signed_in, kind, user_token)
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        sources = policy[directive]
        assert "'unsafe-inline'" not in sources, directive
        assert "'unsafe-eval'" not in sources, directive
        assert "*" not in sources and "data:" not in sources, directive
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


@pytest.mark.parametrize("kind", KINDS)
def test_framing_sniffing_and_referrers_are_refused(
    signed_in: Client, user_token: str, kind: str
) -> None:
    response = fetch(signed_in, kind, user_token)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


# --- https -------------------------------------------------------------------------------


def settings_for(base_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What botyard.settings derives from this BASE_URL (the module evaluated afresh; the
    running settings are untouched)."""
    monkeypatch.setenv("BASE_URL", base_url)
    return runpy.run_path(str(SETTINGS_FILE), run_name="botyard_settings_for_test")


HTTPS_NAMES = (
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


@pytest.fixture
def https_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The running server's settings as they would be with an https BASE_URL."""
    derived = settings_for("https://botyard.example", monkeypatch)
    values = {name: derived[name] for name in HTTPS_NAMES}
    with override_settings(**values, CSRF_TRUSTED_ORIGINS=derived["CSRF_TRUSTED_ORIGINS"]):
        yield values


def test_an_https_base_url_turns_on_hsts_and_secure_cookies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    https = settings_for("https://botyard.example", monkeypatch)
    assert https["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert https["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert https["SESSION_COOKIE_SECURE"] is True
    assert https["CSRF_COOKIE_SECURE"] is True
    http = settings_for("http://127.0.0.1:8000", monkeypatch)
    assert http.get("SECURE_HSTS_SECONDS", 0) == 0
    assert http["SESSION_COOKIE_SECURE"] is False
    assert http["CSRF_COOKIE_SECURE"] is False


@pytest.mark.parametrize("kind", KINDS)
def test_no_hsts_over_http(signed_in: Client, user_token: str, kind: str) -> None:
    assert HSTS not in fetch(signed_in, kind, user_token)
    assert HSTS not in fetch(signed_in, kind, user_token, secure=True)  # BASE_URL is http


@pytest.mark.parametrize("kind", KINDS)
def test_hsts_on_secure_requests_when_the_base_url_is_https(
    signed_in: Client, user_token: str, kind: str, https_settings: dict[str, Any]
) -> None:
    secure = fetch(signed_in, kind, user_token, secure=True)
    assert secure[HSTS] == "max-age=31536000; includeSubDomains"
    # Behind the proxy that terminates TLS (SECURE_PROXY_SSL_HEADER).
    proxied = fetch(signed_in, kind, user_token, headers={"X-Forwarded-Proto": "https"})
    assert proxied[HSTS] == "max-age=31536000; includeSubDomains"
    # A plain-http request never gets it: browsers ignore HSTS over http anyway.
    assert HSTS not in fetch(signed_in, kind, user_token)


# --- cookies -----------------------------------------------------------------------------


def sign_in(client: Client, **extra: Any) -> Any:
    user = factories.user()
    client.get("/signin", **extra)  # the form page sets the CSRF cookie
    response = client.post(
        "/signin", {"email": user.email, "password": factories.PASSWORD}, **extra
    )
    assert response.status_code == 302, response.content
    return response


def test_session_and_csrf_cookies_over_http(client: Client) -> None:
    page = client.get("/signin")
    csrf = page.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    assert not csrf["secure"]
    session = sign_in(client).cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert not session["secure"]


def test_cookies_are_secure_when_the_base_url_is_https(
    client: Client, https_settings: dict[str, Any]
) -> None:
    page = client.get("/signin", secure=True)
    csrf = page.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    assert csrf["secure"] is True
    session = sign_in(client, secure=True).cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert session["secure"] is True


# --- templates ---------------------------------------------------------------------------

# The policy forbids all of these, so a browser would silently drop them.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
SCRIPT_WITH_CONTENT = re.compile(r"<script\b[^>]*>\s*(?!</script)\S", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\s(on[a-z]+|hx-on(:|::|-)[\w:-]*)\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"javascript:", re.IGNORECASE)


def test_the_templates_are_found() -> None:
    names = {path.name for path in TEMPLATES}
    assert {"base.html", "signin.html", "bots.html"} <= names


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_templates_hold_no_inline_script_or_style(template: Path) -> None:
    text = template.read_text()
    problems = {
        "inline <script>": INLINE_SCRIPT.findall(text) + SCRIPT_WITH_CONTENT.findall(text),
        "style= attribute": STYLE_ATTRIBUTE.findall(text),
        "<style> element": STYLE_ELEMENT.findall(text),
        "event handler attribute": EVENT_HANDLER.findall(text),
        "javascript: URL": JAVASCRIPT_URL.findall(text),
    }
    assert not {kind: found for kind, found in problems.items() if found}


def test_the_pattern_catches_what_it_must() -> None:
    """The patterns above, on the markup they exist to refuse (and on what they must pass)."""
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert SCRIPT_WITH_CONTENT.search('<script src="/x.js">alert(1)</script>')
    assert not INLINE_SCRIPT.search('<script src="/static/htmx.min.js" defer></script>')
    assert not SCRIPT_WITH_CONTENT.search('<script src="/static/htmx.min.js" defer></script>')
    assert STYLE_ATTRIBUTE.search('<div style="color: red">')
    assert not STYLE_ATTRIBUTE.search('<div class="stylish">')
    assert EVENT_HANDLER.search('<button onclick="go()">')
    assert EVENT_HANDLER.search('<button hx-on:click="go()">')
    assert not EVENT_HANDLER.search('<button hx-post="/x" data-one="1">')
