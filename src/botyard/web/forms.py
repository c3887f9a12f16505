"""How a service's refusal reaches a dashboard form: next to the field it names."""

from __future__ import annotations

from typing import Any

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
