"""The registry of socket events: each declared once with its permission, payload schema
and handler.

Apps add to it from an ``events.py`` module (discovered in ``RealtimeConfig.ready()``, the
way ``django.contrib.admin`` discovers ``admin.py``)::

    from realtime.registry import Reply, event

    @event("getStats", permission="stats.view", reply="stats")
    async def get_stats(request):
        return Reply("stats", {...})

The consumer looks events up here and nowhere else: an event not registered is an
``unknown_event`` error, never an attribute looked up from client text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from accounts.permissions import CATALOGUE
from realtime.protocol import InvalidPayload

if TYPE_CHECKING:
    from realtime.consumer import RealtimeConsumer


@dataclass(frozen=True)
class Reply:
    """What a handler answers: an event name and its data, sent with the request's id;
    ``then``: a coroutine function run once the reply is written (what must follow it)."""

    event: str
    data: Any = None
    # Run once the reply is sent, before the socket's next frame (auth's replay of missed
    # broadcasts follows ``authenticated`` this way; bridgeSync's first client list too).
    then: Callable[[], Awaitable[None]] | None = field(default=None, compare=False)


@dataclass
class Request:
    """One client request, as a handler sees it: validated data and the connection."""

    event: str
    data: Any
    request_id: Any
    connection: RealtimeConsumer
    # A command's idempotency key (socket idempotencyKey, HTTP Idempotency-Key): realtime/idempotency.py.
    idempotency_key: str | None = None

    @property
    def client_id(self) -> str:
        return self.connection.client_id

    @property
    def username(self) -> str | None:
        return self.connection.username

    @property
    def permissions(self) -> frozenset[str]:
        return self.connection.permissions

    @property
    def token_jti(self) -> str | None:
        return self.connection.token_jti


Handler = Callable[[Request], Awaitable["Reply | None"]]


@dataclass(frozen=True)
class EventSpec:
    """The declaration of one client-to-server event."""

    name: str
    handler: Handler
    permission: str | tuple[str, ...] | None = None  # any one of them; None: any authenticated client
    auth: bool = True  # False: may be sent before auth (only "auth" and "ping")
    schema: type[serializers.Serializer] | None = None
    reply: str | None = None  # the event the reply carries, for docs/PROTOCOL.md
    rate: str = "read"  # rate-limit class: "auth", "read" or "command"
    ordered: bool = False  # True: a socket's frames of ordered events run one by one, in order
    # True: the reply is a snapshot; it carries the position it is current as of
    # (taken before the handler reads, see realtime/history.py).
    snapshot: bool = False
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The HTTP API's route (realtime/httpapi.py): "GET /players", "POST /players/{source}/kick";
    # None: the uniform default POST /events/{name}; False: socket only (auth, the bridge's reports).
    http: str | bool | None = None

    @cached_property  # read on every frame: computed once
    def needs(self) -> frozenset[str] | None:
        """The permissions that allow sending this event (any one), or None."""
        return audience(self.permission)

    @property
    def needs_text(self) -> str:
        """``players.ban or bans.view``: the permission(s) as a sentence."""
        return " or ".join(sorted(self.needs or ()))

    def validate(self, data: Any) -> Any:
        """The handler's input, or :class:`InvalidPayload` saying which field is wrong."""
        if self.schema is None:
            return data
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidPayload(f"'data' of {self.name} must be an object")
        serializer = self.schema(data=data)
        if not serializer.is_valid():
            raise InvalidPayload(
                f"Invalid {self.name}: {describe_errors(serializer.errors)}",
                errors=serializer.errors,
            )
        return serializer.validated_data


def describe_errors(errors: Any, prefix: str = "") -> str:
    """DRF's nested error dict as one human sentence: ``source: A valid integer is required.``"""
    if isinstance(errors, dict):
        parts = [
            describe_errors(value, f"{prefix}{key}." if key != "non_field_errors" else prefix)
            for key, value in errors.items()
        ]
        return "; ".join(p for p in parts if p)
    if isinstance(errors, list):
        if errors and all(isinstance(e, str) for e in errors):
            return f"{prefix.rstrip('.') + ': ' if prefix else ''}{' '.join(errors)}"
        return "; ".join(describe_errors(e, prefix) for e in errors if e)
    return f"{prefix.rstrip('.')}: {errors}" if prefix else str(errors)


