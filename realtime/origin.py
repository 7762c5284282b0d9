"""The socket's origin policy, checked at the handshake (a refusal is an HTTP 403)."""

from __future__ import annotations

from channels.security.websocket import OriginValidator
from django.conf import settings


class OriginPolicy(OriginValidator):
    """Browsers must come from an allowed origin; clients that send no Origin header
    (bots, game servers, scripts) are let through unless WS_REQUIRE_ORIGIN is set.

    Allowed origins are the platform's own (the hosts in ALLOWED_HOSTS: its web admin must
    always reach its socket) plus WS_ALLOWED_ORIGINS, which adds to them and never replaces
    them (issue 18: listing a dashboard's origin used to lock the web admin out). A browser's ``Origin: null`` (sandboxed frames, file:// pages) is never allowed.
    """

    def __init__(self, application) -> None:  # noqa: ANN001
        super().__init__(application, [])

    @property
    def allowed_origins(self) -> list[str]:
        # Read at each handshake, so that the settings in force (and tests') apply.
        return [*settings.ALLOWED_HOSTS, *settings.WS_ALLOWED_ORIGINS]

    @allowed_origins.setter
    def allowed_origins(self, value: list[str]) -> None:
        pass  # OriginValidator.__init__ assigns it; the settings are the source

    def valid_origin(self, parsed_origin) -> bool:  # noqa: ANN001
        if parsed_origin is None:
            return not settings.WS_REQUIRE_ORIGIN
        return super().valid_origin(parsed_origin)
