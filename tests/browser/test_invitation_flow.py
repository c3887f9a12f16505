"""The owner invites a collaborator; the invitee follows the emailed link, signs up,
accepts, and sees the workspace with exactly the tabs of their role."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from botyard.web.tabs import TABS, tabs_for

from .conftest import DESKTOP, Server, new_context

PASSWORD = "harbour-lantern-7093"
LINK = re.compile(r"https?://\S+/invitations/accept\?token=[0-9a-f]+")

Screenshot = Callable[[Page, str], Path]


def sign_up(page: Page, name: str, email: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def tab_labels(page: Page) -> list[str]:
    return (
        page.get_by_role("navigation", name="Workspace tabs").get_by_role("link").all_inner_texts()
    )


@pytest.mark.parametrize("role", ["manager", "billing_manager", "viewer"])
def test_invitee_signs_up_accepts_and_sees_their_roles_tabs(
    browser: Browser, page: Page, server: Server, screenshot: Screenshot, role: str
) -> None:
    owner_email = f"owner-{secrets.token_hex(4)}@example.test"
    invitee_email = f"invitee-{secrets.token_hex(4)}@example.test"
    workspace_name = f"Harbour {secrets.token_hex(2)}"

    page.goto("/signup")
    sign_up(page, "Olive Owner", owner_email)
    page.goto("/workspaces/new")
    if role == "manager":
        screenshot(page, "workspace-new")
    page.get_by_label("Workspace name").fill(workspace_name)
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("navigation", name="Workspace tabs")).to_be_visible()
    assert tab_labels(page) == [tab.label for tab in TABS]  # the owner sees every tab

    page.get_by_role("link", name="Collaborators").click()
    page.get_by_label("Email address").fill(invitee_email)
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {invitee_email}.")).to_be_visible()
    pending = page.get_by_role("row").filter(has_text=invitee_email)
    expect(pending).to_contain_text("Pending")
    if role == "manager":
        screenshot(page, "collaborators")

    message = server.wait_for_email(to=invitee_email)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, body.get_content()
    link = found.group(0)
    assert link.startswith(server.base_url + "/invitations/accept?token=")

    invitee_context = new_context(browser, server, DESKTOP)
    try:
        invitee = invitee_context.new_page()
        invitee.goto(link)
        expect(invitee.get_by_role("heading", name=f"Join {workspace_name}")).to_be_visible()
        if role == "manager":
            screenshot(invitee, "invitation")
        invitee.get_by_role("link", name="Create an account").click()
        sign_up(invitee, "Ivy Invitee", invitee_email)
        # Back on the invitation, now signed in: accept it.
        expect(invitee.get_by_role("button", name="Accept invitation")).to_be_visible()
        invitee.get_by_role("button", name="Accept invitation").click()

        expect(invitee.get_by_text(f"You joined “{workspace_name}”")).to_be_visible()
        expected = [tab.label for tab in tabs_for(role)]
        assert tab_labels(invitee) == expected
        expect(invitee.locator(".sidebar-role")).to_contain_text(
            role.replace("_", " ").capitalize()
        )

        # A tab the role may not open is not shown, and its URL answers a friendly 403.
        workspace_url = invitee.url.rsplit("/", 1)[0]
        hidden = [tab for tab in TABS if tab.label not in expected]
        for tab in hidden:
            response = invitee.goto(f"{workspace_url}/{tab.key}")
            assert response is not None and response.status == 403
            expect(
                invitee.get_by_role("heading", name="Not available to your role")
            ).to_be_visible()
        if role == "billing_manager":
            screenshot(invitee, "forbidden-tab")
    finally:
        invitee_context.close()

    # The owner now sees the invitee as a collaborator with that role, and no pending row.
    page.reload()
    member = page.get_by_role("row").filter(has_text=invitee_email)
    expect(member).to_have_count(1)
    expect(member.get_by_role("combobox")).to_have_value(role)
    if role == "manager":
        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_role("heading", name="Transfer ownership")).to_be_visible()
        screenshot(page, "settings")
        page.goto("/")
        expect(page.get_by_role("link", name=workspace_name)).to_be_visible()
        screenshot(page, "home-workspaces")
