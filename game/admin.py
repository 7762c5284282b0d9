"""Django admin for the game world: the audit trail (read-only), bans, jobs with their
grades, and the players and characters the game server reports (read-only: the bridge
owns them). Ban and job changes made here go through game/actions.py's ``do_*``
functions, the socket's own: validated, audited, carried out in game (a ban kicks an
online player, a job change is pushed) and broadcast, exactly as over the socket."""

from contextvars import ContextVar

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from accounts.permissions import ADMIN
from accounts.services import load_principal
from game import actions, jobs, schemas
from game.audit import Actor
from game.models import AuditEntry, Ban, BanIdentifier, Character, GameServer, Job, JobGrade, Player
from realtime.protocol import ProtocolError


def staff_actor(request) -> Actor:  # noqa: ANN001
    """The staff member behind a Django admin request."""
    return Actor(request.user.pk, request.user.get_username())


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


class ActionAdmin(GrantedAdmin):
    """A model admin whose writes are game/actions.py's ``do_*`` functions.

    Those own their transactions (audit entry included) and broadcast once committed, so
    the add/change/delete views do not wrap them in Django admin's own transaction (a
    broadcast must never announce a change that is then rolled back, and the actions'
    database work runs through database_sync_to_async, which may not run inside one).
    ``save_model`` saves nothing: ``save_related`` calls the action with the form's and
    the inlines' data. Bulk actions that would skip them are removed.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):  # noqa: ANN001, ANN201
        return self._refusing(request, self._changeform_view, request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):  # noqa: ANN001, ANN201
        return self._refusing(request, self._delete_view, request, object_id, extra_context)

    def _refusing(self, request, view, *args):  # noqa: ANN001, ANN202
        """An action's refusal (game server offline or refusing, conflict, ...) is shown as
        the socket's error message, back on the same page; nothing was stored."""
        try:
            return view(*args)
        except ProtocolError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_actions(self, request):  # noqa: ANN001, ANN201
        found = super().get_actions(request)
        found.pop("delete_selected", None)
        return found

    def save_model(self, request, obj, form, change) -> None:  # noqa: ANN001
        """Nothing here: the action in save_related writes the row with its inlines."""

    @staticmethod
    def inline_rows(formsets) -> list[dict]:  # noqa: ANN001
        """The inlines' rows as submitted (deleted ones left out); marks them saved."""
        rows = []
        for formset in formsets:
            rows += [f.cleaned_data for f in formset.forms
                     if f.cleaned_data and not f.cleaned_data.get("DELETE")]
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return rows

    @staticmethod
    def adopt(obj, pk) -> None:  # noqa: ANN001
        """Point the admin's (unsaved) object at the row the action wrote."""
        obj.pk = pk
        obj.refresh_from_db()


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



class BanGrants(ActionAdmin):
    view = ("players.ban", "bans.view")
    change = ("players.ban",)


class BanIdentifierInline(GrantedInline):
    model = BanIdentifier
    parent = BanGrants
    extra = 1
    min_num, validate_min = 1, True  # a ban matches at least one identifier

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        rows = super().get_queryset(request)
        return rows if sees_ip(request) else rows.exclude(value__istartswith=IP_PREFIX)


@admin.register(Ban)
class BanAdmin(BanGrants):
    list_display = ("id", "name", "reason", "server", "created_at", "expires_at", "banned_by_name", "lifted_at")
    list_filter = ("lifted_at", "server")
    search_fields = ("name", "reason", "identifiers__value")
    readonly_fields = ("created_at", "banned_by", "banned_by_name", "lifted_at", "lifted_by_name")
    inlines = [BanIdentifierInline]
    actions = ["lift_bans"]

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

    def save_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        """A new ban is the socket's banPlayer by identifiers (an online holder is kicked);
        a change is do_change_ban. ip: values this user cannot see are kept as they are."""
        values = [row["value"] for row in self.inline_rows(formsets)]
        data = form.cleaned_data
        actor = staff_actor(request)
        if not change:
            ban, _ = actions.run(
                actions.do_ban, actor, reason=data["reason"], expires_at=data.get("expires_at"),
                identifiers=values, name=data.get("name", ""),
                server_slug=data["server"].slug if data.get("server") else None,
                scope="server" if data.get("server") else "all",
                record=actions.commands.summary({"name": data.get("name", ""), "reason": data["reason"],
                                                 "identifiers": sorted(set(values)), "via": "django admin"}),
            )
            self.adopt(form.instance, ban["id"])
            return
        if not sees_ip(request):
            values += list(form.instance.identifiers.filter(value__istartswith=IP_PREFIX)
                           .values_list("value", flat=True))
        changes = {field: data.get(field) for field in form.changed_data}
        actions.run(actions.do_change_ban, actor, form.instance.pk, changes, values)
        form.instance.refresh_from_db()

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        actions.run(actions.do_delete_ban, staff_actor(request), obj.pk)

    @admin.action(description="Lift the selected bans (as unbanPlayer)")
    def lift_bans(self, request, queryset) -> None:  # noqa: ANN001
        actor = staff_actor(request)
        lifted = 0
        for ban in queryset.filter(pk__in=Ban.objects.active().values("pk")):
            try:
                actions.run(actions.do_unban, actor, ban.pk)
            except ProtocolError as error:
                self.message_user(request, error.message, messages.ERROR)
                continue
            lifted += 1
        self.message_user(request, f"{lifted} ban(s) lifted", messages.SUCCESS)


