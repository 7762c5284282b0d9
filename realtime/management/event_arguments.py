"""The EVENT and JSON data arguments shared by the export commands (ws_broadcast, ws_send)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError


def add_event_arguments(parser) -> None:  # noqa: ANN001
    parser.add_argument("event")
    parser.add_argument("data", nargs="?", default="null", help="JSON")


def event_and_data(options: dict) -> tuple[str, Any]:
    """The command's event name and decoded data, or a CommandError saying what is wrong."""
    from realtime.registry import registry

    try:
        registry.check_custom_event(options["event"])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        return options["event"], json.loads(options["data"])
    except ValueError as exc:
        raise CommandError(f"data is not valid JSON: {exc}") from None
