"""Platform staff's view of workspaces (product.md §1): the plan and the Enterprise terms
are set here. Workspaces are created, transferred and deleted only through the product's
own services, which keep memberships, tombstones and the audit trail right."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from botyard.audit.models import Action, TargetType
from botyard.audit.services import audit_record
from botyard.core.actor import Actor
from botyard.core.request import client_address
from botyard.workspaces.models import Workspace, WorkspaceTombstone

TERMS = ("plan", "custom_bot_limit", "custom_message_limit", "custom_price_cents", "budget_cents")


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "plan", "past_due")
    list_filter = ("plan", "past_due")
    search_fields = ("id", "name", "owner__email")
    fields = (
        "id",
        "name",
        "owner",
        "created_at",
        "plan",
        "plan_started_at",
        "pending_plan",
        "custom_bot_limit",
        "custom_message_limit",
        "custom_price_cents",
        "budget_cents",
        "past_due",
    )
    readonly_fields = ("id", "name", "owner", "created_at", "pending_plan", "past_due")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Workspace, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        changed = [name for name in TERMS if name in form.changed_data]
        if changed:  # the admin saves inside a transaction, as audit_record requires
            audit_record(
                workspace=obj,
                actor=Actor(user=request.user, address=client_address(request)),  # type: ignore[arg-type]
                action=Action.UPDATED,
                target_type=TargetType.CONFIGURATION,
                target_id=obj.id,
                target_label=obj.name,
                event="billing.terms_changed",
                details={
                    "before": {name: form.initial.get(name) for name in changed},
                    "after": {name: getattr(obj, name) for name in changed},
                    "by": "platform staff",
                },
            )


@admin.register(WorkspaceTombstone)
class WorkspaceTombstoneAdmin(admin.ModelAdmin):
    list_display = ("workspace_id", "name", "owner_email", "deleted_at")
    search_fields = ("workspace_id", "name", "owner_email")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