class JobGrants(ActionAdmin):
    view = ("jobs.view",)
    change = ("jobs.manage",)


class JobGradeInline(GrantedInline):
    model = JobGrade
    parent = JobGrants
    extra = 1


class JobForm(forms.ModelForm):
    """A job's form, with the socket's rule for job names (schemas.JobNameSchema)."""

    class Meta:
        model = Job
        fields = ("name", "label")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        check = schemas.JobNameSchema(data={"name": name})
        if not check.is_valid():
            raise forms.ValidationError([str(e) for e in check.errors["name"]])
        return name


@admin.register(Job)
class JobAdmin(JobGrants):
    form = JobForm
    list_display = ("name", "label", "updated_at")
    search_fields = ("name", "label")
    inlines = [JobGradeInline]

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        # The name is the job's key in game (updateJob finds the job by it).
        return ("name",) if obj is not None else ()

    def save_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        """createJob / updateJob with the form's label and the inline grades."""
        grades = [{f: row.get(f) for f in jobs.GRADE_FIELDS} for row in self.inline_rows(formsets)]
        for grade in grades:
            grade["label"] = grade["label"] or ""
        name = form.instance.name if change else form.cleaned_data["name"]
        data = {"name": name, "label": form.cleaned_data["label"], "grades": grades}
        action = actions.do_update_job if change else actions.do_create_job
        actions.run(action, staff_actor(request), data)
        self.adopt(form.instance, Job.objects.get(name=name).pk)

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        actions.run(actions.do_delete_job, staff_actor(request), obj.name)


@admin.register(Player)
class PlayerAdmin(ReadOnlyAdmin):
    view = ("players.view",)
    list_display = ("server", "source", "name", "license", "character", "joined_at")
    list_filter = ("server",)
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


class GameServerForm(forms.ModelForm):
    class Meta:
        model = GameServer
        fields = ("slug", "name", "is_default", "max_players")

    def validate_unique(self) -> None:
        # The slug's uniqueness, yes; "one default" is kept by servers.make_default, which
        # moves the flag, rather than refusing the form.
        try:
            self.instance.validate_unique(exclude=self._get_validation_exclusions())
        except forms.ValidationError as error:
            self._update_errors(error)


@admin.register(GameServer)
class GameServerAdmin(GrantedAdmin):
    """The game servers with their state. Adding one is ``game_server add`` (a bridge
    account; its first token is shown once, as a message); changing the default, or
    removing one, is game/servers.py too."""

    form = GameServerForm
    view = ("stats.view",)
    change = (ADMIN,)
    list_display = ("slug", "name", "is_default", "state", "reported_name", "max_players", "bridge_account",
                    "connected_at")
    readonly_fields = ("account", "reported_name", "started_at", "run_id", "bridge_client_id",
                       "bridge_username", "connected_at", "created_at")
    fields = ("slug", "name", "is_default", "max_players", *readonly_fields)

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        return ("slug", *self.readonly_fields) if obj is not None else self.readonly_fields

    def get_actions(self, request):  # noqa: ANN001, ANN201
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # one at a time: each deactivates its account
        return found

    @admin.display(description="state")
    def state(self, obj: GameServer) -> str:
        # The bridge recorded; whether its socket is still connected is getServers' answer.
        return f"bridge since {obj.connected_at:%Y-%m-%d %H:%M}" if obj.bridge_client_id else "offline"

    @admin.display(description="bridge account")
    def bridge_account(self, obj: GameServer) -> str:
        return obj.account.get_username() if obj.account_id else "(none: the default server's bridge)"

    def save_model(self, request, obj, form, change) -> None:  # noqa: ANN001
        from game import servers

        try:
            if not change:
                created = servers.add(obj.slug, obj.name, obj.max_players)
                token = servers.token(created.slug)
                self.message_user(request, f"Bridge token for {created.slug} (shown once; give it to its bridge "
                                           f"only): {token}", messages.WARNING)
                obj.pk = created.pk
                if obj.is_default and not created.is_default:
                    servers.make_default(created.slug)
                return
            GameServer.objects.filter(pk=obj.pk).update(name=obj.name, max_players=obj.max_players)
            if obj.is_default and "is_default" in form.changed_data:
                servers.make_default(obj.slug)
            elif "is_default" in form.changed_data:
                self.message_user(request, "Make another server the default instead.", messages.WARNING)
        except servers.ServerError as error:
            self.message_user(request, str(error), messages.ERROR)

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        from game import servers

        servers.remove(obj.slug)
