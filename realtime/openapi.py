"""The OpenAPI 3.1 document of the HTTP API, generated from the event registry.

Every operation of :func:`realtime.httpapi.operations` is in it, with its event's payload
schema (DRF's serializer-to-JSON-schema mapping, written out as JSON Schema 2020-12 as
OpenAPI 3.1 wants: ``nullable`` becomes a ``null`` type), its permission, rate class, reply
event and the error statuses of :data:`realtime.httpapi.STATUS`. Nothing is written by hand
per event: a new ``@event`` appears here by itself.
"""

from __future__ import annotations

import copy
import warnings
from functools import lru_cache
from typing import Any

from rest_framework import serializers

from realtime import httpapi
from realtime.protocol import ERROR_CODES

with warnings.catch_warnings():  # DRF's own generator is deprecated; its field mapping is what we use
    warnings.simplefilter("ignore")
    from rest_framework.schemas.openapi import AutoSchema

ANY: dict = {}


def _to_31(schema: Any) -> Any:
    """DRF's OpenAPI 3.0 schema fragments as 3.1 (JSON Schema): nullable -> type [.., null]."""
    if isinstance(schema, list):
        return [_to_31(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _to_31(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        kind = out.get("type")
        if kind is None:
            pass  # already any value
        elif isinstance(kind, list):
            out["type"] = [*kind, "null"]
        else:
            out["type"] = [kind, "null"]
    return out


class _Mapper(AutoSchema):
    """DRF's field mapping, with the fields that say their own schema (``openapi_schema``)."""

    def map_field(self, field: serializers.Field) -> dict:
        own = getattr(field, "openapi_schema", None)
        if own is not None:
            return copy.deepcopy(own)
        if isinstance(field, serializers.JSONField):
            return dict(ANY)
        return super().map_field(field)

    def map_serializer(self, serializer: serializers.Serializer) -> dict:
        schema = super().map_serializer(serializer)
        for name, fld in serializer.fields.items():
            if isinstance(fld, serializers.BooleanField):
                schema["properties"][name].setdefault("type", "boolean")
        return schema


def payload_schema(spec) -> dict:  # noqa: ANN001
    """The JSON schema of an event's ``data`` (an object)."""
    if spec.schema is None:
        return {"type": "object"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = _Mapper().map_serializer(spec.schema())
    schema = _to_31(schema)
    schema.setdefault("properties", {})
    return schema


def _error_response(code_list: list[str], description: str) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if "rate_limited" in code_list:
        response["headers"] = {
            "Retry-After": {"description": "Seconds until a retry may succeed", "schema": {"type": "integer"}}
        }
    return response


def _errors_by_status(op: httpapi.Operation) -> dict[str, list[str]]:
    # invalid_message: NUL or a lone surrogate in any string (path, query or body) is refused
    # as on the socket, before the schema is consulted.
    codes = ["invalid_message", "invalid_token", "not_authenticated", "rate_limited", "internal_error",
             "service_unavailable"]
    if op.spec.needs is not None:
        codes.append("permission_denied")
    if op.spec.schema is not None or op.params:
        codes.append("invalid_payload")
    if op.method not in ("GET", "DELETE"):
        codes += ["frame_too_large", "unsupported_media_type"]
    if op.spec.rate == "command":
        codes += ["not_found", "conflict", "game_server_offline", "command_failed"]
    elif op.spec.schema is not None and "server" in op.spec.schema().fields:
        codes.append("not_found")  # a read naming a game server that does not exist
    by_status: dict[str, list[str]] = {}
    for code in codes:
        by_status.setdefault(str(httpapi.status_of(code)), []).append(code)
    return by_status


def operation(op: httpapi.Operation) -> dict:
    """The OpenAPI operation object of one event."""
    spec = op.spec
    schema = payload_schema(spec)
    properties: dict = schema.get("properties", {})
    required = set(schema.get("required", []))
    parameters = []
    for name in op.params:
        parameters.append(
            {"name": name, "in": "path", "required": True, "schema": properties.get(name, {"type": "string"})}
        )
    body_properties = {k: v for k, v in properties.items() if k not in op.params}
    if op.method in ("GET", "DELETE"):
        for name, prop in body_properties.items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    permission = spec.needs_text or "any authenticated client"
    reply = spec.reply or "ack"
    result: dict[str, Any] = {
        "operationId": spec.name,
        "summary": spec.description or spec.name,
        "description": (
            f"The socket event `{spec.name}` over HTTP. Permission: {permission}. "
            f"Rate class: {spec.rate}. Reply: `{reply}`."
        ),
        "tags": [spec.handler.__module__.split(".")[0]],
        "x-event": spec.name,
        "x-permission": sorted(spec.needs) if spec.needs else None,
        "x-rate-class": spec.rate,
        "parameters": parameters,
        "responses": {
            "200": {
                "description": f"The reply `{reply}`",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"event": {"const": reply}, "data": ANY},
                            "required": ["event"],
                        }
                    }
                },
            },
        },
    }
    if op.method not in ("GET", "DELETE"):
        body = {**schema, "properties": body_properties}
        body_required = sorted(required - set(op.params))
        if body_required:
            body["required"] = body_required
        else:
            body.pop("required", None)
        result["requestBody"] = {
            "required": bool(body_required),
            "content": {"application/json": {"schema": body}},
        }
    if spec.rate == "command":
        result["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "A retry with the same key within the window gets the first answer; "
                "the command is not carried out twice.",
                "schema": {"type": "string", "maxLength": 255},
            }
        )
    for status, codes in sorted(_errors_by_status(op).items()):
        result["responses"][status] = _error_response(codes, "Error: " + ", ".join(f"`{c}`" for c in codes))
    return result


@lru_cache(maxsize=1)
def document() -> dict:
    """The whole OpenAPI 3.1 document (the registry is complete once apps are ready)."""
    paths: dict[str, dict] = {}
    for op in httpapi.operations():
        paths.setdefault("/" + httpapi.PREFIX.rstrip("/") + op.path, {})[op.method.lower()] = operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FiveM admin platform HTTP API",
            "version": "1",
            "description": (
                "The socket's events over HTTP (docs/PROTOCOL.md, 'The HTTP API'). Authenticate with "
                "`Authorization: Bearer <token>`: the socket's tokens. Bodies are the socket's envelope "
                "without requestId: `{event, data}`."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "event": {"const": "error"},
                        "data": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string"},
                                "code": {"enum": sorted({*ERROR_CODES, *httpapi.HTTP_ERROR_CODES})},
                            },
                            "required": ["message", "code"],
                        },
                    },
                    "required": ["event", "data"],
                }
            },
        },
        "security": [{"bearer": []}],
    }
