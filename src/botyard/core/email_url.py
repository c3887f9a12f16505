"""Parse EMAIL_URL into Django email settings.

Written here because the common parser drops the leading slash of `file:///abs/path`
and does not know `smtp+tls`; the format is small enough to own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtp+tls": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}


def parse_email_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in BACKENDS:
        raise ValueError(f"EMAIL_URL scheme {scheme!r} is not one of {sorted(BACKENDS)}")
    settings: dict[str, Any] = {"EMAIL_BACKEND": BACKENDS[scheme]}
    if scheme == "file":
        settings["EMAIL_FILE_PATH"] = unquote(parts.path) or "./var/mail"
    elif scheme.startswith("smtp"):
        settings.update(
            EMAIL_HOST=parts.hostname or "localhost",
            EMAIL_PORT=parts.port or (465 if scheme == "smtps" else 25),
            EMAIL_HOST_USER=unquote(parts.username or ""),
            EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
            EMAIL_USE_TLS=scheme == "smtp+tls",
            EMAIL_USE_SSL=scheme == "smtps",
            EMAIL_TIMEOUT=30,
        )
    return settings
