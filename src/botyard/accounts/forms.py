from __future__ import annotations

from django import forms


class SignInForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        max_length=1024, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SignUpForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        label="Your name",
        widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
    )
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        max_length=1024, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
