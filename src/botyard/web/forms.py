"""How a service's refusal reaches a dashboard form: next to the field it names."""

from __future__ import annotations

from django import forms

from botyard.core.errors import ApplicationError


def apply_error(form: forms.Form, error: ApplicationError) -> None:
    placed = False
    for item in error.errors:
        field = item.get("field")
        if field in form.fields:
            form.add_error(field, item["message"])
            placed = True
    if not placed:
        form.add_error(None, error.detail)
