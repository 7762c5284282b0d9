"""Django admin for the game world: the audit trail (read-only), bans, jobs with their
grades, and the players and characters the game server reports (read-only: the bridge
owns them). Job and ban changes made here are audited like those made over the socket;
job changes are pushed to the game server and broadcast too."""

import logging
from contextvars import ContextVar

from asgiref.sync import async_to_sync
from django.contrib import admin

from accounts.permissions import ADMIN
from accounts.services import load_principal
from game import audit, commands, jobs
from game.audit import Actor
from game.models import AuditEntry, Ban, BanIdentifier, Character, GameServer, Job, JobGrade, Player

log = logging.getLogger(__name__)


def staff_actor(request) -> Actor:  # noqa: ANN001
    """The staff member behind a Django admin request."""
    return Actor(request.user.pk, request.user.get_username())


def announce_job_change(request, action: str, job: dict) -> None:  # noqa: ANN001
    """Audit a job change made in Django admin, push it to the game server, broadcast it."""
    verb = {"created": "create", "updated": "update", "deleted": "delete"}[action]
    entry = audit.start(staff_actor(request), f"job.{verb}", f"job {job['name']}",
                        {"job": job, "via": "django admin"})
    try:
        async_to_sync(commands.job_changed)(action, job, entry)
    except Exception:  # noqa: BLE001 - the change is saved; the push is best effort here
        log.exception("could not push the job change to the game server")
        audit.finish(entry, AuditEntry.OK, "saved; the push to the game server failed")


def grants(request) -> frozenset[str]:  # noqa: ANN001
    """The socket grants of the staff member behind ``request`` (expanded, cached per request).

    The one rule for Django admin on the game's models: what a user may see or change here
    is what their socket grants allow (accounts.services.load_principal, the same grants
    the socket authorises with), never Django's model permissions (view_auditentry, ...).
    """
    held = getattr(request, "_socket_grants", None)
    if held is None:
        user = request.user
        principal = load_principal(user.get_username()) if user.is_active and user.is_staff else None
        held = principal.grants if principal is not None else frozenset()
        request._socket_grants = held
    return held


class GrantedAdmin(admin.ModelAdmin):
    """A model admin whose view/add/change/delete follow socket grants.

    ``view``: any of these grants lets the user read the rows; ``change``: the grant to
    add, change and delete them (empty: read-only, written by the platform only).
    """

    view: tuple[str, ...] = (ADMIN,)
    change: tuple[str, ...] = ()

    def _holds(self, request, names) -> bool:  # noqa: ANN001
        return bool(set(names) & grants(request))

    def has_module_permission(self, request) -> bool:  # noqa: ANN001
        return self._holds(request, self.view + self.change)

    def has_view_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.view + self.change)

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.change)

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.change)

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.change)


class GrantedInline(admin.TabularInline):
    """An inline that follows the grants of its parent admin."""

    parent: type[GrantedAdmin] = GrantedAdmin

    def _holds(self, request, names) -> bool:  # noqa: ANN001
        return bool(set(names) & grants(request))

    def has_view_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.parent.view + self.parent.change)

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.parent.change)

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.parent.change)

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self._holds(request, self.parent.change)


IP_PREFIX = "ip:"
_viewer: ContextVar = ContextVar("game_admin_viewer")


def sees_ip(request) -> bool:  # noqa: ANN001
    return "players.ip" in grants(request)


def without_ip(identifiers: dict) -> dict:
    """A player's identifiers minus ``ip`` (the socket's rule: only ``players.ip`` sees it)."""
    return {k: v for k, v in (identifiers or {}).items()
            if k != "ip" and not (isinstance(v, str) and v.lower().startswith(IP_PREFIX))}


class ReadOnlyAdmin(GrantedAdmin):
    """Rows written by the platform only: viewable with the grant, never edited by hand."""


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    view = (ADMIN,)  # the socket's getAuditLog needs admin: the trail holds player IPs
    list_display = ("at", "who", "action", "target", "outcome", "detail")
    list_filter = ("outcome", "action")
    search_fields = ("actor_name", "issuer_name", "target", "token_jti", "detail")
    date_hierarchy = "at"

    @admin.display(description="actor", ordering="actor_name")
    def who(self, obj: AuditEntry) -> str:
        return obj.actor_display



class BanGrants(GrantedAdmin):
    view = ("players.ban", "bans.view")
    change = ("players.ban",)


