"""Reading the platform's configuration from the environment.

Every setting has a safe development default; production mode (``DEBUG`` off) refuses
what would be dangerous there instead of silently running with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_LENGTH = 32
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or the default when unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable; anything but a clear yes/no is refused."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """An integer variable of at least ``minimum``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    """A number variable of at least ``minimum``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list variable."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def jwt_secret(debug: bool, local_file: Path) -> str:
    """WS_JWT_SECRET, refused when weak; in development generated once into ``local_file``."""
    secret = os.environ.get("WS_JWT_SECRET", "")
    if secret:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ImproperlyConfigured(
                f"WS_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                f"(it has {len(secret)}); generate one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return secret
    if not debug:
        raise ImproperlyConfigured(
            "WS_JWT_SECRET is required when DEBUG is off (at least "
            f"{MIN_SECRET_LENGTH} random characters)"
        )
    if local_file.exists():
        owner_only(local_file)
        stored = local_file.read_text().strip()
        if len(stored) >= MIN_SECRET_LENGTH:
            return stored
    stored = secrets.token_urlsafe(48)
    write_owner_only(local_file, stored + "\n")
    print(
        f"warning: WS_JWT_SECRET is not set; generated a development secret into {local_file} "
        "(git-ignored). Set WS_JWT_SECRET in production.",
        file=sys.stderr,
    )
    return stored


SECRET_KEY_CONTEXT = b"fivem-platform/django-secret-key/v1"


def django_secret_key(jwt_secret: str) -> str:
    """DJANGO_SECRET_KEY, or one derived one-way from the token secret (HMAC-SHA256 with a
    fixed context): knowing Django's key (sessions, CSRF, password-reset links) says
    nothing about the key that signs socket tokens."""
    explicit = os.environ.get("DJANGO_SECRET_KEY", "")
    if explicit:
        return explicit
    return hmac.new(jwt_secret.encode(), SECRET_KEY_CONTEXT, hashlib.sha256).hexdigest()


def owner_only(path: Path) -> None:
    """Tighten a file that others may read or write to 0600, with a warning."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        path.chmod(mode & 0o700 | 0o600)
        print(f"warning: {path} was readable by others (mode {mode:o}); made it owner-only (600)",
              file=sys.stderr)


def write_owner_only(path: Path, text: str) -> None:
    """Create (or replace) ``path`` with mode 0600 from the first byte: no window where
    another user could open it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # O_CREAT's mode does not apply to a file that existed
        handle.write(text)


def database_from_url(url: str, base_dir: Path) -> dict:
    """A DATABASES['default'] entry from DATABASE_URL (sqlite:///path or postgres://...)."""
    if not url:
        return sqlite(base_dir / "db.sqlite3")
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        name = unquote(parsed.path)
        if name.startswith("/") and parsed.netloc == "":
            name = name[1:] if name.startswith("//") else name
        return sqlite(name or ":memory:")
    if scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            # An unreachable server must fail a request quickly, not hang its thread.
            "OPTIONS": {"connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme!r} is not supported (use sqlite:/// or postgres://)"
    )


def sqlite(name: str | Path) -> dict:
    """SQLite in WAL mode: readers never wait for the writer, and a commit costs no fsync
    (synchronous=NORMAL; a power cut may lose the last commits, never corrupt the file).
    The bridge's join/leave reports are the broadcast path's one write each: with the
    default rollback journal every one of them waited for the disk.

    The file is created here, empty and owner-only (SQLite takes an empty file as a new
    database), because SQLite would create it 0644: it holds sessions and password hashes.
    Its -wal and -shm files take the database file's mode."""
    private_sqlite_file(name)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


def private_sqlite_file(name: str | Path) -> None:
    """Create the SQLite file owner-only if it is missing; tighten it and its -wal/-shm."""
    if str(name) in {"", ":memory:"} or str(name).startswith("file:"):
        return
    path = Path(name)
    if not path.parent.is_dir():
        return  # SQLite will fail to open it with its own clear error
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            owner_only(existing)


def is_public_host(host: str) -> bool:
    """Whether an ALLOWED_HOSTS entry names anything beyond this machine."""
    host = host.strip().lower()
    return host not in {"localhost", "127.0.0.1", "::1", "[::1]", ".localhost", "testserver"}


def check_bridge_mint(permissions: list[str]) -> None:
    """WS_BRIDGE_MINT_PERMISSIONS: catalogue names only, and never admin or gameserver."""
    from accounts.permissions import ADMIN, CATALOGUE, GAMESERVER  # plain Python, no Django

    for name in permissions:
        if name in (ADMIN, GAMESERVER):
            raise ImproperlyConfigured(
                f"WS_BRIDGE_MINT_PERMISSIONS may not list {name!r}: the game server's bridge "
                "never mints admin or gameserver tokens"
            )
        if name not in CATALOGUE:
            raise ImproperlyConfigured(
                f"WS_BRIDGE_MINT_PERMISSIONS lists unknown permission {name!r}; "
                f"known: {', '.join(CATALOGUE)}"
            )