def audience(permission: str | Iterable[str] | None) -> frozenset[str] | None:
    """Who may receive an event, as a set of permissions (any one suffices), or None for
    every authenticated client; unknown permission names are refused."""
    if permission is None:
        return None
    needs = frozenset((permission,) if isinstance(permission, str) else permission)
    unknown = sorted(needs - set(CATALOGUE))
    if not needs or unknown:
        raise ValueError(f"unknown permission(s) {unknown} for an outbound event")
    return needs


HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


class EventRegistry:
    """Name -> :class:`EventSpec`."""

    def __init__(self) -> None:
        self._events: dict[str, EventSpec] = {}
        # outbound event -> the permissions that may receive it (any one of them), or None
        # for every authenticated client.
        self._outbound: dict[str, frozenset[str] | None] = {}

    def declare_outbound(self, *names: str, permission: str | Iterable[str] | None = None) -> None:
        """Server-to-client events the platform itself sends (reserved from the exports),
        and who may receive them: holders of ``permission`` (any one of several), or every
        authenticated client when None."""
        needs = audience(permission)
        for name in names:
            if name in self._outbound and self._outbound[name] != needs:
                raise ValueError(f"outbound event {name!r} is declared twice with other permissions")
            self._outbound[name] = needs

    def audience(self, name: str) -> frozenset[str] | None:
        """The permissions needed to receive outbound event ``name`` (None: none needed)."""
        return self._outbound.get(name)

    def outbound(self) -> list[str]:
        """The declared outbound event names, sorted."""
        return sorted(self._outbound)

    def reserved(self) -> set[str]:
        """Every event name the platform itself speaks: its outbound events, the inbound
        ones and their replies. The exports (broadcast, sendToClient) may not send these."""
        replies = {spec.reply for spec in self._events.values() if spec.reply}
        return set(self._outbound) | set(self._events) | replies

    def check_custom_event(self, name: str) -> str:
        """``name``, or ValueError when it is one of the platform's own events."""
        if name in self.reserved():
            raise ValueError(f"{name!r} is one of the platform's own events and cannot be sent from an export")
        return name

    def register(self, spec: EventSpec) -> EventSpec:
        if spec.name in self._events:
            raise ValueError(f"socket event {spec.name!r} is registered twice")
        try:
            spec.needs
        except ValueError:
            raise ValueError(f"{spec.name}: unknown permission {spec.permission!r}") from None
        if spec.http not in (None, False) and (
            not isinstance(spec.http, str) or spec.http.split(" ")[0] not in HTTP_METHODS
        ):
            raise ValueError(f"{spec.name}: http route must be 'METHOD /path', not {spec.http!r}")
        if spec.rate not in {"auth", "read", "command"}:
            raise ValueError(f"{spec.name}: unknown rate class {spec.rate!r}")
        self._events[spec.name] = spec
        return spec

    def get(self, name: str) -> EventSpec | None:
        return self._events.get(name)

    def all(self) -> list[EventSpec]:
        return sorted(self._events.values(), key=lambda s: s.name)

    def names(self) -> set[str]:
        return set(self._events)


registry = EventRegistry()


def event(
    name: str,
    *,
    permission: str | tuple[str, ...] | None = None,
    auth: bool = True,
    schema: type[serializers.Serializer] | None = None,
    reply: str | None = None,
    rate: str = "read",
    ordered: bool = False,
    http: str | bool | None = None,
    snapshot: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as the handler of socket event ``name``."""

    def decorate(handler: Handler) -> Handler:
        registry.register(
            EventSpec(
                name=name,
                handler=handler,
                permission=permission,
                auth=auth,
                schema=schema,
                reply=reply,
                rate=rate,
                ordered=ordered,
                http=http,
                snapshot=snapshot,
                description=(handler.__doc__ or "").strip().splitlines()[0]
                if handler.__doc__
                else "",
            )
        )
        return handler

    return decorate
