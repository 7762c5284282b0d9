"""The HTTP API's URLs (/api/v1/...), derived from the event registry (realtime/httpapi.py)."""

from django.urls import path, re_path

from realtime import httpapi

urlpatterns = [
    path("api/v1/schema", httpapi.SchemaView.as_view(), name="api-schema"),
    path("api/v1/docs", httpapi.ReferenceView.as_view(), name="api-docs"),
    *httpapi.urlpatterns(),
    # Anything else under /api/ answers in the API's own shape, not Django's HTML 404.
    re_path(r"^api/", httpapi.NotFoundView.as_view(), name="api-not-found"),
]
