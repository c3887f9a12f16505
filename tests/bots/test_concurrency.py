"""The plan's bot limit is exact under concurrency (product.md §4): with room for k more
bots, 20 simultaneous creates (or imports) make exactly k. Real threads, each with its own
database connection and its own HTTP client, released together by a barrier; committed
transactions, so that on PostgreSQL the workspace row lock decides and on SQLite the write
lock (IMMEDIATE transactions)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from botyard.audit.models import AuditEvent
from botyard.audit.services import audit_verify
from botyard.bots import services
from botyard.bots.models import Bot, BotVersion
from botyard.workspaces import services as workspace_services
from botyard.workspaces.roles import Role
from tests.billing.world import race
from tests.helpers import ApiClient
from tests.workspaces.world import BOT_DEFINITION, World

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20
COMMUNITY_LIMIT = 5
ALREADY = 2
ROOM = COMMUNITY_LIMIT - ALREADY


def _race(request: Callable[[ApiClient, int], Any]) -> list[tuple[int, str | None]]:
    """`request(client, i)` from THREADS threads at once; (status, code) of each answer."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        client = ApiClient(Client())
        try:
            barrier.wait(timeout=30)
            response = request(client, i)
            data = json.loads(response.content) if response.content else {}
            outcome: tuple[int, str | None] = (response.status_code, data.get("code"))
        except Exception as error:  # reported, so the assertion shows what went wrong
            outcome = (-1, f"{type(error).__name__}: {error}")
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return outcomes


def _world_with_room() -> World:
    world = World(Role.DEVELOPER)
    for n in range(ALREADY):
        services.bot_create(actor=world.owner.actor, workspace_id=world.id, name=f"Old {n}")
    # The token's first use writes its last-used time; do it now, not in the race.
    ApiClient(Client()).get(f"/api/v1/workspaces/{world.id}", token=world.caller.token)
    return world


def _assert_exactly_room_made(world: World, outcomes: list[tuple[int, str | None]],
                              event: str) -> None:  # fmt: skip
    assert Counter(outcomes) == Counter(
        {(201, None): ROOM, (409, "bot_limit_reached"): THREADS - ROOM}
    ), outcomes
    assert Bot.objects.filter(workspace_id=world.id).count() == COMMUNITY_LIMIT
    made = Bot.objects.filter(workspace_id=world.id, created_by=world.caller.user)
    assert made.count() == ROOM
    # One audit event per bot made, none for a refusal, and the chain is unbroken.
    racers = AuditEvent.objects.filter(
        workspace_id=world.id, actor_email=world.caller.email, target_type="bot"
    )
    assert list(racers.values_list("event", flat=True)) == [event] * ROOM
    assert audit_verify(workspace_id=world.id).ok


def test_concurrent_creates_make_exactly_the_bots_that_fit() -> None:
    world = _world_with_room()
    url = f"/api/v1/workspaces/{world.id}/bots"

    outcomes = _race(
        lambda client, i: client.post(url, {"name": f"Racer {i}"}, token=world.caller.token)
    )

    _assert_exactly_room_made(world, outcomes, "bot.created")


def test_concurrent_imports_make_exactly_the_bots_that_fit() -> None:
    source = World(Role.OWNER, name="Source")
    bot = services.bot_create(
        actor=source.owner.actor, workspace_id=source.id, name="Shop", definition=BOT_DEFINITION
    )
    services.bot_publish(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id)
    document = services.bot_export(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id)
    world = _world_with_room()
    url = f"/api/v1/workspaces/{world.id}/bots/import"

    outcomes = _race(lambda client, i: client.post(url, document, token=world.caller.token))

    _assert_exactly_room_made(world, outcomes, "bot.imported")
    imported = Bot.objects.filter(workspace_id=world.id, created_by=world.caller.user)
    assert BotVersion.objects.filter(bot__in=imported).count() == ROOM  # one version each


def test_concurrent_creates_and_imports_share_the_limit() -> None:
    source = World(Role.OWNER, name="Source")
    bot = services.bot_create(actor=source.owner.actor, workspace_id=source.id, name="Shop")
    document = services.bot_export(actor=source.owner.actor, workspace_id=source.id, bot_id=bot.id)
    world = _world_with_room()
    bots = f"/api/v1/workspaces/{world.id}/bots"

    def create_or_import(client: ApiClient, i: int) -> Any:
        if i % 2:
            return client.post(bots + "/import", document, token=world.caller.token)
        return client.post(bots, {"name": f"Racer {i}"}, token=world.caller.token)

    outcomes = _race(create_or_import)

    assert Counter(outcomes) == Counter(
        {(201, None): ROOM, (409, "bot_limit_reached"): THREADS - ROOM}
    ), outcomes
    assert Bot.objects.filter(workspace_id=world.id).count() == COMMUNITY_LIMIT


MIXED_ROUNDS = 12


def test_mixed_changes_of_one_workspace_never_deadlock() -> None:
    """Edits of a bot (which lock the bot row), creates and deletes (which lock the
    workspace row) and invitations, all auditing into the one chain head, from threads at
    once. A lock of the workspace row that conflicted with the foreign-key checks of a
    transaction holding the chain head deadlocked here on PostgreSQL (found by the soak
    benchmark); the locks are FOR NO KEY UPDATE since."""
    world = World(Role.DEVELOPER)
    owner = world.owner.actor
    edited = services.bot_create(actor=owner, workspace_id=world.id, name="Edited")

    def work(i: int) -> int:
        for n in range(MIXED_ROUNDS):
            kind = (i + n) % 3
            if kind == 0:
                services.bot_update(
                    actor=owner, workspace_id=world.id, bot_id=edited.id, description=f"{i}-{n}"
                )
            elif kind == 1:
                made = services.bot_create(actor=owner, workspace_id=world.id, name=f"B {i}-{n}")
                services.bot_delete(actor=owner, workspace_id=world.id, bot_id=made.id)
            else:
                invitation = workspace_services.invitation_create(
                    actor=owner, workspace_id=world.id, email=f"g{i}-{n}@example.test",
                    role="viewer",
                )  # fmt: skip
                workspace_services.invitation_revoke(
                    actor=owner, workspace_id=world.id, invitation_id=invitation.id
                )
        return MIXED_ROUNDS

    results, failures = race(6, work)

    assert failures == []
    assert results == [MIXED_ROUNDS] * 6
    assert audit_verify(workspace_id=world.id).ok
