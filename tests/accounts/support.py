"""Helpers of the accounts tests: counting queries where the socket runs them, granting."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext


def socket_permissions(*names: str) -> list[Permission]:
    """The Permission rows of these socket grants."""
    return list(Permission.objects.filter(content_type__app_label="accounts", codename__in=names))


class DatabaseThreadQueries:
    """Captures the queries of database_sync_to_async code (it runs in one worker thread)."""

    def __init__(self) -> None:
        self._context: CaptureQueriesContext | None = None

    async def __aenter__(self) -> "DatabaseThreadQueries":
        self._context = await database_sync_to_async(self._enter)()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await database_sync_to_async(self._context.__exit__)(None, None, None)

    def _enter(self) -> CaptureQueriesContext:
        # The thread's own connection object: the `connection` proxy would resolve to the
        # test thread's connection when read from there.
        context = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS])
        context.__enter__()
        return context

    @property
    def sql(self) -> list[str]:
        return [q["sql"] for q in self._context.captured_queries]

    def selects(self) -> list[str]:
        return [s for s in self.sql if s.lstrip().upper().startswith("SELECT")]
