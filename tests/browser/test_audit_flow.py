"""The Audits tab: filter by email, action, target and date range; page older records
with htmx; export what is filtered; verify the chain."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import Server

PASSWORD = "harbour-lantern-7093"
Screenshot = Callable[[Page, str], Path]


def api(server: Server, method: str, path: str, body: Any = None, token: str = "") -> Any:
    request = urllib.request.Request(
        server.url(f"/api/v1{path}"),
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def rows(page: Page) -> Any:
    return page.locator("#audit-rows tr:not(#more-row)")


def test_filter_page_export_and_verify(page: Page, server: Server, screenshot: Screenshot) -> None:
    owner = f"olga-{secrets.token_hex(4)}@example.test"
    helper = f"hugo-{secrets.token_hex(4)}@example.test"
    api(server, "POST", "/auth/signup", {"email": owner, "password": PASSWORD, "name": "Olga"})
    api(server, "POST", "/auth/signup", {"email": helper, "password": PASSWORD, "name": "Hugo"})
    token = api(
        server, "POST", "/auth/tokens", {"email": owner, "password": PASSWORD, "name": "t"}
    )["token"]
    helper_token = api(
        server, "POST", "/auth/tokens", {"email": helper, "password": PASSWORD, "name": "t"}
    )["token"]
    workspace = api(server, "POST", "/workspaces", {"name": "Audit Me"}, token)
    ws = workspace["id"]
    for i in range(60):  # 60 renames: more than one page of 50
        api(server, "PATCH", f"/workspaces/{ws}", {"name": f"Audit Me {i}"}, token)
    api(
        server,
        "POST",
        f"/workspaces/{ws}/invitations",
        {"email": helper, "role": "administrator"},
        token,
    )
    invitations = api(server, "GET", "/me/invitations", token=helper_token)["items"]
    assert len(invitations) == 1
    api(server, "POST", f"/workspaces/{ws}/bots", {"name": "Greeter"}, token)
    # 1 created + 60 renamed + 1 invited + 1 bot = 63 events by the owner

    page.goto("/signin")
    page.get_by_label("Email").fill(owner)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/w/{ws}/audits")
    expect(rows(page)).to_have_count(50)
    expect(rows(page).first).to_contain_text("bot.created")
    page.get_by_role("link", name="Older records").click()  # htmx appends the next page
    expect(rows(page)).to_have_count(63)
    expect(page.get_by_role("link", name="Older records")).to_have_count(0)
    expect(rows(page).last).to_contain_text("workspace.created")

    page.get_by_label("Target").select_option("bot")
    page.get_by_role("button", name="Search").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Greeter")

    page.goto(f"/w/{ws}/audits")
    page.get_by_label("Added").check()
    page.get_by_role("button", name="Search").click()
    expect(rows(page)).to_have_count(3)  # workspace created, collaborator invited, bot created
    page.get_by_label("Removed").check()
    page.get_by_role("button", name="Search").click()
    expect(rows(page)).to_have_count(3)

    page.goto(f"/w/{ws}/audits")
    page.get_by_label("Email").fill(helper.split("@")[0])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No audit records match.")).to_be_visible()
    page.get_by_label("Email").fill(owner.split("@")[0].upper())
    page.get_by_role("button", name="Search").click()
    expect(rows(page)).to_have_count(50)

    today = dt.datetime.now(dt.UTC).date()
    page.goto(f"/w/{ws}/audits")
    page.get_by_label("From").fill((today + dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No audit records match.")).to_be_visible()
    page.get_by_label("From").fill(today.isoformat())
    page.get_by_label("To").fill(today.isoformat())
    page.get_by_label("Added").check()
    page.get_by_label("Target").select_option("collaborator")
    page.get_by_role("button", name="Search").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("collaborator.invited")
    screenshot(page, "audits")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    csv_text = Path(download_info.value.path() or "").read_text()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,occurred_at,actor_email,action")
    assert len(lines) == 2 and "collaborator.invited" in lines[1]

    page.get_by_role("button", name="Verify the chain").click()
    expect(page.locator("#chain-state")).to_contain_text("Chain intact.")
    # 63 events + the export just recorded as "downloaded"
    expect(page.locator("#chain-state")).to_contain_text("All 64 records verify")
