"""Content-Security-Policy for every page the platform serves (Django 5.2 has none built in).

The policy allows nothing that is not served by the platform itself: no inline scripts or
styles, no eval, no other origins, no framing. Django's admin needs no more than that (its
scripts are files and pass their data in data- attributes), and the bundled UI is written
to need none either. The socket is reached through connect-src 'self' (same host and port;
CSP 3 browsers match ws:/wss: to it).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

DEFAULT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Adds CONTENT_SECURITY_POLICY (or its report-only form) to responses that lack one."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = settings.CONTENT_SECURITY_POLICY
        if policy:
            header = (
                "Content-Security-Policy-Report-Only"
                if settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
                else "Content-Security-Policy"
            )
            response.headers.setdefault(header, policy)
        return response
