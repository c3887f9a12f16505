"""Secrets never leak: personal access tokens, bot keys, invitation tokens and passwords.

One story issues each kind of secret, uses it, and tries wrong ones (a wrong password, a
token and a key never issued, a forged invitation link, a real secret of the wrong kind),
through the API and the dashboard, with every logger at DEBUG (SQL with its parameters
included). Afterwards no secret, right or wrong, is found in: the log output, any audit
event, any problem body (or any response but the one that hands it out), the task queue,
or any text or JSON column of any table (sessions decoded).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection, models
from django.test import Client
from django_tasks_db.models import DBTaskResult

from botyard.accounts.services import TOKEN_PREFIX
from botyard.audit.models import AuditEvent
from botyard.bots.services import KEY_PREFIX
from botyard.core.logging import JsonFormatter
from botyard.settings import LOGGING
from tests.helpers import PROBLEM_TYPE, ApiClient
from tests.workspaces.world import BOT_DEFINITION

pytestmark = pytest.mark.django_db

ALICE, BOB = "alice@example.com", "bob@example.com"
# Distinctive, and of characters no encoding on the way changes.
PASSWORDS = {
    "alice's password": "Alice-Sekrit-Passw0rd-Xyzzy",
    "bob's password": "Bob-Sekrit-Passw0rd-Plugh",
}
TRIED = {
    "a wrong password": "Wr0ng-Guess-Passw0rd-Quux",
    "a weak password": "Zq7!Vx",
    "a token never issued": TOKEN_PREFIX + secrets.token_urlsafe(32),
    "a key never issued": KEY_PREFIX + secrets.token_urlsafe(32),
    "a forged invitation token": secrets.token_hex(32),
}
LINK = re.compile(r"/invitations/accept\?token=([0-9a-f]+)")
PLAIN = logging.Formatter(LOGGING["formatters"]["plain"]["format"])
JSON = JsonFormatter()


@dataclass
class Story:
    client: Client
    api: ApiClient
    known: dict[str, str] = field(default_factory=lambda: {**PASSWORDS, **TRIED})
    # The responses, by step; `allowed` names the steps that hand a secret out.
    responses: list[tuple[str, Any]] = field(default_factory=list)
    allowed: dict[str, set[str]] = field(default_factory=dict)

    def step(self, name: str, response: Any, status: int) -> Any:
        assert response.status_code == status, (name, response.content)
        self.responses.append((name, response))
        return json.loads(response.content) if "json" in response["Content-Type"] else None

    def issued(self, name: str, secret: str, *, in_step: str) -> str:
        self.known[name] = secret
        self.allowed.setdefault(name, set()).add(in_step)
        return secret


def tell(api: ApiClient, client: Client, committed: Callable[..., Any]) -> Story:
    story = Story(client=client, api=api)
    step, issued = story.step, story.issued
    alice_password, bob_password = PASSWORDS.values()

    # Accounts: sign-up (once too weak), sign-in (once wrong), a token used and revoked.
    weak = {"email": ALICE, "password": TRIED["a weak password"], "name": "Alice"}
    step("weak sign-up", api.post("/api/v1/auth/signup", weak), 400)
    step(
        "sign-up",
        api.post("/api/v1/auth/signup", {"email": ALICE, "password": alice_password, "name": "Al"}),
        201,
    )
    wrong = {"email": ALICE, "password": TRIED["a wrong password"], "name": "cli"}
    step("wrong sign-in", api.post("/api/v1/auth/tokens", wrong), 401)
    answer = step(
        "token issued",
        api.post(
            "/api/v1/auth/tokens", {"email": ALICE, "password": alice_password, "name": "cli"}
        ),
        201,
    )
    token = issued("alice's token", answer["token"], in_step="token issued")
    step("token used", api.get("/api/v1/me", token=token), 200)
    step("unknown token", api.get("/api/v1/me", token=TRIED["a token never issued"]), 401)

    # A workspace with a published bot, and its key: used, and tried wrong.
    ws = step("workspace", api.post("/api/v1/workspaces", {"name": "Acme"}, token=token), 201)
    bots = f"/api/v1/workspaces/{ws['id']}/bots"
    bot = step(
        "bot", api.post(bots, {"name": "Helper", "definition": BOT_DEFINITION}, token=token), 201
    )
    step("publish", api.post(f"{bots}/{bot['id']}/publish", token=token), 200)
    answer = step(
        "key issued", api.post(f"{bots}/{bot['id']}/keys", {"name": "site"}, token=token), 201
    )
    key = issued("the bot key", answer["key"], in_step="key issued")
    messages = f"/api/v1/bots/{bot['id']}/messages"
    hello = {"user_id": "end-user-1", "text": "opening hours"}
    step("key used", api.post(messages, hello, token=key), 200)
    step("unknown key", api.post(messages, hello, token=TRIED["a key never issued"]), 401)
    step("token as a key", api.post(messages, hello, token=token), 401)
    step("key as a token", api.get("/api/v1/me", token=key), 401)

    # An invitation: queued, sent by the task as the worker runs it, tried wrong, accepted.
    invitations = f"/api/v1/workspaces/{ws['id']}/invitations"
    with committed(execute=True):  # what the transaction's commit does: queue the email
        invite = {"email": BOB, "role": "developer"}
        step("invite", api.post(invitations, invite, token=token), 201)
    for row in DBTaskResult.objects.filter(status="READY"):  # as `botyard worker` runs it
        row.task.call(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
    sent = LINK.search(mail.outbox[-1].body)
    assert sent is not None, mail.outbox[-1].body
    invitation = issued("the invitation token", sent.group(1), in_step="invitation page")
    bob = {"email": BOB, "password": bob_password, "name": "Bob"}
    step("bob signs up", api.post("/api/v1/auth/signup", bob), 201)
    answer = step(
        "bob's token issued", api.post("/api/v1/auth/tokens", {**bob, "name": "cli"}), 201
    )
    bob_token = issued("bob's token", answer["token"], in_step="bob's token issued")
    accept = "/api/v1/invitations/accept"
    forged = {"token": TRIED["a forged invitation token"]}
    step("forged invitation", api.post(accept, forged, token=bob_token), 404)
    step("not the invitee", api.post(accept, {"token": invitation}, token=token), 403)
    page = f"/invitations/accept?token={invitation}"
    step("invitation page", client.get(page), 200)  # the link itself, before signing in
    forged_page = f"/invitations/accept?token={TRIED['a forged invitation token']}"
    step("forged invitation page", client.get(forged_page), 404)
    step("accepted", api.post(accept, {"token": invitation}, token=bob_token), 200)
    step("used again", api.post(accept, {"token": invitation}, token=bob_token), 404)

    # Wrong passwords where a password confirms an action, and on the dashboard.
    transfer = {"email": BOB, "password": TRIED["a wrong password"]}
    step(
        "wrong transfer password",
        api.post(f"/api/v1/workspaces/{ws['id']}/transfer", transfer, token=token),
        403,
    )
    form = {"email": ALICE, "password": TRIED["a wrong password"]}
    step("wrong dashboard sign-in", client.post("/signin", form), 401)
    step("dashboard sign-in", client.post("/signin", {**form, "password": alice_password}), 302)
    step("dashboard page", client.get(f"/w/{ws['id']}/bots"), 200)

    # Revoked: the token no longer works.
    tokens = step("tokens", api.get("/api/v1/auth/tokens", token=token), 200)
    mine = tokens["items"][0]["id"]
    step("revoke", api.delete(f"/api/v1/auth/tokens/{mine}", token=token), 204)
    step("revoked token", api.get("/api/v1/me", token=token), 401)
    return story


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG but those botyard.settings caps, and SQL at DEBUG too, with
    its parameters, although the settings cap it at WARNING."""
    caplog.set_level(logging.DEBUG)
    for name in ("django", "django.request", "django.db.backends", "botyard"):
        caplog.set_level(logging.DEBUG, logger=name)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        yield caplog
    finally:
        connection.force_debug_cursor = debug_cursor


