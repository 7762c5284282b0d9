"""How times travel over the socket: ISO 8601 in UTC, to the second (``2025-01-31T12:00:00Z``)."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime | None) -> str | None:
    """``moment`` as ISO 8601 UTC with a ``Z``, or None."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
