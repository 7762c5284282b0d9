"""The web admin's pages and the endpoint that gives them a socket token.

Pages are thin: they render the frame and the controls the user's grants allow; the data
and every action go over the socket (static/js/webui/), where the server checks each
permission again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from accounts import permissions as perms
from accounts.services import load_principal
from webui import session

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
            context["missing"] = self.permission
            return self.response_class(
                request=request, template="webui/forbidden.html", context=context, status=403
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        grants = user_grants(self.request)
        context = super().get_context_data(**kwargs)
        context.update(
            page=self.page,
            grants=grants,
            granted=perms.ordered(grants),
            nav=[(name, label) for name, label, need in NAV if need is None or need in grants],
        )
        return context


def page(name: str, permission: str | None = None):  # noqa: ANN201
    """The view of page ``name`` (template webui/<name>.html)."""
    return never_cache(PageView.as_view(page=name, permission=permission))


@never_cache
@require_POST
def session_token(request: HttpRequest) -> JsonResponse:
    """POST (session + CSRF): a short-lived socket token for the signed-in user's page."""
    if not request.user.is_authenticated:
        return JsonResponse({"message": "Sign in first", "code": "not_authenticated"}, status=401)
    minted = session.mint_session_token(request.user)
    if minted is None:
        return JsonResponse({"message": "This account is not active", "code": "inactive"}, status=403)
    session.remember(request.session, minted.jti)
    return JsonResponse(
        {"token": minted.token, "expiresAt": minted.expires_at, "permissions": minted.permissions}
    )
