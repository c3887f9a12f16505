"""A developer's path through the Bots tab: create a bot, edit its definition (seeing a
field error first), publish, create a key, send a message with it, and see the message in
the bot's daily chart."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Server

PASSWORD = "harbour-lantern-7093"

Screenshot = Callable[[Page, str], Path]

DEFINITION = {
    "format": 1,
    "greeting": "Hi! Ask me about opening hours.",
    "fallback": "Sorry, I can only talk about opening hours.",
    "intents": [
        {
            "name": "hours",
            "examples": ["when are you open", "opening hours"],
            "reply": "We are open 9:00 to 17:00, Monday to Friday.",
        }
    ],
}


def send_message(server: Server, bot_id: str, key: str, text: str) -> dict[str, object]:
    request = urllib.request.Request(
        server.url(f"/api/v1/bots/{bot_id}/messages"),
        data=json.dumps({"user_id": "visitor-1", "text": text}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 200
        return dict(json.load(response))


def test_create_edit_publish_send_and_see_it_in_the_chart(
    page: Page, server: Server, screenshot: Screenshot
) -> None:
    page.goto("/signup")
    page.get_by_label("Your name").fill("Dana Developer")
    page.get_by_label("Email").fill(f"dana-{secrets.token_hex(4)}@example.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.goto("/workspaces/new")
    page.get_by_label("Workspace name").fill("Opening Hours Inc")
    page.get_by_role("button", name="Create workspace").click()

    expect(page.get_by_role("heading", name="Bots")).to_be_visible()
    expect(page.get_by_text("No bots in this workspace yet.")).to_be_visible()
    screenshot(page, "bots-empty")
    page.get_by_label("Bot name").fill("Front desk")
    page.get_by_label("Description").first.fill("Answers questions about opening hours.")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
    bot_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert bot_id.startswith("bot_")

    # A definition with a mistake: the error names the field, next to the textarea.
    broken = {**DEFINITION, "intents": [{**DEFINITION["intents"][0], "examples": []}]}  # type: ignore[dict-item]
    page.get_by_label("Definition (format 1)").fill(json.dumps(broken, indent=2))
    page.get_by_role("button", name="Save draft").click()
    error = page.locator(".field-invalid .field-error")
    expect(error).to_contain_text("intents[0].examples: Give at least one example phrase.")
    screenshot(page, "bot-definition-error")

    page.get_by_label("Definition (format 1)").fill(json.dumps(DEFINITION, indent=2))
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    page.get_by_role("button", name="Publish draft").click()
    expect(page.get_by_text("Published version 1.")).to_be_visible()
    expect(page.get_by_text("Published v1")).to_be_visible()

    page.get_by_label("Key name").fill("website")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key").inner_text().strip()
    assert secret.startswith("byk_")

    answer = send_message(server, bot_id, secret, "When are you open?")
    assert answer["reply"] == {"text": "We are open 9:00 to 17:00, Monday to Friday."}
    assert answer["usage"] == {"used": 1, "limit": 2000}

    page.reload()  # the secret was shown once; a reload neither shows it again nor adds a key
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.get_by_text("1 message · peak 1 a day")).to_be_visible()
    bars = page.locator("rect.chart-bar")
    expect(bars).to_have_count(30)
    tallest = bars.last
    assert float(tallest.get_attribute("height") or 0) > 0
    expect(tallest.locator("title")).to_contain_text("1 messages, 1 conversations")
    expect(page.get_by_role("row").filter(has_text="website")).to_contain_text("byk_")
    screenshot(page, "bot")

    page.get_by_role("link", name="Bots").first.click()
    row = page.get_by_role("row").filter(has_text="Front desk")
    expect(row).to_contain_text("v1")
    screenshot(page, "bots")
