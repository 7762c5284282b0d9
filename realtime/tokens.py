"""The socket's JWTs: HS256, signed with WS_JWT_SECRET, in the spec's payload format.

Payload: ``sub`` (username), ``permissions`` (list), ``iat``, ``exp``, ``jti`` and ``aud``
(WS_JWT_AUDIENCE; optional on the way in, refused when it names another audience). Tokens
minted by any standard JWT library with the secret and the spec's claims are accepted;
``token_type`` is optional, but when present it must be ``ws`` (a simplejwt ``refresh`` or
``access`` token of some other app is refused).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from realtime.protocol import InvalidToken

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """``"30s"``, ``"15m"``, ``"24h"``, ``"7d"``, ``"2w"`` or plain seconds, as a timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("a duration must be like 30s, 15m, 24h, 7d or a number of seconds")
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(
            f"invalid duration {value!r}: use 30s, 15m, 24h, 7d, 2w or a number of seconds"
        )
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, not {value!r}")
    return timedelta(seconds=seconds)


MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the largest time datetime can hold


class WSToken(Token):
    """A socket token; simplejwt checks signature, algorithm, ``exp`` and leeway."""

    token_type = "ws"
    lifetime = timedelta(hours=24)

    def verify(self) -> None:
        for name in ("exp", "iat", "nbf"):
            # A validly signed token with a time claim of the wrong type or an absurd size
            # (a string, a bool, 1e308) is an invalid token, not an internal error.
            value = self.payload.get(name)
            if value is None and name != "exp":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= MAX_EPOCH
            ):
                raise TokenError(f"Token {name} must be a number of seconds since the epoch")
        self.check_exp()
        claim = api_settings.TOKEN_TYPE_CLAIM
        if claim in self.payload and self.payload[claim] != self.token_type:
            raise TokenError("Token has wrong type")
        sub = self.payload.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenError("Token has no subject")
        permissions = self.payload.get("permissions", [])
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise TokenError("Token permissions must be a list of strings")
        jti = self.payload.get("jti")
        if jti is not None and not isinstance(jti, str):
            raise TokenError("Token jti must be a string")
        if "aud" in self.payload and not _names_us(self.payload["aud"]):
            # A token minted for another service that shares the secret is not ours.
            raise TokenError("Token has wrong audience")


def _names_us(aud: object) -> bool:
    """Whether an ``aud`` claim (a string or a list of strings, RFC 7519) names this platform."""
    ours = settings.WS_JWT_AUDIENCE
    if isinstance(aud, str):
        return aud == ours
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and ours in aud


def mint(sub: str, permissions: list[str], expires_in: str | int | timedelta) -> WSToken:
    """A new signed token (not registered; see realtime.api.generate_token)."""
    lifetime = parse_duration(expires_in)
    if lifetime > parse_duration(settings.WS_MAX_TOKEN_LIFETIME):
        raise ValueError(f"expiry {expires_in!r} is longer than WS_MAX_TOKEN_LIFETIME")
    token = WSToken()
    token.set_exp(lifetime=lifetime)
    token["sub"] = sub
    token["permissions"] = list(permissions)
    token["aud"] = settings.WS_JWT_AUDIENCE
    return token


def resign(sub: str, permissions: list[str], jti: str, issued_at: datetime, expires_at: datetime) -> WSToken:
    """A registered token signed again from its registry row's claims (the text is never
    stored): the same subject, permissions, jti, ``iat`` and ``exp``."""
    token = WSToken()
    token.payload.update(
        exp=int(expires_at.timestamp()), iat=int(issued_at.timestamp()), jti=jti,
        sub=sub, permissions=list(permissions), aud=settings.WS_JWT_AUDIENCE,
    )
    return token


def verify(raw: object) -> dict:
    """The verified payload of a token string, or :class:`InvalidToken`."""
    if not isinstance(raw, str) or not raw or len(raw) > 8192:
        raise InvalidToken()
    try:
        return WSToken(raw).payload
    except (TokenError, OverflowError, ValueError, TypeError):
        raise InvalidToken() from None