@pytest.fixture
def story(
    api_client: ApiClient,
    logs: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> Story:
    # The dashboard's browser is another client than the API's, or its session cookie
    # would authenticate the API calls too.
    return tell(api_client, Client(), django_capture_on_commit_callbacks)


def records(logs: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What was logged while the story was told (the fixture's setup) and since."""
    return logs.get_records("setup") + logs.get_records("call")


def found_in(text: str, story: Story) -> list[str]:
    return sorted(name for name, secret in story.known.items() if secret in text)


# --- sanity: the secrets are real, and the logs were captured ------------------------------


def test_the_story_issued_working_secrets_and_captured_the_logs(
    story: Story, logs: pytest.LogCaptureFixture
) -> None:
    assert len(story.known) == len(PASSWORDS) + len(TRIED) + 4
    assert any(story.known["the invitation token"] in m.body for m in mail.outbox)
    assert DBTaskResult.objects.filter(task_path__endswith="send_invitation_email").exists()
    names = {record.name for record in records(logs)}
    assert "django.db.backends" in names  # SQL was logged, with its parameters
    refusals = [r for r in records(logs) if r.name == "django.request"]
    assert {r.levelno for r in refusals} == {logging.WARNING}
    assert any("Unauthorized" in r.getMessage() for r in refusals)


# --- where they must not be ------------------------------------------------------------------


def test_no_secret_in_the_log_output(story: Story, logs: pytest.LogCaptureFixture) -> None:
    leaks = {}
    for record in records(logs):
        for text in (PLAIN.format(record), JSON.format(record), repr(record.args)):
            if found := found_in(text, story):
                leaks[record.name + ": " + record.getMessage()[:200]] = found
    assert not leaks


def test_no_secret_in_any_audit_event(story: Story) -> None:
    events = list(AuditEvent.objects.values())
    assert len(events) >= 6
    leaks = {
        e["event"]: found for e in events if (found := found_in(json.dumps(e, default=str), story))
    }
    assert not leaks


def test_no_secret_in_a_problem_or_any_other_response(story: Story) -> None:
    problems = [
        name for name, response in story.responses if response["Content-Type"] == PROBLEM_TYPE
    ]
    assert len(problems) >= 10
    leaks = {}
    for name, response in story.responses:
        text = response.content.decode() + json.dumps(dict(response.items()))
        found = [s for s in found_in(text, story) if name not in story.allowed.get(s, set())]
        if found:
            leaks[name] = found
    assert not leaks
    # ...and each secret handed out is in the response that hands it out.
    for secret_name, steps in story.allowed.items():
        for name, response in story.responses:
            if name in steps:
                assert story.known[secret_name] in response.content.decode()


def test_no_secret_in_the_task_queue(story: Story) -> None:
    rows = list(DBTaskResult.objects.values())
    assert rows
    for row in rows:
        assert not found_in(json.dumps(row, default=str), story), row["task_path"]


def _text_and_json_columns() -> Iterator[tuple[type[models.Model], models.Field[Any, Any]]]:
    for model in apps.get_models():
        for column in model._meta.concrete_fields:
            if isinstance(column, models.CharField | models.TextField | models.JSONField):
                yield model, column


def test_no_table_holds_a_secret_in_clear(story: Story) -> None:
    columns = list(_text_and_json_columns())
    assert {f"{m._meta.label_lower}.{f.name}" for m, f in columns} >= {
        "accounts.user.password",
        "accounts.accesstoken.digest",
        "bots.botkey.digest",
        "workspaces.invitation.token_digest",
        "django_tasks_database.dbtaskresult.args_kwargs",
        "sessions.session.session_data",
    }
    leaks = []
    for model, column in columns:
        for value in model._default_manager.values_list(column.attname, flat=True):
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            if found := found_in(text or "", story):
                leaks.append((f"{model._meta.label_lower}.{column.name}", found))
    for session in Session.objects.all():
        if found := found_in(json.dumps(session.get_decoded(), default=str), story):
            leaks.append(("sessions.session (decoded)", found))
    assert Session.objects.exists()  # the dashboard sign-in made one
    assert not leaks
