"""Who may use the web admin (staff only), and the steps a signed-in user must take before
anything else: the sign-in code (two-factor), the first-login password change, enrolling a
second factor when the owner requires it."""

from __future__ import annotations

from typing import Callable, NamedTuple

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode
from django_otp import user_has_device

from accounts.models import PasswordChangeRequired


def must_change_password(user) -> bool:  # noqa: ANN001
    """Whether ``user`` still has the password they were told to change."""
    return PasswordChangeRequired.objects.filter(user_id=user.pk, password=user.password).exists()


def needs_code(user) -> bool:  # noqa: ANN001
    """Whether this session's ``user`` has a confirmed device but has not given a code
    from it yet (django-otp's OTPMiddleware sets ``is_verified``)."""
    return not user.is_verified() and user_has_device(user, confirmed=True)


def must_enrol(user) -> bool:  # noqa: ANN001
    """Whether the owner requires two-factor of ``user`` (superusers, with
    WS_REQUIRE_2FA_SUPERUSERS) and they have no confirmed device yet."""
    return (
        settings.WS_REQUIRE_2FA_SUPERUSERS
        and user.is_superuser
        and not user_has_device(user, confirmed=True)
    )


class Step(NamedTuple):
    page: str  # url name of the page that completes the step
    code: str  # the error code /session-token/ answers meanwhile
    message: str


# In this order: the code first (a password alone changes nothing), then the rest.
STEPS: list[tuple[Callable[..., bool], Step]] = [
    (needs_code, Step("webui:two-factor-verify", "two_factor_required", "Enter your sign-in code first")),
    (must_change_password, Step("webui:password-change", "password_change_required", "Change your password first")),
    (must_enrol, Step("webui:two-factor", "two_factor_enrolment_required", "Set up two-factor sign-in first")),
]


def pending_step(user) -> Step | None:  # noqa: ANN001
    """The first step ``user`` (signed in) still has to take, if any."""
    for pending, step in STEPS:
        if pending(user):
            return step
    return None


NOT_STAFF = "The web admin is for staff accounts. Ask the owner to make yours one."
# Web admin pages a non-staff user may still reach: the sign-in page says why they were
# signed out, and signing out always works.
_OPEN_TO_ANYONE = {"login", "logout"}


def in_web_admin(path: str) -> str | None:
    """The web admin's url name of ``path``, or None for any other path (Django admin,
    static files, the socket's HTTP side)."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.url_name if match.namespace == "webui" else None


class RequiredStepsMiddleware:
    """The web admin's door, then the steps. A signed-in user who is not staff (Django
    admin's own rule, ``is_staff``) is signed out of every web admin page (their page tokens
    are revoked with the session) and the socket-token endpoint answers 403 ``not_staff``;
    the sign-in form refuses them in the first place (webui.urls). A signed-in user with a
    pending step is sent to its page, from every page of the web admin and of Django admin
    alike; the socket-token endpoint answers 403 instead, so no page gets a token
    meanwhile. One rule for every door, not a check in each view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_staff:
            name = in_web_admin(request.path_info)
            if name == "session-token":
                return JsonResponse({"message": NOT_STAFF, "code": "not_staff"}, status=403)
            if name is not None and name not in _OPEN_TO_ANYONE:
                logout(request)
                messages.error(request, NOT_STAFF)
                return redirect(f"{reverse('webui:login')}?{urlencode({'next': request.get_full_path()})}")
        if user is not None and user.is_authenticated and not self._open(request.path):
            step = pending_step(user)
            if step is not None and request.path != reverse(step.page):
                if request.path == reverse("webui:session-token"):
                    return JsonResponse({"message": step.message, "code": step.code}, status=403)
                return redirect(f"{reverse(step.page)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _open(path: str) -> bool:
        """Paths open whatever is pending: signing out and the static files."""
        return path == reverse("webui:logout") or path.startswith("/" + settings.STATIC_URL.lstrip("/"))
