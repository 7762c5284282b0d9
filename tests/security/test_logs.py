"""The log watcher of tests/conftest.py: it catches what it must (the suite-wide check runs
at the end of every run over every log line)."""

from __future__ import annotations

import logging

from django.conf import settings

from tests import logwatch
from tests.helpers import spec_token


def test_the_watcher_finds_secrets_tokens_and_passwords():
    token = spec_token("viewer", ["stats.view"])
    lines = [
        "ordinary line about socket 1234 (127.0.0.1) closed for flooding",
        f"oops {settings.WS_JWT_SECRET}",
        f"auth with {token}",
        "connecting to postgres://app:hunter2@db/platform",
        "user created with pw-viewer",
    ]
    found = logwatch.leaks(lines, logwatch.secrets_in_play())
    assert found == lines[1:]


def test_this_runs_log_lines_so_far_hold_no_secret(no_secret_in_any_log, tmp_path_factory):
    logging.getLogger("tests").warning("a harmless line: socket closed (4001)")
    lines = no_secret_in_any_log.lines + logwatch.server_log_lines(tmp_path_factory.getbasetemp())
    assert any("a harmless line" in line for line in lines)
    assert logwatch.leaks(lines, logwatch.secrets_in_play()) == []
