"""The per-user Community limit and the one-pending-invitation rule hold under concurrent
requests (design.md: "prove it with a concurrent test"). Real threads, real connections,
committed transactions: on PostgreSQL the row locks decide, on SQLite the write lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from botyard.core.errors import ApplicationError
from botyard.workspaces import services
from botyard.workspaces.models import Invitation, Membership, Workspace
from botyard.workspaces.roles import Role
from tests.workspaces.world import World, person

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def _race(work: Callable[[int], Any]) -> list[str]:
    """Run `work(i)` in THREADS threads released at once; "ok" or the refusal's code each."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
            outcome = "ok"
        except ApplicationError as error:
            outcome = error.code
        except Exception as error:  # reported, so the assertion shows what went wrong
            outcome = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_concurrent_creates_make_exactly_one_community_workspace() -> None:
    ada = person()

    outcomes = _race(lambda i: services.workspace_create(actor=ada.actor, name=f"W{i}"))

    assert outcomes == ["ok"] + ["workspace_limit_reached"] * (THREADS - 1)
    assert Workspace.objects.filter(owner=ada.user).count() == 1
    assert Membership.objects.filter(user=ada.user, role="owner").count() == 1


def test_concurrent_invitations_of_one_email_make_exactly_one() -> None:
    world = World(Role.OWNER)

    outcomes = _race(
        lambda i: services.invitation_create(
            actor=world.owner.actor, workspace_id=world.id, email="dup@example.com", role="viewer"
        )
    )

    assert outcomes == ["already_invited"] * (THREADS - 1) + ["ok"]
    assert Invitation.objects.filter(workspace_id=world.id, email="dup@example.com").count() == 1
