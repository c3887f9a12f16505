from __future__ import annotations

from django import template
from django.forms import BoundField

from botyard.core.money import format_cents

register = template.Library()


@register.filter
def money(cents: int | None, currency: str = "usd") -> str:
    return "" if cents is None else format_cents(cents, currency)


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
