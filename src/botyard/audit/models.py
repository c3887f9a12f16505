from __future__ import annotations

from typing import ClassVar

from django.db import models

from botyard.core.ids import new_id
from botyard.workspaces.models import Workspace


def new_audit_id() -> str:
    return new_id("evt")


class Action(models.TextChoices):
    ADDED = "added"
    REMOVED = "removed"
    PUBLISHED = "published"
    UPDATED = "updated"
    DELETED = "deleted"
    DOWNLOADED = "downloaded"


class TargetType(models.TextChoices):
    BOT = "bot"
    COLLABORATOR = "collaborator"
    CONFIGURATION = "configuration"


class AuditEvent(models.Model):
    """One audited change. `seq` numbers a workspace's events 1, 2, …; `hash` covers the
    event's content and the previous event's hash, so the chain shows any edit, removal or
    reordering (audit.chain)."""

    id = models.CharField(primary_key=True, max_length=32, default=new_audit_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    actor_email = models.CharField(max_length=254)
    action = models.CharField(max_length=16, choices=Action.choices)
    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=256)
    event = models.CharField(max_length=64)
    details = models.JSONField(default=dict)
    ip = models.CharField(max_length=64, blank=True, default="")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["workspace", "seq"], name="audit_seq_unique"),
        ]
        # How a search uses them: audit.selectors.audit_search.
        indexes: ClassVar = [
            models.Index(fields=["workspace", "-seq"], name="audit_ws_recent"),
            # The other filtered columns after seq, so that a search reads which events of
            # an action (or of an actor) match its other filters from the index alone.
            models.Index(
                fields=["workspace", "action", "-seq", "target_type"], name="audit_ws_action"
            ),
            models.Index(fields=["workspace", "target_type", "-seq"], name="audit_ws_target"),
            models.Index(
                fields=["workspace", "actor_email", "-seq", "action", "target_type"],
                name="audit_ws_actor",
            ),
            # A date range becomes a range of seq: occurred_at never decreases along a
            # workspace's chain (audit.services.audit_record).
            models.Index(fields=["workspace", "occurred_at", "seq"], name="audit_ws_time"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}#{self.seq} {self.event}"


class AuditChainHead(models.Model):
    """The end of a workspace's chain. Appends lock this row, so events of one workspace
    are numbered one at a time, and truncation of the newest events is detectable."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    # The newest time stamped so far, and the last event stamped earlier than that (a clock
    # set back by more than audit_record absorbs). After `ordered_after` every event's time
    # is at least every earlier event's: a date range is a range of seq there.
    occurred_at = models.DateTimeField(null=True, blank=True)
    ordered_after = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.workspace_id} head at seq {self.seq}"


class AuditActor(models.Model):
    """Each address that appears as an event's actor in a workspace, once: the email
    filter (a substring) is matched against these few rows, and the events are then found
    by the exact addresses through the audit_ws_actor index."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["workspace", "email"], name="audit_actor_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.email}"
