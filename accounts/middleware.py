"""Steps a signed-in user must take before anything else (first-login password change)."""

from __future__ import annotations

from typing import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import PasswordChangeRequired


def must_change_password(user) -> bool:  # noqa: ANN001
    """Whether ``user`` still has the password they were told to change."""
    return PasswordChangeRequired.objects.filter(user_id=user.pk, password=user.password).exists()


class RequiredStepsMiddleware:
    """Sends a signed-in user with a pending step to its page, from every page of the web
    admin and of Django admin alike; the socket-token endpoint answers 403 instead, so no
    page gets a token meanwhile. One rule for every door, not a check in each view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and must_change_password(user):
            target = reverse("webui:password-change")
            if request.path not in {target, reverse("webui:logout")} and not request.path.startswith(
                "/" + settings.STATIC_URL.lstrip("/")
            ):
                if request.path == reverse("webui:session-token"):
                    return JsonResponse(
                        {"message": "Change your password first", "code": "password_change_required"},
                        status=403,
                    )
                return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
