"""Forms of the web admin's server-rendered pages."""

from __future__ import annotations

from django import forms

EXPIRIES = [("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")]


class MintTokenForm(forms.Form):
    """A token for the signed-in user: a label, some of their grants, an expiry."""

    label = forms.CharField(max_length=100)
    permissions = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    expires = forms.ChoiceField(choices=EXPIRIES, initial="24h")

    def __init__(self, *args, grants: list[str], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # Only what the user holds is offered, so only that validates.
        self.fields["permissions"].choices = [(name, name) for name in grants]


class CodeForm(forms.Form):
    """A six-digit code from the user's authenticator app."""

    code = forms.RegexField(regex=r"^\s*\d{6}\s*$", max_length=12, strip=True,
                            error_messages={"invalid": "Enter the 6-digit code from your app."})


class RemoveDeviceForm(forms.Form):
    """Re-enter the password to turn two-factor sign-in off."""

    password = forms.CharField(widget=forms.PasswordInput, strip=False)
