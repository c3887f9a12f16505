from __future__ import annotations

from typing import ClassVar

from django.db import models

from botyard.accounts.models import User
from botyard.core import clock
from botyard.core.ids import new_id
from botyard.workspaces.models import Workspace


def new_bot_id() -> str:
    return new_id("bot")


class Bot(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_bot_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_by_email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    definition = models.JSONField(default=dict)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["workspace", "created_at", "id"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"
