"""Webhook endpoints and their deliveries (the outbox and the delivery log in one table).

A :class:`Delivery` row is written in the transaction of the change it tells of (an audit
entry's) or right after a broadcast; each server process's sender claims due rows with a
lease, posts them and records every attempt. The row's ``message_id`` is the delivery's
idempotency id (the ``webhook-id`` header): the same on every retry and redelivery.
"""

from __future__ import annotations

import fnmatch
import uuid

from django.db import models
from django.utils import timezone


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Endpoint(models.Model):
    """Where an owner wants events sent: a URL, the events, a signing secret."""

    STANDARD, DISCORD = "standard", "discord"
    FORMATS = [(STANDARD, "Standard Webhooks (JSON, signed)"), (DISCORD, "Discord (content + embeds)")]

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000, help_text="http:// or https://; private addresses are refused (SSRF guard)")
    events = models.JSONField(
        default=list, blank=True,
        help_text='event types: broadcast names ("playerBanned"), audit actions ("audit.player.kick"), '
                  'patterns ("audit.*", "*" every broadcast)',
    )
    format = models.CharField(max_length=20, choices=FORMATS, default=STANDARD)
    # Fernet ciphertext of the signing secret (webhooks/crypto.py); never the secret itself.
    secret_encrypted = models.TextField(editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribes to ``event_type``."""
        return wants(self.events, event_type)

    @property
    def secret(self) -> str:
        from webhooks import crypto

        return crypto.decrypt(self.secret_encrypted)

    def set_secret(self, secret: str) -> None:
        from webhooks import crypto

        self.secret_encrypted = crypto.encrypt(crypto.check_secret(secret))


def wants(patterns: list[str], event_type: str) -> bool:
    """``*`` matches every broadcast (not audit actions); ``audit.*`` every audit action."""
    for pattern in patterns or ():
        if pattern == "*":
            if not event_type.startswith("audit."):
                return True
        elif fnmatch.fnmatchcase(event_type, pattern):
            return True
    return False


class Delivery(models.Model):
    """One event for one endpoint: pending until delivered or given up; its attempts."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    STATUSES = [(PENDING, "pending"), (DELIVERED, "delivered"), (FAILED, "failed (given up)")]

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, unique=True, default=new_message_id, editable=False)
    event_type = models.CharField(max_length=120, db_index=True)
    payload = models.JSONField(help_text="the event's data")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField(help_text="given up when an attempt fails after this")
    # Set while a sender holds it: no other sender takes it before lease_until.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhooks_due")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    """One try of a delivery: when, the answer's status code (or none), how long, why not."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    ok = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}"
