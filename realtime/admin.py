"""Minting a socket token on a user's admin page.

Staff choose a label, a subset of the user's grants (only permissions they hold
themselves; a superuser holds them all) and an expiry. The token is shown once, in the
response to that POST, with a copy button, and is stored nowhere: not in the database,
the session, a message or a log; the registry keeps only its claims.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.cache import add_never_cache_headers

from accounts import permissions as perms
from accounts.admin import StaffUserAdmin
from accounts.services import load_principal
from realtime import api, tokens

EXPIRY_CHOICES = [
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("custom", "Custom"),
]
MINT_PERMISSION = "accounts.add_issuedtoken"


class MintTokenForm(forms.Form):
    label = forms.CharField(max_length=100, help_text="What the token is for, e.g. “web panel”.")
    permissions = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    expiry = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="24h", widget=forms.RadioSelect)
    custom_expiry = forms.CharField(
        required=False, max_length=16, help_text="With “Custom”: e.g. 90m, 12h, 14d, 2w."
    )

    def __init__(self, *args: Any, grantable: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = [(p, f"{p} ({perms.CATALOGUE[p]})") for p in grantable]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("expiry") == "custom":
            raw = data.get("custom_expiry", "").strip()
            try:
                tokens.parse_duration(raw)
            except ValueError as exc:
                self.add_error("custom_expiry", str(exc))
            data["expires_in"] = raw
        else:
            data["expires_in"] = data.get("expiry")
        return data


def mintable_by(staff: Any) -> frozenset[str]:
    """The permissions a staff member may put in tokens: those they hold."""
    if staff.is_superuser:
        return frozenset(perms.CATALOGUE)
    principal = load_principal(staff.get_username())
    return principal.grants if principal else frozenset()


class MintingUserAdmin(StaffUserAdmin):
    """The user admin with a "Mint token" page."""

    change_form_template = "admin/realtime/user_change_form.html"

    def get_urls(self) -> list:
        mint = path(
            "<path:object_id>/mint-token/",
            self.admin_site.admin_view(self.mint_token_view),
            name="auth_user_mint_token",
        )
        return [mint, *super().get_urls()]

    def mint_token_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        user = self.get_object(request, unquote(object_id))
        if user is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not (request.user.has_perm(MINT_PERMISSION) and self.has_view_or_change_permission(request, user)):
            raise PermissionDenied
        if user.pk != request.user.pk and not request.user.is_superuser:
            # Only superusers mint for others: a token of another user would act as them.
            raise PermissionDenied
        principal = load_principal(user.get_username())
        held = principal.grants if principal else frozenset()
        allowed = mintable_by(request.user)
        form = MintTokenForm(
            request.POST if request.method == "POST" else None,
            grantable=perms.ordered(held & allowed),
        )
        token = None
        if request.method == "POST" and form.is_valid():
            token = self._mint(request, user, form)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Mint a socket token for {user.get_username()}",
            "opts": self.opts,
            "original": user,
            "form": form,
            "token": token,
            "inactive": principal is None,
            "withheld": perms.ordered(held - allowed),
            "expires_in": form.cleaned_data.get("expires_in") if token else None,
            "max_lifetime": settings.WS_MAX_TOKEN_LIFETIME,
        }
        response = TemplateResponse(request, "admin/realtime/mint_token.html", context)
        add_never_cache_headers(response)  # the page holding the token must not be kept
        return response

    def _mint(self, request: HttpRequest, user: Any, form: MintTokenForm) -> str | None:
        data = form.cleaned_data
        try:
            token = api.generate_token(
                user.get_username(),
                data["permissions"],
                data["expires_in"],
                label=data["label"],
                issued_by=request.user,
            )
        except api.TokenRequestError as exc:
            form.add_error(None, str(exc))
            return None
        jti = tokens.verify(token).get("jti")
        self.log_change(
            request, user, f"Minted socket token {data['label']!r} (id {jti}): {', '.join(data['permissions'])}"
        )
        return token


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, MintingUserAdmin)
