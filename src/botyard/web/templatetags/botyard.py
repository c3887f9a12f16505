from __future__ import annotations

from django import template

from botyard.core.money import format_cents

register = template.Library()


@register.filter
def money(cents: int | None, currency: str = "usd") -> str:
    return "" if cents is None else format_cents(cents, currency)
