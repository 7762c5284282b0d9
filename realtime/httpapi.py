"""The HTTP API under ``/api/v1/``: every client event of the registry as an HTTP operation.

Nothing here knows any event. Each :class:`~realtime.registry.EventSpec` a client may send
(not ``http=False``) becomes one operation at its declared route (``http="GET /players"``)
or, without one, at the uniform ``POST /api/v1/events/{name}``. A request runs the way a
socket frame does: Bearer token (the socket's tokens and rules, :mod:`realtime.tokens` and
``accounts.services.authenticate``), the permission check before any handler, the same rate
classes, the payload validated by the event's schema, the same handler, audit and reply.
Errors are the socket's :class:`~realtime.protocol.ProtocolError`; their HTTP status comes
from :data:`STATUS`, the one table.

Bodies are the socket's envelope without ``requestId``: ``{"event": "players", "data":
{...}}`` on success, ``{"event": "error", "data": {"message", "code", ...}}`` on failure.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from adrf.views import APIView
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.urls import path as url_path
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from accounts import permissions as perms
from accounts import services
from realtime import idempotency, protocol, tokens
from realtime.hub import get_hub
from realtime.limits import ConnectionLimiter, Rate, Verdict
from realtime.protocol import (
    InternalError,
    InvalidMessage,
    InvalidPayload,
    InvalidToken,
    NotAuthenticated,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServiceUnavailable,
    UnknownEvent,
)
from realtime.registry import EventSpec, Reply, Request, registry

log = logging.getLogger(__name__)

PREFIX = "api/v1/"

# The one table: error code -> HTTP status. A code missing here is a 400 (and a failing
# test: tests/realtime/test_http_api.py checks every code of protocol.ERROR_CODES).
STATUS: dict[str, int] = {
    "invalid_message": 400,
    "frame_too_large": 413,
    "invalid_token": 401,
    "not_authenticated": 401,
    "permission_denied": 403,
    "unknown_event": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "unsupported_media_type": 415,
    "invalid_payload": 422,
    "rate_limited": 429,
    "too_many_sockets": 429,
    "internal_error": 500,
    "command_failed": 502,
    "game_server_offline": 503,
    "service_unavailable": 503,
}

# Codes only the HTTP API gives (the socket has no methods or content types).
HTTP_ERROR_CODES = {
    "method_not_allowed": "This path does not take that HTTP method",
    "unsupported_media_type": "Send the body as application/json",
}


class MethodNotAllowed(ProtocolError):
    code = "method_not_allowed"
    default_message = HTTP_ERROR_CODES["method_not_allowed"]


class UnsupportedMediaType(ProtocolError):
    code = "unsupported_media_type"
    default_message = HTTP_ERROR_CODES["unsupported_media_type"]


def status_of(code: str) -> int:
    """The HTTP status of an error code (:data:`STATUS`)."""
    return STATUS.get(code, 400)


# -- routes --------------------------------------------------------------------------------

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Operation:
    """One HTTP operation: an event at a method and path (relative to /api/v1)."""

    spec: EventSpec
    method: str
    path: str  # "/players/{source}/kick"

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


def route_of(spec: EventSpec) -> tuple[str, str] | None:
    """(method, path) of an event on the HTTP API, or None for a socket-only event."""
    if spec.http is False or not spec.auth:
        return None
    if spec.http is None or spec.http is True:
        return "POST", f"/events/{spec.name}"
    method, _, route = spec.http.partition(" ")
    return method, route.strip()


def operations() -> list[Operation]:
    """Every HTTP operation, derived from the registry (ordered by path, then method)."""
    ops = []
    for spec in registry.all():
        route = route_of(spec)
        if route is not None:
            ops.append(Operation(spec, *route))
    seen: dict[tuple[str, str], str] = {}
    for op in ops:
        key = (op.method, _PARAM.sub("{}", op.path))
        if key in seen:
            raise ValueError(f"{op.spec.name} and {seen[key]} share the route {op.method} {op.path}")
        seen[key] = op.spec.name
    return sorted(ops, key=lambda o: (o.path, o.method))


# -- authentication --------------------------------------------------------------------


@dataclass
class ApiPrincipal:
    """Who calls, once their Bearer token is verified (DRF's ``request.user``)."""

    username: str
    user_id: int
    permissions: frozenset[str]
    token_jti: str | None
    token_issuer: str | None = None
    token_issuer_id: int | None = None
    is_authenticated: bool = True


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``: the socket's tokens, with the socket's rules
    (signature, expiry, registry, revocation, the user's live grants, the issuer's bound)."""

    keyword = b"bearer"

    def authenticate(self, request):  # noqa: ANN001, ANN201
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword or len(header) != 2:
            raise InvalidToken("Authorization must be 'Bearer <token>'")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken() from None
        payload = tokens.verify(raw)
        principal = services.authenticate(payload)
        if principal is None:
            raise InvalidToken()
        effective = perms.expand(list(payload.get("permissions", []))) & principal.grants
        user = ApiPrincipal(
            username=principal.username,
            user_id=principal.user_id,
            permissions=frozenset(effective),
            token_jti=payload.get("jti"),
            token_issuer=principal.issuer,
            token_issuer_id=principal.issuer_id,
        )
        if payload.get("jti"):
            services.note_token_used(payload["jti"])
        return user, payload

    def authenticate_header(self, request):  # noqa: ANN001, ANN201
        return 'Bearer realm="api"'


class HttpConnection:
    """What a handler reads from ``request.connection`` for an HTTP request: the caller's
    identity, like an authenticated socket's (one per request; no socket behind it)."""

    authenticated = True
    closed = False

    def __init__(self, user: ApiPrincipal) -> None:
        self.client_id = f"http-{uuid.uuid4()}"
        self.username = user.username
        self.user_id = user.user_id
        self.permissions = user.permissions
        self.token_jti = user.token_jti
        self.token_issuer = user.token_issuer
        self.token_issuer_id = user.token_issuer_id


# -- rate limits -----------------------------------------------------------------------


class HttpLimiters:
    """The socket's rate classes per user for HTTP calls (this process; LRU-bounded), with
    the user's command bucket shared with their sockets (WS_RATE_COMMAND_PER_USER; with
    Redis, across every process: run_event takes it there)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.limiters: OrderedDict[int, ConnectionLimiter] = OrderedDict()

    def check(self, user: ApiPrincipal, rate_class: str) -> float | None:
        """None when a call of ``rate_class`` may run now, else the seconds to wait."""
        limiter = self.limiters.get(user.user_id)
        if limiter is None:
            limiter = ConnectionLimiter(
                {name: Rate.parse(getattr(settings, f"WS_RATE_{name.upper()}"), name) for name in ("read", "command")},
                Rate.parse("0"),
            )
            limiter.shared = get_hub().user_buckets.for_user(user.user_id)
            self.limiters[user.user_id] = limiter
            while len(self.limiters) > self.size:
                self.limiters.popitem(last=False)
        else:
            self.limiters.move_to_end(user.user_id)
        limiter.exempt = bool(user.permissions & set(settings.WS_RATE_EXEMPT))
        if limiter.check(rate_class) is Verdict.ALLOW:
            return None
        return max(limiter.retry_after(rate_class), 0.001)


limiters = HttpLimiters()


# -- request data ----------------------------------------------------------------------

_INT = re.compile(r"^-?\d{1,30}$")
_FLOAT = re.compile(r"^-?\d{1,30}(\.\d{1,30})?([eE][-+]?\d{1,3})?$")


def coerce(spec: EventSpec, name: str, value: str) -> Any:
    """A path or query string as the JSON value its schema field takes ("5" -> 5 for an
    integer field, "true" -> True for a boolean one); otherwise the string itself."""
    schema = spec.schema() if spec.schema is not None else None
    fld = schema.fields.get(name) if schema is not None else None
    if isinstance(fld, serializers.BooleanField):
        return {"true": True, "false": False}.get(value.lower(), value)
    if isinstance(fld, serializers.IntegerField) and _INT.match(value):
        return int(value)
    if isinstance(fld, serializers.FloatField) and _FLOAT.match(value):
        number = float(value)
        return number if math.isfinite(number) else value
    return value


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise InvalidMessage("Strings must not contain NUL or lone surrogates (invalid Unicode)")
    return value


def request_data(op: Operation, request, kwargs: dict[str, str]) -> Any:  # noqa: ANN001
    """The event's ``data``: the JSON body (or the query string of a GET/DELETE) with the
    path's parameters, typed as the event's schema wants them."""
    data: Any
    if op.method in ("GET", "DELETE"):
        data = {}
        for key in request.query_params:
            values = request.query_params.getlist(key)
            if len(values) != 1:
                raise InvalidPayload(f"Query parameter {key!r} is given more than once")
            data[_check_text(key)] = coerce(op.spec, key, _check_text(values[0]))
    else:
        data = parse_body(request)
    if op.params:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidPayload(f"The body of {op.spec.name} must be a JSON object")
        for name in op.params:
            value = coerce(op.spec, name, _check_text(kwargs[name]))
            if name in data and data[name] != value:
                raise InvalidPayload(f"{name} is given in the path and, differently, in the body")
            data[name] = value
    return data


def parse_body(request) -> Any:  # noqa: ANN001
    """The JSON body, parsed with the socket's rules (protocol.parse: no NaN, NUL or lone
    surrogates), or None when empty."""
    body = request.body
    if not body:
        return None
    if len(body) > settings.WS_MAX_FRAME_BYTES:
        raise protocol.FrameTooLarge(f"Body too large (limit {settings.WS_MAX_FRAME_BYTES} bytes)")
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise UnsupportedMediaType()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage("The body is not valid UTF-8") from None
    # protocol.parse refuses what the socket refuses; wrap so a non-object passes through
    # to the schema's own "must be an object" error.
    return protocol.parse('{"event":"x","data":' + text + "}")["data"] if text.strip() else None


# -- responses -------------------------------------------------------------------------


def envelope_response(event: str, data: Any, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """The socket's frame (without requestId) as an HTTP response."""
    response = HttpResponse(
        protocol.encode(event, data), status=status, content_type="application/json"
    )
    response["Content-Length"] = str(len(response.content))
    response["Cache-Control"] = "no-store"  # answers about live state, for one token
    for key, value in (headers or {}).items():
        response[key] = value
    if status >= 400:
        # An answer, not a failure of the platform: Django's request log would print every
        # 401/422 (and 503 for an offline game server, as an ERROR). Internal errors are
        # logged where they are caught.
        response._has_been_logged = True
    return response


