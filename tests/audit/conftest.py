from __future__ import annotations

from typing import Any

import pytest

IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _tasks_run_immediately(settings: Any) -> None:
    """Queued work (the invitation emails) runs as soon as it is enqueued, i.e. when the
    service's transaction commits, so that a test sees the email it caused."""
    settings.TASKS = IMMEDIATE_TASKS