class BanIdentifierInline(GrantedInline):
    model = BanIdentifier
    parent = BanGrants
    extra = 1

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        rows = super().get_queryset(request)
        return rows if sees_ip(request) else rows.exclude(value__istartswith=IP_PREFIX)


@admin.register(Ban)
class BanAdmin(BanGrants):
    list_display = ("id", "name", "reason", "created_at", "expires_at", "banned_by_name", "lifted_at")
    list_filter = ("lifted_at",)
    search_fields = ("name", "reason", "identifiers__value")
    readonly_fields = ("banned_by", "banned_by_name", "lifted_by_name")
    inlines = [BanIdentifierInline]

    def get_search_fields(self, request):  # noqa: ANN001, ANN201
        # Without players.ip, identifiers are searched below, ip: values left out.
        return self.search_fields if sees_ip(request) else ("name", "reason")

    def get_search_results(self, request, queryset, search_term):  # noqa: ANN001, ANN201
        rows, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term and not sees_ip(request):
            matching = BanIdentifier.objects.filter(value__icontains=search_term).exclude(
                value__istartswith=IP_PREFIX)
            rows = rows | queryset.filter(pk__in=matching.values("ban_id"))
        return rows, duplicates

    def save_model(self, request, obj, form, change) -> None:  # noqa: ANN001
        if not change:
            obj.banned_by, obj.banned_by_name = request.user, request.user.get_username()
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        super().save_related(request, form, formsets, change)
        ban = form.instance
        values = list(ban.identifiers.values_list("value", flat=True))
        audit.record(staff_actor(request), "player.ban" if not change else "ban.change",
                     ban.name or ", ".join(values),
                     {"banId": ban.pk, "reason": ban.reason, "identifiers": values, "via": "django admin"},
                     AuditEntry.OK)

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        audit.record(staff_actor(request), "ban.delete", obj.name or f"ban {obj.pk}",
                     {"banId": obj.pk, "via": "django admin"}, AuditEntry.OK)
        super().delete_model(request, obj)


class JobGrants(GrantedAdmin):
    view = ("jobs.view",)
    change = ("jobs.manage",)


class JobGradeInline(GrantedInline):
    model = JobGrade
    parent = JobGrants
    extra = 1


@admin.register(Job)
class JobAdmin(JobGrants):
    list_display = ("name", "label", "updated_at")
    search_fields = ("name", "label")
    inlines = [JobGradeInline]
    actions = None  # bulk delete would skip the push to the game server

    def save_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        super().save_related(request, form, formsets, change)
        job = Job.objects.prefetch_related("grades").get(pk=form.instance.pk)
        announce_job_change(request, "updated" if change else "created", jobs.as_dict(job))

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        name = obj.name
        super().delete_model(request, obj)
        announce_job_change(request, "deleted", {"name": name})


@admin.register(Player)
class PlayerAdmin(ReadOnlyAdmin):
    view = ("players.view",)
    list_display = ("source", "name", "license", "character", "joined_at")
    search_fields = ("name", "license")
    list_select_related = ("character",)

    def get_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        fields = [f for f in super().get_fields(request, obj) if f != "identifiers"]
        return [*fields, "shown_identifiers"]

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        return [*super().get_readonly_fields(request, obj), "shown_identifiers"]

    def changeform_view(self, request, *args, **kwargs):  # noqa: ANN001, ANN201
        # shown_identifiers is rendered within this call; a ContextVar, not an attribute
        # of this admin (one instance serves every request, in every thread).
        token = _viewer.set(request)
        try:
            response = super().changeform_view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _viewer.reset(token)

    @admin.display(description="identifiers")
    def shown_identifiers(self, obj: Player) -> str:
        ids = obj.identifiers or {}
        shown = ids if sees_ip(_viewer.get()) else without_ip(ids)
        return ", ".join(f"{k}: {v}" for k, v in sorted(shown.items()))


@admin.register(Character)
class CharacterAdmin(ReadOnlyAdmin):
    view = ("players.view",)
    list_display = ("id", "name", "job", "cash", "bank", "license", "updated_at")
    search_fields = ("name", "license", "job")


@admin.register(GameServer)
class GameServerAdmin(ReadOnlyAdmin):
    view = ("stats.view",)
    list_display = ("name", "max_players", "started_at", "bridge_username", "connected_at")
