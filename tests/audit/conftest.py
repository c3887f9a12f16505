from __future__ import annotations

from typing import Any

import pytest

IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _tasks_run_immediately(settings: Any) -> None:
    """Queued work (the invitation emails) runs as soon as it is enqueued, i.e. when the
    service's transaction commits, so that a test sees the email it caused."""
    settings.TASKS = IMMEDIATE_TASKS


TAMPERING_TESTS = (
    "test_an_edited",
    "test_a_removed",
    "test_reordered",
    "test_removed_newest",
    "test_all_events_removed",
    "test_a_consistently_rewritten",
)


@pytest.fixture(autouse=True)
def _tamper_past_the_trigger(request: pytest.FixtureRequest) -> None:
    """The tampering tests play an attacker who can run DDL: on PostgreSQL they switch the
    append-only trigger off first (inside the test's transaction, so it is back on after).
    The verification must catch them regardless."""
    if not request.node.name.startswith(TAMPERING_TESTS):
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    request.getfixturevalue("db")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
