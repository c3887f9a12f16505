"""Money: integer cents plus a currency. Never floats."""

from __future__ import annotations

SYMBOLS = {"usd": "$"}


def format_cents(cents: int, currency: str = "usd") -> str:
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{SYMBOLS.get(currency, currency.upper() + ' ')}{whole:,}.{rest:02d}"
