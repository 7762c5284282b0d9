"""Django admin for webhooks (``admin`` grant): endpoints, and the delivery log with its
"redeliver" action. Changes go through webhooks/services.py, audited."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin, messages

from accounts.permissions import ADMIN
from game.admin import GrantedAdmin, GrantedInline, staff_actor
from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import Attempt, Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(GrantedAdmin):
    view = ()
    change = (ADMIN,)
    form = EndpointForm
    list_display = ("name", "host", "format", "active", "subscribed", "created_at")
    list_filter = ("active", "format")
    search_fields = ("name",)
    fields = ("name", "url", "events_text", "format", "active", "secret")

    @admin.display(description="host")
    def host(self, obj: Endpoint) -> str:
        # Only the host: a Discord webhook URL's path is its credential.
        return urlsplit(obj.url).hostname or ""

    @admin.display(description="events")
    def subscribed(self, obj: Endpoint) -> str:
        return ", ".join(obj.events)[:120]

    def save_model(self, request, obj, form, change) -> None:  # noqa: ANN001
        services.save_endpoint(staff_actor(request), obj, form.cleaned_data.get("secret", ""))

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        services.delete_endpoint(staff_actor(request), obj)

    def delete_queryset(self, request, queryset) -> None:  # noqa: ANN001
        for endpoint in queryset:
            services.delete_endpoint(staff_actor(request), endpoint)


class DeliveryGrants(GrantedAdmin):
    view, change = (ADMIN,), ()  # written by the platform only


class AttemptInline(GrantedInline):
    parent = DeliveryGrants
    model = Attempt
    extra = 0
    fields = readonly_fields = ("at", "ok", "status_code", "latency_ms", "error")


@admin.register(Delivery)
class DeliveryAdmin(DeliveryGrants):
    """The delivery log: read-only but for the redeliver action."""

    list_display = ("created_at", "event_type", "endpoint", "status", "attempts", "last_status_code",
                    "last_latency_ms", "delivered_at", "next_attempt_at")
    list_filter = ("status", "endpoint", "event_type")
    search_fields = ("message_id", "event_type")
    readonly_fields = ("endpoint", "message_id", "event_type", "payload", "created_at", "status", "attempts",
                       "next_attempt_at", "retry_until", "last_status_code", "last_latency_ms", "last_error",
                       "delivered_at")
    exclude = ("lease_until", "lease_token")
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver the selected deliveries (same webhook-id)")
    def redeliver(self, request, queryset) -> None:  # noqa: ANN001
        count = services.redeliver(staff_actor(request), list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} deliveries will be sent again.", messages.SUCCESS)

    def get_actions(self, request):  # noqa: ANN001, ANN201
        # The redeliver action needs the admin grant (view is admin too); delete is never offered.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions if self._holds(request, (ADMIN,)) else {}
