#!/usr/bin/env python3
"""Set-up and start, on a fresh machine with only Python 3.11+.

    python3 run.py            start the platform on its defaults (port 3001)
    python3 run.py test       run the whole test suite (extra arguments go to pytest)

Both make ./.venv, install what requirements*.txt ask (pinned by constraints.txt) when
it changed, and migrate the database; ``start`` also creates the first staff superuser
(its password is printed once) and serves HTTP and the WebSocket on WS_PORT.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def sh(*args: str | os.PathLike, **kwargs) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, **kwargs)
    if result.returncode:
        sys.exit(result.returncode)


def ensure_venv(requirements: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed")
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = [ROOT / requirements, ROOT / "requirements.txt", ROOT / "constraints.txt"]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files if f.exists())).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing {requirements} ...", flush=True)
    sh(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "pip")
    sh(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
       "-r", requirements, "-c", "constraints.txt")
    stamp.write_text(digest)


def manage(*args: str) -> None:
    sh(PY, "manage.py", *args)


def start(argv: list[str]) -> None:
    ensure_venv("requirements.txt")
    manage("migrate", "--noinput", "-v", "0")
    port = os.environ.get("WS_PORT", "3001")
    manage("ensure_superuser", "--url", f"http://localhost:{port}/")
    print(f"web admin: http://localhost:{port}/   Django admin: http://localhost:{port}/admin/   "
          f"socket: ws://localhost:{port}", flush=True)
    os.execv(PY, [str(PY), "manage.py", "serve", *argv])


def test(argv: list[str]) -> None:
    ensure_venv("requirements-dev.txt")
    os.execv(PY, [str(PY), "-m", "pytest", *argv])


if __name__ == "__main__":
    os.chdir(ROOT)
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("start", [])
    if command == "start":
        start(rest)
    elif command == "test":
        test(rest)
    else:
        sys.exit(__doc__)
