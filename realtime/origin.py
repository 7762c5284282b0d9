"""The socket's origin policy, checked at the handshake (a refusal is an HTTP 403)."""

from __future__ import annotations

from channels.security.websocket import OriginValidator
from django.conf import settings


class OriginPolicy(OriginValidator):
    """Browsers must come from an allowed origin; clients that send no Origin header
    (bots, game servers, scripts) are let through unless WS_REQUIRE_ORIGIN is set.

    Allowed origins are WS_ALLOWED_ORIGINS, or by default the hosts in ALLOWED_HOSTS.
    """

    def __init__(self, application) -> None:  # noqa: ANN001
        allowed = list(settings.WS_ALLOWED_ORIGINS) or list(settings.ALLOWED_HOSTS)
        super().__init__(application, allowed)

    def valid_origin(self, parsed_origin) -> bool:  # noqa: ANN001
        if parsed_origin is None:
            return not getattr(settings, "WS_REQUIRE_ORIGIN", False)
        return super().valid_origin(parsed_origin)
