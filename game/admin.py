"""Django admin for the game world: the audit trail (read-only), bans, jobs with their
grades, and the players and characters the game server reports (read-only: the bridge
owns them). Job and ban changes made here are audited like those made over the socket;
job changes are pushed to the game server and broadcast too."""

import logging

from asgiref.sync import async_to_sync
from django.contrib import admin

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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the platform only: viewable, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "action", "target", "outcome", "detail")
    list_filter = ("outcome", "action")
    search_fields = ("actor_name", "target", "token_jti", "detail")
    date_hierarchy = "at"

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


class BanIdentifierInline(admin.TabularInline):
    model = BanIdentifier
    extra = 1


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "reason", "created_at", "expires_at", "banned_by_name", "lifted_at")
    list_filter = ("lifted_at",)
    search_fields = ("name", "reason", "identifiers__value")
    readonly_fields = ("banned_by", "banned_by_name", "lifted_by_name")
    inlines = [BanIdentifierInline]

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


class JobGradeInline(admin.TabularInline):
    model = JobGrade
    extra = 1


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
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
    list_display = ("source", "name", "license", "character", "joined_at")
    search_fields = ("name", "license")
    list_select_related = ("character",)


@admin.register(Character)
class CharacterAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "job", "cash", "bank", "license", "updated_at")
    search_fields = ("name", "license", "job")


@admin.register(GameServer)
class GameServerAdmin(ReadOnlyAdmin):
    list_display = ("name", "max_players", "started_at", "bridge_username", "connected_at")
