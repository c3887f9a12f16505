"""How many incoming messages a workspace may take this period, and why it stops."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from botyard.billing.plans import plan
from botyard.workspaces.models import Workspace


@dataclass(frozen=True)
class MessageCap:
    included: int  # shown as the "limit" to clients
    cap: int | None  # the count at which messages are refused; None: never
    reason: str  # the error code when the cap is reached


def included_messages(workspace: Workspace) -> int:
    if workspace.custom_message_limit is not None:
        return workspace.custom_message_limit
    return plan(workspace.plan).messages_included


def price_cents(workspace: Workspace) -> int:
    if workspace.custom_price_cents is not None:
        return workspace.custom_price_cents
    return plan(workspace.plan).price_cents


def message_cap(workspace: Workspace) -> MessageCap:
    included = included_messages(workspace)
    rate = plan(workspace.plan).overage_cents_per_message
    if rate is None:
        return MessageCap(included, included, "message_limit_reached")
    budget = workspace.budget_cents
    if budget is None:
        return MessageCap(included, None, "budget_reached")
    # The most overage messages whose charge keeps the bill within the budget.
    room = Decimal(max(0, budget - price_cents(workspace)))
    extra = int((room / rate).to_integral_value(rounding=ROUND_FLOOR))
    return MessageCap(included, included + extra, "budget_reached")
