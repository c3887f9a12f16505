"""On PostgreSQL the audit table itself refuses UPDATE and DELETE, except while the
event's own workspace is being erased."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from botyard.audit.models import AuditEvent
from botyard.core.actor import Actor
from botyard.workspaces import services as ws
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only"
    ),
]


def _workspace_with_events() -> tuple[Actor, str]:
    owner = Actor(factories.user(email="owner@example.com"), "127.0.0.1")
    workspace = ws.workspace_create(actor=owner, name="Acme")
    ws.workspace_rename(actor=owner, workspace_id=workspace.id, name="Acme Corp")
    return owner, workspace.id


def test_update_is_refused() -> None:
    _, workspace_id = _workspace_with_events()
    event = AuditEvent.objects.filter(workspace_id=workspace_id).first()
    assert event is not None
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_email="mallory@example.com")
    event.refresh_from_db()
    assert event.actor_email == "owner@example.com"


def test_delete_is_refused() -> None:
    _, workspace_id = _workspace_with_events()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(workspace_id=workspace_id).delete()
    assert AuditEvent.objects.filter(workspace_id=workspace_id).count() == 2


def test_the_erasure_of_another_workspace_does_not_unlock_this_one() -> None:
    _, workspace_id = _workspace_with_events()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('botyard.erasing_workspace', 'ws_other', true)")
        AuditEvent.objects.filter(workspace_id=workspace_id).delete()
    assert AuditEvent.objects.filter(workspace_id=workspace_id).count() == 2


def test_workspace_deletion_erases_its_events() -> None:
    owner, workspace_id = _workspace_with_events()
    ws.workspace_delete(actor=owner, workspace_id=workspace_id, confirm="Acme Corp")
    assert not AuditEvent.objects.filter(workspace_id=workspace_id).exists()
