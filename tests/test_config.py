"""Configuration from the environment: safe defaults, refusals for production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.live import ROOT

STRONG = "s" * 40


def check(**env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in {"WS_JWT_SECRET", "DEBUG"}}
    full.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "ALLOWED_HOSTS": "admin.example.com"}, "WS_JWT_SECRET is required"),
        ({"DEBUG": "false", "WS_JWT_SECRET": "short", "ALLOWED_HOSTS": "a.example.com"}, "at least 32 characters"),
        ({"DEBUG": "true", "WS_JWT_SECRET": "short"}, "at least 32 characters"),
        ({"DEBUG": "true", "WS_JWT_SECRET": STRONG, "ALLOWED_HOSTS": "admin.example.com"}, "DEBUG is on while ALLOWED_HOSTS"),
        ({"DEBUG": "maybe", "WS_JWT_SECRET": STRONG}, "DEBUG must be true or false"),
        ({"WS_JWT_SECRET": STRONG, "WS_PORT": "port"}, "WS_PORT must be a whole number"),
        ({"WS_JWT_SECRET": STRONG, "DATABASE_URL": "mysql://x"}, "DATABASE_URL scheme 'mysql'"),
        ({"WS_JWT_SECRET": STRONG, "WS_WEBHOOK_LEASE": "5"}, "WS_WEBHOOK_LEASE (5s) must be longer"),
        ({"WS_JWT_SECRET": STRONG, "WS_WEBHOOK_ALLOW_PRIVATE": "10.0.0.0/8,intranet"}, "'intranet' is not an address"),
    ],
)
def test_refusals(env, message):
    result = check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_with_a_strong_secret_starts():
    result = check(DEBUG="false", WS_JWT_SECRET=STRONG, ALLOWED_HOSTS="admin.example.com")
    assert result.returncode == 0, result.stderr


def test_database_url_parsing(tmp_path):
    from project.config import database_from_url

    pg = database_from_url("postgres://u:p%40ss@db.local:5433/fivem", tmp_path)
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == ("fivem", "u", "p@ss", "db.local", "5433")
    assert database_from_url(f"sqlite:///{tmp_path}/x.db", tmp_path)["NAME"] == f"{tmp_path}/x.db"
    assert database_from_url("", tmp_path)["NAME"] == tmp_path / "db.sqlite3"


def setting(name: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in {"WS_JWT_SECRET", "DEBUG", name}}
    full.update({"WS_JWT_SECRET": STRONG, **env})
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", f"from django.conf import settings; print(settings.{name})"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # after shell's "N objects imported" line


def test_production_accepts_only_registered_tokens_unless_told_otherwise():
    production = {"DEBUG": "false", "ALLOWED_HOSTS": "admin.example.com"}
    assert setting("WS_REQUIRE_REGISTERED_TOKENS", **production) == "True"
    assert setting("WS_REQUIRE_REGISTERED_TOKENS", **production, WS_REQUIRE_REGISTERED_TOKENS="false") == "False"
    # Development accepts spec-format tokens from any JWT library signed with the secret.
    assert setting("WS_REQUIRE_REGISTERED_TOKENS", DEBUG="true") == "False"
