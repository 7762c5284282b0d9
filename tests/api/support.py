"""Calling the HTTP API through the real ASGI application (project.asgi.application)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from channels.testing import HttpCommunicator

from project.asgi import application


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        body = self.json
        return body["data"].get("code") if body.get("event") == "error" else None


async def call(method: str, path: str, token: str | None = None, body: Any = None, *,
               query: dict | None = None, headers: dict[str, str] | None = None, raw: bytes | None = None,
               timeout: float = 10) -> Answer:
    """One HTTP request to the platform; ``body`` is sent as JSON."""
    sent = [(b"host", b"localhost")]
    if token is not None:
        sent.append((b"authorization", f"Bearer {token}".encode()))
    payload = b""
    if raw is not None:
        payload = raw
    elif body is not None:
        payload = json.dumps(body).encode()
        sent.append((b"content-type", b"application/json"))
    for key, value in (headers or {}).items():
        sent.append((key.lower().encode(), value.encode()))
    if query:
        path = f"{path}?{urlencode(query)}"
    comm = HttpCommunicator(application, method, path, body=payload, headers=sent)
    response = await comm.get_response(timeout=timeout)
    return Answer(
        response["status"],
        {k.decode().lower(): v.decode() for k, v in response["headers"]},
        response["body"],
    )
