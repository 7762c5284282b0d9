"""The OpenAPI document and the reference page, always in step with the registry."""

from __future__ import annotations

import pytest

from realtime import httpapi
from realtime.registry import registry
from tests.api.support import call

pytestmark = pytest.mark.django_db


async def schema() -> dict:
    answer = await call("GET", "/api/v1/schema")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/vnd.oai.openapi+json"
    return answer.json


async def test_every_client_event_is_an_operation_of_the_document():
    doc = await schema()
    assert doc["openapi"] == "3.1.0"
    documented = {op["operationId"]: (method, path) for path, ops in doc["paths"].items() for method, op in ops.items()}
    for spec in registry.all():
        if httpapi.route_of(spec) is None:
            assert spec.name not in documented
            continue
        assert spec.name in documented, f"registered event {spec.name} is missing from /api/v1/schema"
        method, path = httpapi.route_of(spec)
        assert documented[spec.name] == (method.lower(), "/api/v1" + path)


async def test_operations_say_their_permission_schema_and_errors():
    doc = await schema()
    kick = doc["paths"]["/api/v1/players/{source}/kick"]["post"]
    assert kick["x-permission"] == ["players.kick"] and kick["x-rate-class"] == "command"
    source = next(p for p in kick["parameters"] if p["name"] == "source")
    assert source == {"name": "source", "in": "path", "required": True,
                      "schema": {"type": "integer", "maximum": 2147483647, "minimum": 1}}
    assert kick["requestBody"]["content"]["application/json"]["schema"]["required"] == ["reason"]
    assert {"403", "422", "429", "503"} <= set(kick["responses"])
    assert "Retry-After" in kick["responses"]["429"]["headers"]
    bans = doc["paths"]["/api/v1/bans"]["get"]
    assert {p["name"]: p["in"] for p in bans["parameters"]} == {"active": "query", "search": "query", "limit": "query", "server": "query"}
    # OpenAPI 3.1: no 3.0 "nullable" anywhere.
    assert '"nullable"' not in str(doc).replace("'", '"')


async def test_a_new_event_appears_in_the_api_by_itself(monkeypatch):
    from realtime.openapi import document
    from realtime.registry import EventRegistry, EventSpec, Reply

    async def handler(request):
        return Reply("things", {})

    fresh = EventRegistry()
    for spec in registry.all():
        fresh.register(spec)
    fresh.register(EventSpec(name="getThings", handler=handler, permission="stats.view", reply="things"))
    monkeypatch.setattr(httpapi, "registry", fresh)
    document.cache_clear()
    try:
        doc = document()
        assert doc["paths"]["/api/v1/events/getThings"]["post"]["operationId"] == "getThings"
    finally:
        document.cache_clear()


async def test_the_reference_page_is_served_without_a_cdn():
    answer = await call("GET", "/api/v1/docs")
    assert answer.status == 200
    page = answer.body.decode()
    assert "/static/js/api-reference.js" in page and "/api/v1/schema" in page
    assert "http://" not in page and "https://" not in page
    from django.contrib.staticfiles import finders

    script = finders.find("js/api-reference.js")
    assert script and "fetch(schemaUrl)" in open(script).read()
    assert "https://" not in open(script).read()


def test_http_only_error_codes_are_documented():
    from pathlib import Path

    protocol = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    for code in httpapi.HTTP_ERROR_CODES:
        assert f"| `{code}` |" in protocol
    assert "## The HTTP API" in protocol


async def test_other_api_paths_answer_in_the_api_shape():
    for method in ("GET", "POST", "DELETE"):
        answer = await call(method, "/api/v1/nope", body={} if method == "POST" else None)
        assert (answer.status, answer.code) == (404, "unknown_event"), method
    answer = await call("POST", "/api/v1/schema", body={})
    assert (answer.status, answer.code) == (405, "method_not_allowed")
