"""The HTTP server's edges and the files on disk: SECRET_KEY, static paths, file modes."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import stat

import pytest
from django.conf import settings

from project import config
from project.asgi import application
from tests.security.test_http import http_get


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_secret_key_is_derived_one_way_from_the_token_secret(monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    jwt = "j" * 40
    derived = config.django_secret_key(jwt)
    assert jwt not in derived and not derived.startswith(jwt)
    expected = hmac.new(jwt.encode(), config.SECRET_KEY_CONTEXT, hashlib.sha256).hexdigest()
    assert derived == expected and len(derived) == 64
    monkeypatch.setenv("DJANGO_SECRET_KEY", "explicit-" + "k" * 50)
    assert config.django_secret_key(jwt) == "explicit-" + "k" * 50


def test_the_running_settings_do_not_contain_the_token_secret():
    if os.environ.get("DJANGO_SECRET_KEY"):
        pytest.skip("DJANGO_SECRET_KEY is set explicitly in this environment")
    assert settings.WS_JWT_SECRET not in settings.SECRET_KEY


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path", ["/static/../.local-secret", "/static/../../etc/passwd", "/static/..%2f.local-secret",
             "/static//etc/passwd", "/static/webui/../../manage.py"],
)
async def test_static_paths_leaving_the_static_directories_answer_404(path):
    status, headers = await http_get(application, path, [], ("127.0.0.1", 5000))
    assert status == 404, path


def test_a_new_sqlite_database_and_its_wal_files_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        db = tmp_path / "db.sqlite3"
        options = config.sqlite(db)
        assert mode(db) == 0o600  # exists before SQLite ever opens it
        with sqlite3.connect(db) as conn:
            conn.executescript(options["OPTIONS"]["init_command"])
            conn.execute("create table t (x)")
            conn.execute("insert into t values (1)")
            conn.commit()
            for path in (db, tmp_path / "db.sqlite3-wal", tmp_path / "db.sqlite3-shm"):
                assert mode(path) == 0o600, path
    finally:
        os.umask(old)


def test_existing_world_readable_files_are_tightened_with_a_warning(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WS_JWT_SECRET", raising=False)
    db = tmp_path / "db.sqlite3"
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    secret = tmp_path / ".local-secret"
    secret.write_text("x" * 64 + "\n")
    os.chmod(secret, 0o644)
    config.sqlite(db)
    assert config.jwt_secret(True, secret) == "x" * 64
    assert mode(db) == 0o600 and mode(secret) == 0o600
    err = capsys.readouterr().err
    assert f"{db} was readable by others" in err and f"{secret} was readable by others" in err


def test_a_new_local_secret_is_created_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("WS_JWT_SECRET", raising=False)
    created = []
    real_open = os.open

    def spy(path, flags, mode_=0o777, *args, **kwargs):  # noqa: ANN001, ANN202
        if str(path).endswith(".local-secret") and flags & os.O_CREAT:
            created.append(mode_)
        return real_open(path, flags, mode_, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    old = os.umask(0)
    try:
        secret = config.jwt_secret(True, tmp_path / ".local-secret")
    finally:
        os.umask(old)
    assert created == [0o600]  # the mode is the creation's, not a chmod after writing
    assert mode(tmp_path / ".local-secret") == 0o600
    assert len(secret) >= config.MIN_SECRET_LENGTH


FIXED_RELEASES = {  # the first release that fixes the advisories named in requirements.txt
    "django": "5.2.9", "twisted": "24.7.0", "h11": "0.16.0", "cryptography": "44.0.1",
}


def test_requirement_floors_exclude_releases_with_known_advisories():
    from packaging.requirements import Requirement
    from packaging.version import Version

    from tests.live import ROOT

    floors = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            lows = [Version(s.version) for s in req.specifier if s.operator in {">=", "=="}]
            floors[req.name.lower()] = max(lows) if lows else None
    for name, fixed in FIXED_RELEASES.items():
        assert floors.get(name) is not None and floors[name] >= Version(fixed), (name, floors.get(name))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "admin.example.com"])
def test_debug_refuses_a_bind_beyond_loopback(host, tmp_path):
    import subprocess
    import sys

    from tests.live import ROOT

    env = {**os.environ, "DEBUG": "true", "WS_HOST": host, "WS_PORT": "1",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"refusing to serve on {host} with DEBUG on" in result.stderr


def test_loopback_binds_are_loopback():
    from realtime.management.commands.serve import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.3.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))
