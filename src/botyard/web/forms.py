"""How a service's refusal reaches a dashboard form: next to the field it names."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms

from botyard.billing.services import MAX_BUDGET_CENTS
from botyard.core.errors import ApplicationError


def _form_field(form: forms.Form, path: str) -> str | None:
    """The form field an error path belongs to: `definition.intents[0].name` → definition."""
    if path in form.fields:
        return path
    head = path.split(".", 1)[0].split("[", 1)[0]
    return head if head in form.fields else None


def apply_error(form: forms.Form, error: ApplicationError) -> None:
    placed = False
    for item in error.errors:
        path = item.get("field", "")
        field = _form_field(form, path)
        if field is not None:
            where = "" if path == field else f"{path.removeprefix(field).lstrip('.')}: "
            form.add_error(field, f"{where}{item['message']}")
            placed = True
    if not placed:
        form.add_error(None, error.detail)


ROLE_CHOICES = [
    ("viewer", "Viewer"),
    ("billing_manager", "Billing manager"),
    ("developer", "Developer"),
    ("manager", "Manager"),
    ("administrator", "Administrator"),
]

TEST_CARD_CHOICES = [
    ("pm_card_visa", "Visa •••• 4242 (succeeds)"),
    ("pm_card_mastercard", "Mastercard •••• 4444 (succeeds)"),
    ("pm_card_amex", "American Express •••• 8431 (succeeds)"),
    ("pm_card_visa_chargeDeclined", "Visa •••• 0341 (attaches, charges fail)"),
    ("pm_card_chargeDeclined", "Visa •••• 0002 (declined)"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Visa •••• 9995 (insufficient funds)"),
]


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Workspace name")
    plan = forms.ChoiceField(
        choices=[
            ("community", "Community — free, 5 bots"),
            ("business", "Business — $89/month, 10 bots"),
        ],
        initial="community",
        widget=forms.RadioSelect,
    )
    payment_method = forms.ChoiceField(
        choices=[("", "— none —"), *TEST_CARD_CHOICES],
        required=False,
        label="Payment method (needed for Business)",
        help_text="This server uses the offline test gateway: pick a Stripe test card.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="developer")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200, label="Workspace name")


class DeleteForm(forms.Form):
    confirm = forms.CharField(max_length=200, label="Type the workspace name to confirm")


class TransferForm(forms.Form):
    email = forms.ChoiceField(label="New owner")

    def __init__(self, *args: Any, candidates: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].choices = candidates  # type: ignore[attr-defined]

    password = forms.CharField(
        max_length=1024,
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class BotCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Bot name")
    description = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class JsonField(forms.CharField):
    """A JSON document typed into a textarea; parse errors show next to the field."""

    widget = forms.Textarea(attrs={"rows": 18, "spellcheck": "false"})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
            ) from None

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value


class BotEditForm(forms.Form):
    name = forms.CharField(max_length=200, label="Bot name")
    description = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    definition = JsonField(
        max_length=300_000,
        label="Definition (format 1)",
        help_text="A greeting, a fallback reply and a list of intents, each with a name, "
        "example phrases and a reply.",
    )


class BotImportForm(forms.Form):
    file = forms.FileField(label="Exported bot (.json)")


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Key name", initial="website")


class PaymentMethodForm(forms.Form):
    token = forms.ChoiceField(
        choices=TEST_CARD_CHOICES,
        label="Test card",
        help_text="This server uses the offline test gateway: card numbers never reach it.",
    )


class BudgetForm(forms.Form):
    amount = forms.DecimalField(
        label="Monthly budget (USD)",
        required=False,
        min_value=0,
        # The service's limit, in the dollars this form speaks (it would say cents).
        max_value=Decimal(MAX_BUDGET_CENTS) / 100,
        max_digits=12,
        decimal_places=2,
        help_text="Leave empty for no budget. At least the plan price.",
    )

    def cents(self) -> int | None:
        value = self.cleaned_data.get("amount")
        return None if value is None else int(value * 100)
