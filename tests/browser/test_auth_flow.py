"""Sign up, sign out and sign in again through the dashboard, as a person would."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from .conftest import PHONE, Server

PASSWORD = "harbour-lantern-7093"
WRONG_CREDENTIALS = "The email address or password is incorrect."

Screenshot = Callable[[Page, str], Path]


def unique_email(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}@example.test"


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def user_menu(page: Page) -> Locator:
    return page.locator("details.user-menu")


def test_sign_up_sign_out_and_sign_in_again(
    page: Page, server: Server, screenshot: Screenshot
) -> None:
    name = "Ada Lovelace"
    email = unique_email("ada")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin(\?|$)"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "signin")

    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    screenshot(page, "signup")

    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(server.url("/"))
    expect(user_menu(page).locator("summary")).to_contain_text(name)
    screenshot(page, "home")

    user_menu(page).locator("summary").click()
    expect(user_menu(page)).to_contain_text(email)
    user_menu(page).get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(server.url("/signin"))
    expect(user_menu(page)).to_have_count(0)
    # Signed out means signed out: the dashboard sends us back to the sign-in page.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin(\?|$)"))

    sign_in(page, email.upper(), PASSWORD)
    expect(page).to_have_url(server.url("/"))
    expect(user_menu(page).locator("summary")).to_contain_text(name)


def test_wrong_password_shows_the_generic_error(page: Page, server: Server) -> None:
    email = unique_email("grace")
    server.run_cli("createuser", "--email", email, "--password", PASSWORD, "--name", "Grace")

    sign_in(page, email, PASSWORD + "-wrong")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(WRONG_CREDENTIALS)
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_have_value("")

    # An unknown account gets exactly the same answer: nobody learns who has one.
    sign_in(page, unique_email("nobody"), PASSWORD)
    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)

    sign_in(page, email, PASSWORD)
    expect(page).to_have_url(server.url("/"))
    expect(user_menu(page).locator("summary")).to_contain_text("Grace")


def test_weak_password_is_reported_next_to_the_field(
    page: Page, server: Server, screenshot: Screenshot
) -> None:
    name = "Alan Turing"
    email = unique_email("alan")

    page.goto("/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(re.compile(r"/signup$"))
    password_field = page.locator(".field", has=page.get_by_label("Password"))
    expect(password_field).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(password_field.locator(".field-error")).to_contain_text("too common")
    # Only the password is wrong: the other fields carry no error and keep what was typed.
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.get_by_label("Your name")).to_have_value(name)
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot(page, "signup-errors")

    # Nothing was created: the address cannot sign in.
    sign_in(page, email, "password")
    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)


def test_sign_in_fits_a_phone(open_page: Callable[..., Page], screenshot: Screenshot) -> None:
    page = open_page(PHONE)
    page.goto("/signin")
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the sign-in page scrolls sideways ({width}px)"
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "signin-phone")
