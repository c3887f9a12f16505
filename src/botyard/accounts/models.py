from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from botyard.core import clock
from botyard.core.ids import new_id


def new_user_id() -> str:
    return new_id("usr")


def new_token_id() -> str:
    return new_id("tok")


def normalize_email(email: str) -> str:
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=normalize_email(username or ""))


class User(AbstractBaseUser, PermissionsMixin):
    id = models.CharField(primary_key=True, max_length=32, default=new_user_id, editable=False)
    # Stored lower-cased; the functional unique index makes the rule hold in the database too.
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=64)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=clock.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name"]

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email


class AccessToken(models.Model):
    """A personal access token. Only the SHA-256 digest of the secret is kept: the secret
    has 256 bits of entropy, so a slow hash would add cost without adding safety."""

    id = models.CharField(primary_key=True, max_length=32, default=new_token_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class FailedAttempt(models.Model):
    """One failed sign-in, under each throttle key it counts against. Kept in the database
    so that every server process sees the same counts."""

    key = models.CharField(max_length=300)
    at = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [models.Index(fields=["key", "at"])]

    def __str__(self) -> str:
        return f"{self.key} at {self.at.isoformat()}"
