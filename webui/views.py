"""The web admin's pages and the endpoint that gives them a socket token.

Pages are thin: they render the frame and the controls the user's grants allow; the data
and every action go over the socket (static/js/webui/), where the server checks each
permission again.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
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

from accounts import permissions as perms
from accounts.models import IssuedToken
from accounts.services import load_principal
from accounts.tokens import revoke_tokens
from realtime import api
from webui import session
from webui.forms import MintTokenForm

# (url name, label, permission needed to see it); the order of the navigation.
NAV: list[tuple[str, str, str | None]] = [
    ("dashboard", "Dashboard", None),
    ("players", "Players", "players.view"),
    ("bans", "Bans", "players.ban"),
    ("jobs", "Jobs", "jobs.view"),
    ("announce", "Announce", "announce"),
    ("tokens", "Tokens", None),
    ("audit", "Audit log", perms.ADMIN),
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
        target = self.request.POST.get("next") or self.request.GET.get("next") or ""
        if target and url_has_allowed_host_and_scheme(
            target, {self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return target
        return reverse("webui:dashboard")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from accounts.middleware import must_change_password

        context = super().get_context_data(**kwargs)
        context.update(required=must_change_password(self.request.user),
                       next=self.request.GET.get("next", ""))
        return context
