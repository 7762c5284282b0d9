from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The HTTP API (docs/PROTOCOL.md, "The HTTP API"): the socket's events, derived from the registry.
    path("", include("realtime.urls")),
    # The bundled web admin at the site root (login, pages, its socket-token endpoint).
    path("", include("webui.urls")),
]
