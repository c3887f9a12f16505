"""audit_record's bookkeeping for search: time never goes backwards along a chain, and
each actor address is listed once in the directory the email filter searches."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.db import connection, transaction

from botyard.audit.models import Action, AuditActor, AuditChainHead, AuditEvent, TargetType
from botyard.audit.services import audit_record, audit_verify
from botyard.core import clock
from botyard.workspaces.roles import Role
from tests.workspaces.world import World

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def record(world: World, email: str, moment: dt.datetime) -> AuditEvent:
    with clock.frozen(moment), transaction.atomic():
        return audit_record(
            workspace=world.workspace, actor=None, actor_email=email, action=Action.UPDATED,
            target_type=TargetType.CONFIGURATION, target_id=world.id, target_label="Acme",
            event="test.event",
        )  # fmt: skip


@pytest.fixture
def world() -> World:
    with clock.frozen(T0 - dt.timedelta(days=1)):
        return World(Role.OWNER, name="Acme")


def test_an_event_is_stamped_with_the_clock(world: World) -> None:
    event = record(world, "ada@example.com", T0)

    assert event.occurred_at == T0
    assert AuditChainHead.objects.get(workspace=world.workspace).occurred_at == T0


def head(world: World) -> AuditChainHead:
    return AuditChainHead.objects.get(workspace=world.workspace)


def test_a_clock_set_back_a_little_stamps_the_newest_time_so_far(world: World) -> None:
    first = record(world, "ada@example.com", T0)
    behind = record(world, "ada@example.com", T0 - dt.timedelta(minutes=5))
    later = record(world, "ada@example.com", T0 + dt.timedelta(minutes=1))

    assert [e.occurred_at for e in (first, behind, later)] == [
        T0, T0, T0 + dt.timedelta(minutes=1),
    ]  # fmt: skip
    stored = AuditEvent.objects.filter(workspace=world.workspace).order_by("seq")
    times = [e.occurred_at for e in stored]
    assert times == sorted(times)
    assert (head(world).occurred_at, head(world).ordered_after) == (later.occurred_at, 0)
    assert audit_verify(workspace_id=world.id).ok  # the hash covers the stamped time


def test_a_clock_set_back_further_keeps_its_time_and_marks_the_chain(world: World) -> None:
    first = record(world, "ada@example.com", T0)
    behind = record(world, "ada@example.com", T0 - dt.timedelta(minutes=5, seconds=1))
    still = record(world, "ada@example.com", T0 - dt.timedelta(minutes=1))  # absorbed
    caught_up = record(world, "ada@example.com", T0 + dt.timedelta(seconds=1))

    assert [e.occurred_at for e in (first, behind, still, caught_up)] == [
        T0, T0 - dt.timedelta(minutes=5, seconds=1), T0, T0 + dt.timedelta(seconds=1),
    ]  # fmt: skip
    # The newest time is kept; the chain is in time order after the event set back.
    assert (head(world).occurred_at, head(world).ordered_after) == (
        caught_up.occurred_at, behind.seq,
    )  # fmt: skip
    assert audit_verify(workspace_id=world.id).ok


def test_the_migration_finds_where_a_chain_is_last_out_of_order(world: World) -> None:
    """Migration 0005's statement, run on chains written now, finds what audit_record
    marked (and 0 for a chain in order)."""
    with clock.frozen(T0 - dt.timedelta(days=1)):
        other = World(Role.OWNER, name="Other")
    for n, minutes in enumerate([0, -30, 10, -20, 20, 21]):
        record(world, "ada@example.com", T0 + dt.timedelta(minutes=minutes))
        record(other, "ada@example.com", T0 + dt.timedelta(minutes=10 * n))
    marked = {h.workspace_id: h.ordered_after for h in AuditChainHead.objects.all()}
    assert marked[world.id] > 0 and marked[other.id] == 0
    AuditChainHead.objects.update(ordered_after=0)

    migration = importlib.import_module("botyard.audit.migrations.0005_chain_order_marker")
    with connection.cursor() as cursor:
        cursor.execute(migration.FILL_ORDERED_AFTER)

    assert {h.workspace_id: h.ordered_after for h in AuditChainHead.objects.all()} == marked


def test_each_actor_is_listed_once_per_workspace(world: World) -> None:
    other = World(Role.OWNER, name="Other")
    for email in ["ada@example.com", "grace@example.com", "ada@example.com"]:
        record(world, email, T0)
    record(other, "ada@example.com", T0)

    def listed(owner: World) -> list[str]:
        entries = AuditActor.objects.filter(workspace=owner.workspace)
        return sorted(entries.values_list("email", flat=True))

    assert listed(world) == sorted({"ada@example.com", "grace@example.com", world.owner.email})
    assert listed(other) == sorted({"ada@example.com", other.owner.email})
    # Every event's actor is in the directory: nothing the email filter could miss.
    actors = set(AuditEvent.objects.values_list("workspace_id", "actor_email"))
    assert actors == set(AuditActor.objects.values_list("workspace_id", "email"))
