from __future__ import annotations

from django.db.models import QuerySet

from botyard.accounts.models import AccessToken, User


def token_list_for(*, user: User) -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-id")
