"""The endpoint form of Django admin and the web admin: events as text, a write-only secret."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms

from webhooks import crypto, events
from webhooks.models import Endpoint

EVENT_RE = re.compile(r"^[A-Za-z*][A-Za-z0-9_.:*-]{0,119}$")


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https",
                         help_text="http:// or https://; internal addresses are refused (SSRF guard)")
    events_text = forms.CharField(
        label="Events", required=True, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="one or more, separated by spaces or commas: broadcasts (playerBanned, playerKicked, ...), "
                  "audit actions (audit.player.ban, audit.player.kick, ...), or patterns: * (every broadcast), "
                  "audit.* (every audit action)",
    )
    secret = forms.CharField(
        required=False, strip=True,
        help_text="the signing secret your receiver verifies with (whsec_<base64> or any 16+ characters). "
                  "Shown only here, once: copy it now. Leave empty on an existing endpoint to keep its secret.",
    )

    class Meta:
        model = Endpoint
        fields = ("name", "url", "format", "active")

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["events_text"].initial = " ".join(self.instance.events)
            self.fields["secret"].widget = forms.PasswordInput(render_value=False)
        else:
            self.fields["secret"].initial = crypto.new_secret()
        self.fields["events_text"].help_text += ". Known: " + ", ".join(events.known())

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError("an http:// or https:// URL")
        if parts.username or parts.password:
            raise forms.ValidationError("no user:password@ in the URL (sign with the secret instead)")
        return url

    def clean_events_text(self) -> list[str]:
        names = [n for n in re.split(r"[\s,]+", self.cleaned_data["events_text"]) if n]
        bad = [n for n in names if not EVENT_RE.match(n)]
        if bad:
            raise forms.ValidationError(f"not an event name or pattern: {', '.join(bad[:5])}")
        return list(dict.fromkeys(names))

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"]
        if secret:
            try:
                crypto.check_secret(secret)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return secret

    def save(self, commit: bool = True) -> Endpoint:
        endpoint = super().save(commit=False)
        endpoint.events = self.cleaned_data["events_text"]
        return endpoint
