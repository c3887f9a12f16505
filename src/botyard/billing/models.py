from __future__ import annotations

from django.db import models

from botyard.core import clock
from botyard.workspaces.models import Workspace


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
