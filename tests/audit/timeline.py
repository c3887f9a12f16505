"""A workspace whose audit list holds seven known events at known moments, for the search,
export and Audits-tab tests. Every event is written by a real service under a frozen clock,
so each one is exactly what the application itself writes.

    seq  when (UTC)                   actor    action     target         event
    1    2026-05-03 09:00:00          owner    added      configuration  workspace.created
    2    2026-05-03 09:00:00          owner    added      collaborator   collaborator.invited
    3    2026-05-03 09:00:00          manager  added      collaborator   collaborator.joined
    4    2026-05-04 00:00:00          owner    updated    configuration  workspace.renamed
    5    2026-05-04 12:00:00          manager  added      bot            bot.created
    6    2026-05-04 23:59:59.999999   manager  published  bot            bot.published
    7    2026-05-05 00:00:00          owner    removed    collaborator   collaborator.removed

The owner calls the searches (the manager is removed by event 7).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from botyard.audit.models import AuditEvent
from botyard.bots import services as bot_services
from botyard.core import clock
from botyard.workspaces import services
from botyard.workspaces.roles import Role
from tests.workspaces.world import BOT_DEFINITION, Person, World

UTC = dt.UTC
CREATED_AT = dt.datetime(2026, 5, 3, 9, 0, tzinfo=UTC)
MIDNIGHT = dt.datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
NOON = dt.datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
LAST_MOMENT = dt.datetime(2026, 5, 4, 23, 59, 59, 999_999, tzinfo=UTC)
NEXT_MIDNIGHT = dt.datetime(2026, 5, 5, 0, 0, tzinfo=UTC)

MANAGER_EMAIL = "mona.manager@example.com"
NEWEST_FIRST = [7, 6, 5, 4, 3, 2, 1]


@dataclass(frozen=True)
class Timeline:
    world: World
    manager: Person
    bot_id: str
    events: dict[int, AuditEvent]  # by seq

    @property
    def owner(self) -> Person:
        return self.world.owner

    def ids(self, seqs: list[int]) -> list[str]:
        return [self.events[seq].id for seq in seqs]


def build_timeline(
    *,
    name: str = "Acme",
    renamed: str = "Acme Corp",
    bot_name: str = "Helper",
    manager_email: str = MANAGER_EMAIL,
) -> Timeline:
    with clock.frozen(CREATED_AT):
        world = World(Role.OWNER, name=name)
        manager = world.add(Role.MANAGER, email=manager_email, name="Mona Manager")
    owner = world.owner
    with clock.frozen(MIDNIGHT):
        services.workspace_rename(actor=owner.actor, workspace_id=world.id, name=renamed)
    with clock.frozen(NOON):
        bot = bot_services.bot_create(
            actor=manager.actor, workspace_id=world.id, name=bot_name, definition=BOT_DEFINITION
        )
    with clock.frozen(LAST_MOMENT):
        bot_services.bot_publish(actor=manager.actor, workspace_id=world.id, bot_id=bot.id)
    with clock.frozen(NEXT_MIDNIGHT):
        services.collaborator_remove(actor=owner.actor, workspace_id=world.id, user_id=manager.id)
    events = {e.seq: e for e in AuditEvent.objects.filter(workspace_id=world.id)}
    assert sorted(events) == [1, 2, 3, 4, 5, 6, 7]
    assert [events[s].event for s in sorted(events)] == [
        "workspace.created",
        "collaborator.invited",
        "collaborator.joined",
        "workspace.renamed",
        "bot.created",
        "bot.published",
        "collaborator.removed",
    ]
    return Timeline(world=world, manager=manager, bot_id=bot.id, events=events)
