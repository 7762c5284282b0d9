"""The web admin's pages and the endpoint that gives them a socket token.

Pages are thin: they render the frame and the controls the user's grants allow; the data
and every action go over the socket (static/js/webui/), where the server checks each
permission again.
"""

from __future__ import annotations

import logging
import math
from base64 import b32encode
from typing import Any

from django.conf import settings

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.utils.http import url_has_allowed_host_and_scheme
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import permissions as perms
from accounts.models import IssuedToken
from accounts.services import load_principal
from accounts.tokens import revoke_tokens
from realtime import api
from realtime.limits import Rate, cache_window
from webui import session
from webui.forms import CodeForm, MintTokenForm, RemoveDeviceForm

logger = logging.getLogger(__name__)

# (url name, label, permission needed to see it); the order of the navigation.
NAV: list[tuple[str, str, str | None]] = [
    ("dashboard", "Dashboard", None),
    ("players", "Players", "players.view"),
    ("bans", "Bans", "players.ban"),
    ("jobs", "Jobs", "jobs.view"),
    ("announce", "Announce", "announce"),
    ("tokens", "Tokens", None),
    ("audit", "Audit log", perms.ADMIN),
    ("webhooks", "Webhooks", perms.ADMIN),  # webhooks/views.py
]
TITLES = {name: label for name, label, _ in NAV}
NEEDS = {name: need for name, _, need in NAV}


def user_grants(request: HttpRequest) -> frozenset[str]:
    """The signed-in user's socket grants (expanded), read once per request."""
    if not hasattr(request, "_webui_grants"):
        principal = load_principal(request.user.get_username())
        request._webui_grants = principal.grants if principal else frozenset()
    return request._webui_grants


