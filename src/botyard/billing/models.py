from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from botyard.core import clock
from botyard.core.ids import new_id
from botyard.workspaces.models import Workspace


def new_invoice_id() -> str:
    return new_id("inv")


class PaymentMethod(models.Model):
    """A card as the gateway knows it: its token and what may be shown. Never a number."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="payment_method"
    )
    gateway_token = models.CharField(max_length=255)
    brand = models.CharField(max_length=32)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    added_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"


class InvoiceStatus(models.TextChoices):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class Invoice(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_invoice_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=32, unique=True)
    plan = models.CharField(max_length=16)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    currency = models.CharField(max_length=3, default="usd")
    total_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=InvoiceStatus.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            # Closing a period twice can never issue a second invoice.
            models.UniqueConstraint(
                fields=["workspace", "period_start"], name="invoice_per_period"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["workspace", "issued_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    # Cents per `unit_size` items: the overage is priced per 1,000 messages.
    unit_price_cents = models.PositiveIntegerField()
    unit_size = models.PositiveIntegerField(default=1)
    amount_cents = models.PositiveIntegerField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.description}"


class ChargeAttempt(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="charges")
    number = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=100, unique=True)
    charge_id = models.CharField(max_length=64)
    succeeded = models.BooleanField()
    decline_code = models.CharField(max_length=64, blank=True, default="")
    attempted_at = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["invoice", "number"], name="charge_attempt_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="charge_attempt_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} attempt {self.number}"
