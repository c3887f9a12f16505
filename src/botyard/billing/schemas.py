from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from botyard.billing.services import MAX_BUDGET_CENTS
from botyard.core.schemas import Money


class PlanOut(Schema):
    id: str
    name: str
    price: Money


class PeriodOut(Schema):
    start: dt.datetime
    end: dt.datetime


class MessagesOut(Schema):
    used: int
    limit: int
    status: str


class CardOut(Schema):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class BillingOut(Schema):
    plan: PlanOut
    period: PeriodOut
    next_payment_date: dt.date
    current_bill: Money
    messages: MessagesOut
    budget: Money | None
    payment_method: CardOut | None
    pending_plan: str | None
    past_due: bool


class PlanIn(Schema):
    plan: str = Field(max_length=64)


class PaymentMethodIn(Schema):
    token: str = Field(max_length=255)


class BudgetIn(Schema):
    amount: int | None = Field(ge=0, le=MAX_BUDGET_CENTS)


class UnitPriceOut(Money):
    per: int


class InvoiceLineOut(Schema):
    description: str
    quantity: int
    unit_price: UnitPriceOut
    amount: Money


class InvoiceOut(Schema):
    id: str
    number: str
    period: PeriodOut
    total: Money
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    issued_at: dt.datetime


class InvoiceDetailOut(InvoiceOut):
    lines: list[InvoiceLineOut]


class InvoiceListOut(Schema):
    items: list[InvoiceOut]
    next_cursor: str | None