class PageView(LoginRequiredMixin, TemplateView):
    """A page of the web admin; ``permission`` (if any) is needed to open it."""

    page = ""
    permission: str | None = None

    def get_template_names(self) -> list[str]:
        return [f"webui/{self.page}.html"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.permission and self.permission not in user_grants(request):
            context = self.get_context_data(**kwargs)
            # The frame and its connection state, none of the page's own code.
            context.update(missing=self.permission, script="js/webui/app.js")
            return self.response_class(
                request=request, template="webui/forbidden.html", context=context, status=403
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        grants = user_grants(self.request)
        context = super().get_context_data(**kwargs)
        context.update(
            page=self.page,
            title=TITLES[self.page],
            script=f"js/webui/{self.page}.js",  # each page's module (static/js/webui/)
            grants=grants,
            granted=perms.ordered(grants),
            nav=[(name, label) for name, label, need in NAV if need is None or need in grants],
        )
        return context


def page(name: str):  # noqa: ANN201
    """The view of page ``name`` (template webui/<name>.html), behind its NAV permission."""
    return never_cache(PageView.as_view(page=name, permission=NEEDS[name]))


@never_cache
@require_POST
def session_token(request: HttpRequest) -> JsonResponse:
    """POST (session + CSRF): a short-lived socket token for the signed-in user's page."""
    if not request.user.is_authenticated:
        return JsonResponse({"message": "Sign in first", "code": "not_authenticated"}, status=401)
    wait = cache_window(f"session-token:{request.user.pk}",
                        Rate.parse(settings.WEBUI_SESSION_TOKEN_RATE, "WEBUI_SESSION_TOKEN_RATE"))
    if wait:
        response = JsonResponse({"message": f"Too many token requests; retry in {wait:g} s",
                                 "code": "rate_limited", "retryAfter": wait}, status=429)
        response["Retry-After"] = str(max(1, math.ceil(wait)))
        return response
    minted = session.mint_session_token(request.user, request.session)
    if minted is None:
        return JsonResponse({"message": "This account is not active", "code": "inactive"}, status=403)
    return JsonResponse(
        {"token": minted.token, "expiresAt": minted.expires_at, "permissions": minted.permissions}
    )


def _page_context(request: HttpRequest, name: str) -> dict[str, Any]:
    view = PageView(page=name)
    view.setup(request)
    return view.get_context_data()


@never_cache
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's own tokens: list; POST mints one within their grants, shown once."""
    grants = perms.ordered(user_grants(request))
    form = MintTokenForm(request.POST or None, grants=grants)
    minted = None
    if request.method == "POST" and form.is_valid():
        try:
            minted = api.generate_token(
                request.user.get_username(),
                form.cleaned_data["permissions"],
                form.cleaned_data["expires"],
                label=form.cleaned_data["label"],
                issued_by=request.user,
            )
        except api.TokenRequestError as exc:
            form.add_error(None, str(exc))
        else:
            form = MintTokenForm(grants=grants)
    mine = IssuedToken.objects.filter(user=request.user)
    context = _page_context(request, "tokens")
    context.update(
        form=form,
        minted=minted,
        tokens=mine.exclude(label=session.LABEL)[:200],
        session_tokens=mine.filter(label=session.LABEL, revoked_at__isnull=True, expires_at__gt=timezone.now()),
        now=timezone.now(),
    )
    return render(request, "webui/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens; its sockets close."""
    token = get_object_or_404(IssuedToken, pk=pk, user=request.user)
    if revoke_tokens(IssuedToken.objects.filter(pk=token.pk), by=request.user, reason="web admin"):
        messages.success(request, f"Token \u201c{token.label or token.jti[:8]}\u201d revoked.")
    else:
        messages.info(request, "That token was already revoked.")
    return redirect("webui:tokens")


class PasswordChange(auth_views.PasswordChangeView):
    """Change one's own password (required first for the first superuser); the session
    stays signed in, then goes on to where the user was headed."""

    template_name = "webui/password_change.html"

    def get_success_url(self) -> str:
        return _safe_next(self.request)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from accounts.middleware import must_change_password

        context = super().get_context_data(**kwargs)
        context.update(required=must_change_password(self.request.user),
                       next=self.request.GET.get("next", ""))
        return context


# Two-factor sign-in (TOTP, django-otp). accounts/middleware.py sends a session to these
# pages; the views only check codes and enrol devices.


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("webui:dashboard")


def _check_code(request: HttpRequest, devices, form: CodeForm) -> TOTPDevice | None:  # noqa: ANN001
    """The device that accepts the form's code, or None with the reason added to the form.
    Each device throttles wrong codes itself (django-otp: a growing wait after each)."""
    code = form.cleaned_data["code"]
    for device in devices:
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error(None, "Too many wrong codes: wait a little, then try again.")
            return None
        if device.verify_token(code):
            return device
    logger.warning("two-factor: wrong code for user %s", request.user.pk)
    form.add_error("code", "That code is not right (or was already used).")
    return None


@never_cache
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The code step of sign-in, for users with a confirmed device."""
    devices = list(TOTPDevice.objects.devices_for_user(request.user, confirmed=True))
    if not devices or request.user.is_verified():
        return redirect(_safe_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = _check_code(request, devices, form)
        if device is not None:
            otp_login(request, device)
            return redirect(_safe_next(request))
    return render(
        request, "webui/two_factor_verify.html",
        {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrolment: an unconfirmed TOTP device and its secret; a right code confirms it.
    With a confirmed device: the way to remove it (password re-entry)."""
    user = request.user
    confirmed = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    context: dict[str, Any] = {
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "required": settings.WS_REQUIRE_2FA_SUPERUSERS and user.is_superuser,
    }
    if confirmed is not None:
        context.update(device=confirmed, remove_form=RemoveDeviceForm())
        return render(request, "webui/two_factor.html", context)
    # One pending device per user, so the secret stays the same across reloads.
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _check_code(request, [device], form) is not None:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)  # this session just gave a code
            messages.success(request, "Two-factor sign-in is on: sign-ins now ask for a code.")
            return redirect(_safe_next(request))
    context.update(
        form=form,
        secret=b32encode(device.bin_key).decode(),
        uri=device.config_url,
    )
    return render(request, "webui/two_factor.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_POST
def two_factor_remove(request: HttpRequest) -> HttpResponse:
    """Turn two-factor off for oneself: the password again, then every device goes."""
    form = RemoveDeviceForm(request.POST)
    # authenticate(): a wrong password here counts toward the sign-in lockout (django-axes).
    if not (form.is_valid() and authenticate(
        request, username=request.user.get_username(), password=form.cleaned_data["password"]
    ) == request.user):
        messages.error(request, "Wrong password: two-factor sign-in stays on.")
        return redirect("webui:two-factor")
    TOTPDevice.objects.filter(user=request.user).delete()
    request.session.pop(DEVICE_ID_SESSION_KEY, None)
    messages.success(request, "Two-factor sign-in is off.")
    return redirect("webui:two-factor")
