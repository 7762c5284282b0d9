"""docs/PROTOCOL.md documents every registered event, error code and close code."""

from pathlib import Path

import pytest

from realtime.protocol import CLOSE_CODES, ERROR_CODES
from realtime.registry import registry

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()


@pytest.mark.parametrize("name", sorted(registry.names()))
def test_every_registered_event_has_a_section(name):
    documented = f"### `{name}`" in PROTOCOL or f"| `{name}` |" in PROTOCOL
    assert documented, f"docs/PROTOCOL.md has no section or table row for {name}"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_error_code_is_documented(code):
    assert f"| `{code}` |" in PROTOCOL


@pytest.mark.parametrize("code", sorted(CLOSE_CODES))
def test_every_close_code_is_documented(code):
    assert f"| {code} |" in PROTOCOL


def test_replies_named_in_the_registry_are_documented():
    for spec in registry.all():
        if spec.reply:
            assert f"`{spec.reply}`" in PROTOCOL, f"{spec.name}'s reply {spec.reply} is undocumented"
