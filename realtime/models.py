"""What the socket layer keeps in the database: idempotency keys of commands."""

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One command sent with an Idempotency-Key (HTTP) or idempotencyKey (socket): claimed
    before it runs (the unique constraint makes the claim hold across processes), its
    reply kept for the window (WS_IDEMPOTENCY_WINDOW) so that a retry gets it again."""

    user_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    event = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the event and its validated data")
    done = models.BooleanField(default=False)
    reply_event = models.CharField(max_length=64, blank=True, default="")
    reply_data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user_id", "key"], name="realtime_idempotency_user_key")]

    def __str__(self) -> str:
        return f"{self.event} {self.key!r} of user {self.user_id}"
