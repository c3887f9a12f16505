"""The workspace tabs of product.md §8, each gated by one permission of the roles table."""

from __future__ import annotations

from dataclasses import dataclass

from botyard.workspaces.roles import Permission, has_permission


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url_name: str
    permission: Permission


TABS: tuple[Tab, ...] = (
    Tab("bots", "Bots", "web:bots", Permission.BOT_VIEW),
    Tab("collaborators", "Collaborators", "web:collaborators", Permission.WORKSPACE_VIEW),
    Tab("billing", "Billing", "web:billing", Permission.BILLING_VIEW),
    Tab("audits", "Audits", "web:audits", Permission.AUDIT_VIEW),
    Tab("settings", "Settings", "web:settings", Permission.WORKSPACE_VIEW),
)
TAB_BY_KEY = {tab.key: tab for tab in TABS}


def tabs_for(role: str) -> list[Tab]:
    return [tab for tab in TABS if has_permission(role, tab.permission)]
