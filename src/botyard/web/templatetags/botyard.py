from __future__ import annotations

import re

from django import template
from django.forms import BoundField
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from botyard.core.money import format_cents

register = template.Library()


@register.filter
def money(cents: int | None, currency: str = "usd") -> str:
    return "" if cents is None else format_cents(cents, currency)


_BREAK_AFTER = re.compile(r"([@._-])")


@register.filter
def breakable(value: object) -> SafeString:
    """The text escaped, with a line-break opportunity (<wbr>) after each @ . _ and -: a
    long address or event name in a narrow table cell wraps there, not mid-word."""
    return mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", str(escape(value))))  # noqa: S308 - escaped


@register.filter
def accessible(field: BoundField) -> str:
    """Render a form field's widget with its error wired up for assistive technology, and
    keyboard focus on the first field that has an error."""
    attrs: dict[str, str | bool] = {}
    if field.errors:
        attrs["aria-invalid"] = "true"
        attrs["aria-describedby"] = f"{field.id_for_label}-error"
        first_with_error = next((name for name in field.form.errors if name != "__all__"), None)
        if first_with_error == field.name:
            attrs["autofocus"] = True
    elif field.form.is_bound:
        # Unbound forms may autofocus their first field; a re-shown form focuses its error.
        field.field.widget.attrs.pop("autofocus", None)
    return field.as_widget(attrs=attrs)
