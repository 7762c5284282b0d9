"""Watching every log line the test suite writes for secrets: token secrets, Django's key,
passwords, credentials in URLs and anything shaped like a JWT.

Lines come from the test process's logging (every record that reaches the root logger's
handlers, caplog's included) and from the log files of the live server processes.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
TEST_PASSWORD = re.compile(r"\bpw-[\w.@+-]+")  # tests.helpers.make_user's passwords
# Webhook signing secrets (whsec_...) and Discord webhook URLs (their path is a credential).
WEBHOOK_SECRETS = re.compile(r"whsec_[A-Za-z0-9+/=]{16,}|/api/webhooks/\d+/[\w-]+")


class Collector:
    """Keeps the text of every log record made while installed (message and traceback).

    It hooks record creation rather than adding a handler: Django re-applies LOGGING (and
    drops foreign handlers) whenever something calls django.setup() again. A record is only
    made once its logger is enabled for its level, i.e. when it is going to be written.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._previous = logging.getLogRecordFactory()
        self._formatter = logging.Formatter()

    def install(self) -> None:
        logging.setLogRecordFactory(self._make)

    def uninstall(self) -> None:
        logging.setLogRecordFactory(self._previous)

    def _make(self, *args, **kwargs) -> logging.LogRecord:  # noqa: ANN002, ANN003
        record = self._previous(*args, **kwargs)
        try:
            text = f"{record.name} {record.levelname} {record.getMessage()}"
            if record.exc_info:
                text += "\n" + self._formatter.formatException(record.exc_info)
            self.lines.append(text)
        except Exception:  # noqa: BLE001 - a record that cannot format is not a leak
            pass
        return record


def secrets_in_play() -> list[str]:
    """The literal secrets of this run."""
    from django.conf import settings

    values = {settings.WS_JWT_SECRET, settings.SECRET_KEY, os.environ.get("WS_JWT_SECRET", "")}
    return sorted(v for v in values if v and len(v) >= 8)


def leaks(lines: Iterable[str], secrets: list[str]) -> list[str]:
    """The lines that hold a secret or something shaped like one."""
    found = []
    for line in lines:
        if any(secret in line for secret in secrets) or JWT.search(line) or URL_CREDENTIALS.search(
            line
        ) or TEST_PASSWORD.search(line) or WEBHOOK_SECRETS.search(line):
            found.append(line[:300])
    return found


def server_log_lines(base: Path) -> list[str]:
    """Every line of every live server's log file under pytest's temporary directory."""
    lines: list[str] = []
    for path in sorted(base.rglob("server-*.log")):
        lines += [f"{path.name}: {line}" for line in path.read_text(errors="replace").splitlines()]
    return lines
