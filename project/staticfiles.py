"""Serving the platform's own static files (no CDN: the admin works offline)."""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files handler, answering 404 to a path that leaves the static
    directories (``/static/../.local-secret``) instead of a 500 with a traceback: such a
    path names no static file, whatever it tries."""

    def serve(self, request):  # noqa: ANN001, ANN201
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("no such static file") from None
