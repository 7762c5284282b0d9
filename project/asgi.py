"""ASGI entry point: HTTP (admin, UI, static files) and the WebSocket on one port."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from project.api_asgi import ApiHandler, ApiRouter  # noqa: E402
from project.proxy import ProxyHeadersMiddleware  # noqa: E402
from project.staticfiles import StaticFiles  # noqa: E402
from realtime.routing import websocket_application  # noqa: E402
from webhooks.asgi import WithSender  # noqa: E402

# Forwarded client addresses are applied first, from trusted proxies only (docs/SECURITY.md).
# Each process runs a webhook sender (webhooks/asgi.py: started by the ASGI lifespan).
application = WithSender(ProxyHeadersMiddleware(
    ProtocolTypeRouter(
        {
            # The platform serves its own static files: it must work offline, without a CDN.
            # /api/ (the HTTP API) gets its own lean Django handler (project/api_asgi.py).
            "http": StaticFiles(ApiRouter(ApiHandler(), django_http)),
            "websocket": websocket_application,
        }
    )
))
