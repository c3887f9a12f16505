"""`botyard demo`'s sample data (issue "Hardening", the demo): a lived-in product, made
through the real services."""

from __future__ import annotations

import pytest

from botyard.audit.models import AuditChainHead, AuditEvent
from botyard.audit.services import audit_verify
from botyard.billing.models import Invoice
from botyard.bots.models import Bot, BotVersion
from botyard.demo import load_demo
from botyard.messaging.models import Message
from botyard.workspaces.models import Membership, Workspace
from botyard.workspaces.roles import Role

pytestmark = pytest.mark.django_db


def test_the_demo_is_lived_in_and_its_trails_are_intact() -> None:
    logins = load_demo()

    assert len(logins.accounts) == 6
    assert {m.role for m in Membership.objects.all()} == {role.value for role in Role}
    assert len(set(Workspace.objects.values_list("plan", flat=True))) >= 2
    assert Bot.objects.filter(published_version__gte=2).exists()
    assert BotVersion.objects.count() >= 3
    days = {m.received_at.date() for m in Message.objects.all()}
    assert len(days) >= 28  # a month of messages
    assert Invoice.objects.filter(status="paid").count() >= 2
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "added", "updated", "published", "downloaded",
    }  # fmt: skip
    for head in AuditChainHead.objects.all():
        assert audit_verify(workspace_id=head.workspace_id).ok
        # Written in time order, so that date searches take their fast path.
        assert head.ordered_after == 0, head.workspace_id
