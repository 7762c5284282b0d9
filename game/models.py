"""The game world as the platform knows it: the game server, who is online, characters,
jobs, bans and the audit trail of admin actions.

Everything lives in the database so that every server process answers the same and a
restart loses nothing. Online players are what the current bridge last reported; they
count as online only while that bridge's socket is connected (see game/server.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class GameServer(models.Model):
    """One game server of the community: its identity (slug, name), the bridge account
    whose tokens speak for it, and what its current bridge last reported.

    Staff grants are platform-wide; a grant scoped to one server is a later nullable
    foreign key to this model on the grant (null: every server), so existing grants keep
    their meaning without a data migration.
    """

    slug = models.SlugField(max_length=50, unique=True, help_text="its name in the protocol (data.server)")
    name = models.CharField("display name", max_length=200, blank=True)
    is_default = models.BooleanField(
        "default", default=False, help_text="requests without data.server go to the default server"
    )
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="game_server", help_text="the bridge account: its tokens speak for this server",
    )
    created_at = models.DateTimeField(default=timezone.now)
    # What the bridge last reported.
    reported_name = models.CharField("serverName", max_length=200, blank=True)
    max_players = models.PositiveIntegerField(default=0)
    # now - uptime at the last snapshot: the game server's uptime is now - started_at.
    started_at = models.DateTimeField(null=True, blank=True)
    run_id = models.CharField(
        "run id", max_length=32, blank=True, help_text="new with every bridge session (getStats serverRunId)"
    )
    bridge_client_id = models.CharField(
        max_length=64, blank=True, help_text="clientId of the bridge socket; empty: none"
    )
    bridge_username = models.CharField(max_length=150, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "game server"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_game_server"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.slug

    @property
    def display_name(self) -> str:
        return self.name or self.reported_name or self.slug


class Character(models.Model):
    """A character of the game's framework; its id is the game's own."""

    id = models.BigIntegerField(primary_key=True, help_text="the game's character id")
    name = models.CharField(max_length=200)
    job = models.CharField(max_length=200, blank=True)
    cash = models.BigIntegerField(default=0)
    bank = models.BigIntegerField(default=0)
    license = models.CharField(max_length=128, blank=True, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    def as_spec(self) -> dict:
        """The spec's character object."""
        return {"id": self.id, "name": self.name, "job": self.job, "cash": self.cash, "bank": self.bank}


class Player(models.Model):
    """A player a game server's bridge reports online, by server id (FiveM's ``source``).

    The same person (license) may be online on two servers: one row on each."""

    server = models.ForeignKey(GameServer, on_delete=models.CASCADE, related_name="players")
    source = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    license = models.CharField(max_length=128, blank=True, db_index=True)
    identifiers = models.JSONField(default=dict, blank=True)
    character = models.ForeignKey(
        Character, null=True, blank=True, on_delete=models.SET_NULL, related_name="players"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["server", "source"]
        constraints = [models.UniqueConstraint(fields=["server", "source"], name="player_server_source")]

    def __str__(self) -> str:
        return f"{self.source} {self.name}"


class Job(models.Model):
    """A job definition, pushed to the game server on every change."""

    name = models.SlugField(max_length=50, unique=True, allow_unicode=False)
    label = models.CharField(max_length=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name


class JobGrade(models.Model):
    """One rank of a job (0 is the lowest)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="grades")
    grade = models.PositiveIntegerField()
    name = models.CharField(max_length=50)
    label = models.CharField(max_length=100, blank=True)
    salary = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["job", "grade"]
        constraints = [models.UniqueConstraint(fields=["job", "grade"], name="job_grade_unique")]

    def __str__(self) -> str:
        return f"{self.job.name}/{self.grade} {self.name}"


class BanQuerySet(models.QuerySet):
    def active(self, now=None) -> BanQuerySet:  # noqa: ANN001
        """Bans in force: not lifted and not expired."""
        now = now or timezone.now()
        return self.filter(lifted_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class Ban(models.Model):
    """A ban of a person, matched by any of their identifiers when they connect."""

    name = models.CharField(max_length=255, blank=True, help_text="the player's name when banned")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: permanent")
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    banned_by_name = models.CharField(max_length=150, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by_name = models.CharField(max_length=150, blank=True)
    server = models.ForeignKey(
        GameServer, null=True, blank=True, on_delete=models.CASCADE, related_name="bans",
        help_text="empty: the ban holds on every game server",
    )

    objects = BanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"ban {self.pk} {self.name}"

    def is_active(self, now=None) -> bool:  # noqa: ANN001
        """Whether the ban is in force at ``now``."""
        now = now or timezone.now()
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


class BanIdentifier(models.Model):
    """One identifier (``license:...``, ``discord:...``) a ban matches."""

    ban = models.ForeignKey(Ban, on_delete=models.CASCADE, related_name="identifiers")
    value = models.CharField(max_length=128, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ban", "value"], name="ban_identifier_unique")]

    def __str__(self) -> str:
        return self.value


class AuditEntry(models.Model):
    """One admin action: who (user and token), what, on whom, when, and how it ended."""

    PENDING, OK, FAILED = "pending", "ok", "failed"
    OUTCOMES = [(PENDING, "pending"), (OK, "ok"), (FAILED, "failed")]

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    # Who minted the token the actor used, when another user did: "issuer on behalf of actor".
    issuer_name = models.CharField("on behalf of, by", max_length=150, blank=True)
    token_jti = models.CharField("token id", max_length=64, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=300, blank=True, help_text="on whom / on what")
    data = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=OUTCOMES, default=PENDING)
    detail = models.TextField(blank=True, help_text="what the game server reported, or the error")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"

    @property
    def actor_display(self) -> str:
        """"X on behalf of Y" when a token minted by X for Y was used, else Y."""
        if self.issuer_name:
            return f"{self.issuer_name} on behalf of {self.actor_name}"
        return self.actor_name

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_display} {self.action} {self.target}"
