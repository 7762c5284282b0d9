"""Changing endpoints and redelivering, audited (the DESIGN's ``do_*`` style).

Django admin and the web admin both call these; each change is one transaction with its
audit entry (``webhook.create``, ``webhook.change``, ``webhook.delete``,
``webhook.redeliver``). The secret never enters the audit trail nor a log.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from game import audit
from game.audit import Actor
from game.models import AuditEntry
from webhooks import crypto, outbox
from webhooks.models import Delivery, Endpoint

FIELDS = ("name", "url", "events", "format", "active")


def _summary(endpoint: Endpoint) -> dict[str, Any]:
    return {"endpointId": endpoint.pk, "name": endpoint.name, "events": endpoint.events,
            "format": endpoint.format, "active": endpoint.active}


def save_endpoint(actor: Actor, endpoint: Endpoint, secret: str = "") -> Endpoint:
    """Create or change ``endpoint`` (``secret``: a new one; empty keeps it, or generates
    one for a new endpoint), audited."""
    created = endpoint.pk is None
    with transaction.atomic():
        if secret:
            endpoint.set_secret(secret)
        elif created:
            endpoint.set_secret(crypto.new_secret())
        if created and not endpoint.created_by:
            endpoint.created_by = actor.username
        endpoint.save()
        data = _summary(endpoint) | ({"secretChanged": True} if secret and not created else {})
        audit.record(actor, "webhook.create" if created else "webhook.change", f"webhook {endpoint.name}",
                     data, AuditEntry.OK)
    outbox.forget_endpoints()
    return endpoint


def delete_endpoint(actor: Actor, endpoint: Endpoint) -> None:
    with transaction.atomic():
        audit.record(actor, "webhook.delete", f"webhook {endpoint.name}", _summary(endpoint), AuditEntry.OK)
        endpoint.delete()
    outbox.forget_endpoints()


def redeliver(actor: Actor, delivery_ids: list[int]) -> int:
    """Send these deliveries again (same webhook-id), audited; how many."""
    ids = sorted(set(Delivery.objects.filter(id__in=delivery_ids).values_list("id", flat=True)))
    if not ids:
        return 0
    with transaction.atomic():
        count = outbox.redeliver(ids)
        audit.record(actor, "webhook.redeliver", f"{count} deliveries", {"deliveryIds": ids[:100]}, AuditEntry.OK)
    return count
