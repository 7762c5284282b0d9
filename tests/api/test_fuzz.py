"""Property-based fuzzing of the HTTP API against its own OpenAPI document (schemathesis),
on a real server process: no input gives a 500, and every answer is one the document
declares for that operation, in the API's error shape."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.live import Platform, token

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    platform = Platform(tmp_path_factory.mktemp("fuzz"), {"WS_RATE_COMMAND": "0", "WS_RATE_READ": "0",
                                                         "WS_RATE_COMMAND_PER_USER": "0"})
    platform.migrate()
    platform.shell(
        "from tests.helpers import make_user; make_user('boss', superuser=True); make_user('gameserver', ['gameserver'])"
    )
    server = platform.start("uvicorn")
    yield platform, server
    platform.stop_all()


@pytest.fixture(scope="module")
def api_schema(live_api):
    platform, server = live_api
    schema = schemathesis.openapi.from_url(f"{server.http}/api/v1/schema")
    schema.config.base_url = server.http
    schema.auth_token = token(platform, "boss", ["admin", "gameserver"])
    return schema


def check(case, response) -> None:  # noqa: ANN001
    """No 500; a status the document declares; the API's envelope; 503 only for its reasons."""
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code != 500, f"{where}: {response.text[:500]}"
    declared = case.operation.definition.raw["responses"]
    assert str(response.status_code) in declared, f"{where} answered {response.status_code}: {response.text[:300]}"
    body = json.loads(response.text)
    if response.status_code >= 400:
        assert body["event"] == "error" and isinstance(body["data"]["code"], str), where
        if response.status_code == 503:
            assert body["data"]["code"] in ("game_server_offline", "service_unavailable"), where
    else:
        assert body["event"] == declared["200"]["content"]["application/json"]["schema"]["properties"]["event"]["const"]


def test_no_input_breaks_the_api(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 18
    headers = {"Authorization": f"Bearer {api_schema.auth_token}"}
    seen: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:  # noqa: ANN001
            response = case.call(headers=headers, timeout=20)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            check(case, response)

        fuzz()
    # It did reach the handlers: successes and the schemas' refusals both came back.
    assert seen.get(200, 0) > 20 and seen.get(422, 0) > 20, seen
