"""Who may do what on the socket."""

from django.conf import settings
from django.db import models

from accounts.permissions import CATALOGUE


class Grant(models.Model):
    """Carries the socket's permissions as ordinary Django permissions.

    It has no rows: the catalogue becomes ``accounts.<name>`` permissions, granted to users
    and groups (roles) with Django admin's own tools.
    """

    class Meta:
        managed = False
        db_table = "accounts_grant_unused"
        default_permissions = ()
        permissions = list(CATALOGUE.items())
        verbose_name = "socket permission"


class IssuedToken(models.Model):
    """A token minted by the platform. The token text is never stored: only its claims."""

    jti = models.CharField("token id", max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="issued_tokens"
    )
    label = models.CharField(max_length=100, blank=True)
    permissions = models.JSONField(default=list)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The issuer's username when minted: kept when the issuer is deleted (issued_by is then
    # null), so a token whose issuer was deleted is known and refused (services.authenticate).
    issuer_name = models.CharField(max_length=150, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # A web admin page token's login session: an HMAC of the session key (never the key
    # itself), so logout revokes every page token of that session (webui/session.py).
    session_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # A token the game server's bridge signed itself (the generateToken export): the key it
    # used; revoking the key revokes these (realtime.bridgekeys).
    signing_key = models.ForeignKey(
        "accounts.BridgeSigningKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="tokens"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["user", "-issued_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.label or self.jti[:8]}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class PasswordChangeRequired(models.Model):
    """A user who must choose a new password before doing anything else (the first
    superuser, whose generated password was printed to the terminal and its log).

    ``password`` is the hash the requirement was set for: any change of the password
    (the change page, Django admin, ``changepassword``) ends it, with no signal to miss.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
        related_name="password_change_required",
    )
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} must change their password"


class TokenFloor(models.Model):
    """A user's tokens issued before ``not_before`` are refused (their password changed, or
    they were deactivated). Registered tokens are also revoked then; this refuses the
    unregistered, spec-format ones, checked against ``iat`` in the same auth query."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    not_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user} tokens after {self.not_before:%Y-%m-%d %H:%M:%S}"


class AccessChange(models.Model):
    """One committed change of rights, for server processes that share no channel layer.

    Without Redis the channel layer stays inside one process, so a change made by another
    process (``manage.py ws_revoke``, ``manage.py shell``) would never reach the server's
    sockets or its cache. ``accounts.signals`` writes one row per committed change; every
    such server's hub polls ``id > last_seen`` and acts as on the channel-layer messages.
    Rows older than a few minutes are pruned by the pollers.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user_ids = models.JSONField(default=list)
    usernames = models.JSONField(default=list)
    jtis = models.JSONField(default=list)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"change {self.id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class BridgeSigningKey(models.Model):
    """A game server bridge's key for signing the generateToken export's tokens itself,
    one bridge account each (the account that speaks for that game server).

    The key material is never stored: it is derived one-way (HMAC) from WS_JWT_SECRET and
    ``kid`` (realtime.bridgekeys), delivered over the bridge's socket and held in memory by
    the resource. A newer key retires the older one (it still verifies the tokens it signed
    before, until they expire); a revoked key verifies nothing, and its tokens are revoked.
    """

    kid = models.CharField("key id", max_length=40, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bridge_keys")
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "bridge signing key"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "retired" if self.retired_at else "current"
        return f"{self.user} {self.kid} ({state})"
