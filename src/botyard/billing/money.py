"""Bill arithmetic: exact Decimal cents, rounded once, half up, at the end."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from botyard.billing.plans import plan
from botyard.billing.usage import included_messages, price_cents
from botyard.workspaces.models import Workspace

OVERAGE_UNIT = 1_000  # the overage is priced per 1,000 messages


def overage_messages(workspace: Workspace, used: int) -> int:
    if plan(workspace.plan).overage_cents_per_message is None:
        return 0
    return max(0, used - included_messages(workspace))


def overage_cents(workspace: Workspace, used: int) -> int:
    rate = plan(workspace.plan).overage_cents_per_message
    if rate is None:
        return 0
    exact = Decimal(overage_messages(workspace, used)) * rate
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def overage_unit_price_cents(workspace: Workspace) -> int:
    rate = plan(workspace.plan).overage_cents_per_message or Decimal(0)
    return int(rate * OVERAGE_UNIT)


def bill_cents(workspace: Workspace, used: int) -> int:
    return price_cents(workspace) + overage_cents(workspace, used)