def error_response(error: ProtocolError) -> HttpResponse:
    headers = {}
    if error.code == "rate_limited":
        wait = error.details.get("retryAfter") or 1
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    if error.code in ("invalid_token", "not_authenticated"):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return envelope_response("error", error.as_data(), status_of(error.code), headers)


def as_protocol_error(exc: Exception) -> ProtocolError:
    """DRF's own exceptions (raised before our code runs) as the socket's errors."""
    if isinstance(exc, ProtocolError):
        return exc
    if isinstance(exc, drf_exceptions.NotAuthenticated):
        return NotAuthenticated("Send Authorization: Bearer <token>")
    if isinstance(exc, drf_exceptions.AuthenticationFailed):
        return InvalidToken()
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return MethodNotAllowed()
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return UnsupportedMediaType()
    if isinstance(exc, drf_exceptions.ParseError):
        return InvalidMessage("Invalid JSON")
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return PermissionDenied()
    if isinstance(exc, drf_exceptions.NotFound):
        return UnknownEvent()
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("HTTP API: database unavailable (%s)", type(exc).__name__)
        return ServiceUnavailable()
    log.error("HTTP API request failed", exc_info=exc)
    return InternalError()


# -- running an event ------------------------------------------------------------------


async def run_event(spec: EventSpec, data: Any, user: ApiPrincipal, idempotency_key: str | None = None) -> HttpResponse:
    """One event for an authenticated caller: permission, rate class, validation, the
    handler; its reply (or error) as the HTTP response."""
    needs = spec.needs
    if needs is not None and needs.isdisjoint(user.permissions):
        raise PermissionDenied(f"Permission denied: {spec.name} requires {spec.needs_text}")
    wait = limiters.check(user, spec.rate)
    buckets = get_hub().user_buckets
    if wait is None and spec.rate == "command" and buckets.shared \
            and not user.permissions & set(settings.WS_RATE_EXEMPT):
        # With Redis the user's command bucket is one across every process and their
        # sockets (realtime.limits.UserBuckets), as on the socket.
        wait = await buckets.take_shared(user.user_id) or None
    if wait is not None:
        raise RateLimited(f"Too many {spec.rate} requests; retry in {wait:g} s", retryAfter=wait)
    validated = spec.validate(data)
    await start_hub()
    request = Request(
        event=spec.name, data=validated, request_id=None, connection=HttpConnection(user),
        idempotency_key=idempotency_key,
    )
    reply = await idempotency.run(spec, request, idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if isinstance(reply, idempotency.Replayed) else None
    if isinstance(reply, Reply):
        return envelope_response(reply.event, reply.data, headers=headers)
    return envelope_response("ack", None, headers=headers)


async def start_hub() -> None:
    """Start this process's hub (commands wait for the game server's answer through it)
    outside the request's context: its tasks outlive the request, and would otherwise
    inherit the request's thread-sensitive executor, which Django closes at its end."""
    hub = get_hub()
    if hub.running:
        return
    await asyncio.get_running_loop().create_task(hub.start(), context=contextvars.Context())


class EventView(APIView):
    """The operations at one path, by HTTP method (built by :func:`urlpatterns`)."""

    operations: dict[str, Operation] = {}
    authentication_classes = [BearerTokenAuthentication]
    permission_classes: list = []
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes: list = []

    @property
    def allowed_methods(self) -> list[str]:
        return sorted(self.operations)

    async def dispatch_event(self, request, **kwargs: str) -> HttpResponse:  # noqa: ANN001
        op = self.operations.get(request.method)
        if op is None:
            raise MethodNotAllowed(f"{request.method} is not allowed here; use {', '.join(self.allowed_methods)}")
        user = request.user
        if not isinstance(user, ApiPrincipal):
            raise NotAuthenticated("Send Authorization: Bearer <token>")
        data = request_data(op, request, kwargs)
        return await run_event(op.spec, data, user, request.headers.get("Idempotency-Key"))

    get = post = put = patch = delete = dispatch_event

    def handle_exception(self, exc: Exception) -> HttpResponse:
        return error_response(as_protocol_error(exc))


def _django_path(route: str) -> str:
    return PREFIX + _PARAM.sub(lambda m: f"<str:{m.group(1)}>", route.lstrip("/"))


def urlpatterns() -> list:
    """One URL pattern per path of :func:`operations`, literal paths first."""
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations():
        by_path.setdefault(op.path, {})[op.method] = op
    ordered = sorted(by_path, key=lambda p: (p.count("{"), p))
    patterns = []
    for route in ordered:
        view = type("EventView", (EventView,), {"operations": by_path[route]})
        name = "api-" + "-".join(sorted(op.spec.name for op in by_path[route].values()))
        patterns.append(url_path(_django_path(route), view.as_view(), name=name))
    return patterns


class _PlainView(APIView):
    """The API's other paths: DRF views too (bearer tokens, never cookies: no CSRF), with
    the API's error shape."""

    authentication_classes: list = []
    permission_classes: list = []
    renderer_classes = [JSONRenderer]
    throttle_classes: list = []

    def handle_exception(self, exc: Exception) -> HttpResponse:
        return error_response(as_protocol_error(exc))


class NotFoundView(_PlainView):
    """A path under /api/ that is no operation."""

    async def answer(self, request, *args, **kwargs) -> HttpResponse:  # noqa: ANN001
        return error_response(UnknownEvent(f"No API operation at {request.path}"))

    get = post = put = patch = delete = answer


class SchemaView(_PlainView):
    """GET /api/v1/schema: the OpenAPI 3.1 document, generated from the registry (public:
    it says what PROTOCOL.md says; every operation still needs a token)."""

    async def get(self, request) -> HttpResponse:  # noqa: ANN001
        from realtime.openapi import document

        return HttpResponse(json.dumps(document(), indent=1), content_type="application/vnd.oai.openapi+json")


class ReferenceView(_PlainView):
    """GET /api/v1/docs: the interactive reference page (static/js/api-reference.js, no CDN)."""

    async def get(self, request) -> HttpResponse:  # noqa: ANN001
        from django.template.loader import render_to_string

        from project.csp import ContentSecurityPolicyMiddleware

        response = HttpResponse(render_to_string("realtime/api_reference.html", {"schema_url": "/api/v1/schema"}))
        # A page, unlike the API's answers: the web admin's CSP and framing rule (the API's
        # handler runs neither middleware).
        response["X-Frame-Options"] = "DENY"
        return ContentSecurityPolicyMiddleware(lambda r: r).process_response(request, response)
