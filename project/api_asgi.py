"""Django for the HTTP API (/api/): its own short middleware list, and no thread per request.

Measured (bench/http_api.py), Django's handler cost the API most of its time on requests
that the socket answers in a fraction of it: the web admin's middleware (sessions, auth,
messages, CSRF, two-factor, django-axes, CSP) runs for every request, each sync one on a
thread hop, and Django's per-request ``ThreadSensitiveContext`` starts a new thread for each
request's first thread-sensitive call. A bearer-token JSON API needs none of that: here the
middleware is ``API_MIDDLEWARE`` (CORS, security headers) and thread-sensitive calls go to
the one shared sync thread, as the socket's handlers' do.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string


class ApiHandler(ASGIHandler):
    """Django's ASGI handler for /api/ only."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response_async if is_async else self._get_response)
        for path in reversed(settings.API_MIDDLEWARE):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise ImproperlyConfigured(f"API_MIDDLEWARE: {path} is not async-capable")
            instance = middleware(handler)
            if any(hasattr(instance, m) for m in ("process_view", "process_template_response", "process_exception")):
                raise ImproperlyConfigured(f"API_MIDDLEWARE: {path} needs hooks this handler does not run")
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            raise ValueError(f"the API handler serves HTTP, not {scope['type']}")
        from realtime.httpapi import start_hub

        # Before any token is checked: the hub is what makes this process forget cached
        # access when a token is revoked or grants change elsewhere (realtime.access).
        await start_hub()
        await self.handle(scope, receive, send)


class ApiRouter:
    """/api/... to the API's handler, everything else to the web admin's Django."""

    def __init__(self, api, site) -> None:  # noqa: ANN001
        self.api, self.site = api, site

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        app = self.api if scope["type"] == "http" and scope["path"].startswith("/api/") else self.site
        await app(scope, receive, send)


class InlineSecurityMiddleware(SecurityMiddleware):
    """Django's SecurityMiddleware (HSTS, HTTPS redirect, nosniff, Referrer-Policy, COOP),
    its two hooks run on the event loop: they only read settings and headers, so the two
    thread hops per request Django's MiddlewareMixin would make buy nothing."""

    async def __acall__(self, request):  # noqa: ANN001, ANN204
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)
        return self.process_response(request, response)
