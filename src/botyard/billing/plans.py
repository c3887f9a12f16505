"""The plan catalogue of product.md §6, as data. Money in integer cents (USD)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class PlanId(StrEnum):
    COMMUNITY = "community"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True)
class Plan:
    id: PlanId
    name: str
    price_cents: int
    max_owned_per_user: int | None  # None: unlimited
    bot_limit: int
    messages_included: int
    # Cents per message beyond the included ones; None means the limit is hard.
    overage_cents_per_message: Decimal | None
    self_serve: bool
    currency: str = "usd"


CATALOGUE: dict[PlanId, Plan] = {
    PlanId.COMMUNITY: Plan(
        id=PlanId.COMMUNITY,
        name="Community",
        price_cents=0,
        max_owned_per_user=1,
        bot_limit=5,
        messages_included=2_000,
        overage_cents_per_message=None,
        self_serve=True,
    ),
    PlanId.BUSINESS: Plan(
        id=PlanId.BUSINESS,
        name="Business",
        price_cents=8_900,
        max_owned_per_user=None,
        bot_limit=10,
        messages_included=25_000,
        overage_cents_per_message=Decimal("0.5"),  # $5.00 per 1,000 messages
        self_serve=True,
    ),
    # Enterprise limits and price are set per workspace by staff; these are the defaults
    # a workspace starts from when staff move it to Enterprise.
    PlanId.ENTERPRISE: Plan(
        id=PlanId.ENTERPRISE,
        name="Enterprise",
        price_cents=50_000,
        max_owned_per_user=None,
        bot_limit=50,
        messages_included=250_000,
        overage_cents_per_message=Decimal("0.4"),
        self_serve=False,
    ),
}


def plan(plan_id: str) -> Plan:
    return CATALOGUE[PlanId(plan_id)]
