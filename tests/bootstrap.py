"""Loaded first (pytest -p): a random token secret for this run, never the developer's."""

import os
import secrets

os.environ.setdefault("WS_JWT_SECRET", secrets.token_urlsafe(48))
os.environ.setdefault("DEBUG", "true")
