"""The sign-up, sign-in and sign-out pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from botyard.accounts.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

GENERIC_SIGN_IN_ERROR = "The email address or password is incorrect."


def field_block(html: str, field_id: str) -> str:
    """The `<div class="field">` that holds the input with this id."""
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', html, flags=re.S):
        if f'id="{field_id}"' in block:
            return str(block)
    raise AssertionError(f"no field {field_id} in the page")


def signed_in_user_id(client: Client) -> Any:
    return client.session.get("_auth_user_id")


# --- sign-up -----------------------------------------------------------------------------


def test_the_sign_up_page_renders(client: Client) -> None:
    response = client.get("/signup")

    assert response.status_code == 200
    assert b'name="email"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_signing_up_creates_the_user_and_signs_in(client: Client) -> None:
    response = client.post(
        "/signup", {"name": "Ada", "email": "Ada@Example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get()
    assert (user.email, user.name) == ("ada@example.com", "Ada")
    assert signed_in_user_id(client) == user.id


def test_sign_up_errors_are_shown_next_to_the_field_and_keep_what_was_typed(
    client: Client, make_user: Callable[..., User]
) -> None:
    make_user(email="taken@example.com")

    response = client.post(
        "/signup", {"name": "Typed Name", "email": "TAKEN@example.com", "password": PASSWORD}
    )

    assert response.status_code == 409
    html = response.content.decode()
    email = field_block(html, "id_email")
    assert "field-invalid" in email
    assert "An account with this email already exists." in email
    assert 'value="TAKEN@example.com"' in email
    assert 'value="Typed Name"' in field_block(html, "id_name")
    assert PASSWORD not in html
    assert User.objects.count() == 1
    assert signed_in_user_id(client) is None


def test_a_weak_password_is_reported_on_the_password_field(client: Client) -> None:
    response = client.post(
        "/signup", {"name": "Ada", "email": "ada@example.com", "password": "password"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "field-error" in field_block(html, "id_password")
    assert "field-error" not in field_block(html, "id_email")
    assert 'value="ada@example.com"' in field_block(html, "id_email")
    assert not User.objects.exists()


def test_missing_fields_are_reported_on_each_field(client: Client) -> None:
    response = client.post("/signup", {"name": "", "email": "not-an-email", "password": ""})

    assert response.status_code == 400
    html = response.content.decode()
    for field_id in ("id_name", "id_email", "id_password"):
        assert "field-error" in field_block(html, field_id)
    assert 'value="not-an-email"' in field_block(html, "id_email")
    assert not User.objects.exists()


def test_sign_up_is_refused_when_closed(client: Client, settings: Any) -> None:
    settings.SIGNUP_OPEN = False

    page = client.get("/signup")
    response = client.post(
        "/signup", {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    )

    assert b"Sign-up is closed" in page.content
    assert b'name="password"' not in page.content
    assert response.status_code == 403
    assert not User.objects.exists()


# --- sign-in -----------------------------------------------------------------------------


@pytest.fixture
def ada(make_user: Callable[..., User]) -> User:
    return make_user(email="ada@example.com", name="Ada")


def test_signing_in_redirects_home(client: Client, ada: User) -> None:
    response = client.post("/signin", {"email": "ADA@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_user_id(client) == ada.id


@pytest.mark.parametrize(
    ("email", "password"),
    [("ada@example.com", "not-the-password-1"), ("nobody@example.com", PASSWORD)],
    ids=["wrong password", "unknown email"],
)
def test_a_failed_sign_in_shows_the_generic_message(
    client: Client, ada: User, email: str, password: str
) -> None:
    response = client.post("/signin", {"email": email, "password": password})

    assert response.status_code == 401
    html = response.content.decode()
    assert GENERIC_SIGN_IN_ERROR in html
    assert f'value="{email}"' in html
    assert signed_in_user_id(client) is None


def test_repeated_failed_sign_ins_are_throttled_on_the_page(client: Client, ada: User) -> None:
    for _ in range(5):
        client.post("/signin", {"email": "ada@example.com", "password": "wrong-guess-123"})

    response = client.post("/signin", {"email": "ada@example.com", "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "http://evil.example",
        "///evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "\\\\evil.example",
    ],
)
def test_sign_in_refuses_an_open_redirect(client: Client, ada: User, target: str) -> None:
    response = client.post(
        "/signin", {"email": "ada@example.com", "password": PASSWORD, "next": target}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_sign_in_follows_a_local_next(client: Client, ada: User) -> None:
    response = client.post(
        "/signin?next=/w/ws_123/bots", {"email": "ada@example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/w/ws_123/bots"


def test_the_sign_in_page_does_not_echo_a_foreign_next(client: Client) -> None:
    response = client.get("/signin", {"next": "https://evil.example/"})

    assert response.status_code == 200
    assert b"evil.example" not in response.content


def test_pages_that_need_a_user_send_to_sign_in_with_next(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/signin?next=/"


# --- sign-out ----------------------------------------------------------------------------


def test_sign_out_is_post_only(client: Client, ada: User) -> None:
    client.force_login(ada)

    assert client.get("/signout").status_code == 405
    assert signed_in_user_id(client) == ada.id

    response = client.post("/signout")

    assert response.status_code == 302
    assert response["Location"] == "/signin"
    assert signed_in_user_id(client) is None


# --- CSRF --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/signin", {"email": "ada@example.com", "password": PASSWORD}),
        ("/signup", {"name": "Eve", "email": "eve@example.com", "password": PASSWORD}),
        ("/signout", {}),
    ],
)
def test_forms_need_the_csrf_token(ada: User, path: str, data: dict[str, str]) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ada)

    response = browser.post(path, data)

    assert response.status_code == 403
    assert b"This form has expired" in response.content
    assert signed_in_user_id(browser) == ada.id
    assert User.objects.count() == 1


def test_a_form_with_the_csrf_token_goes_through(ada: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/signin")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token is not None

    response = browser.post(
        "/signin",
        {
            "email": "ada@example.com",
            "password": PASSWORD,
            "csrfmiddlewaretoken": token[1].decode(),
        },
    )

    assert response.status_code == 302
    assert signed_in_user_id(browser) == ada.id
