"""Limits on what one socket, one user and one address may take from a server process.

Rate limits follow Pterodactyl Wings: every socket has a token bucket per event class
(``auth``, ``read``, ``command``: the ``rate`` of each registered event). A refused frame
gets one ``rate_limited`` error per throttled period (a run of refusals with gaps shorter
than the rate's window); the others of that period are dropped without a reply. Every
refused frame also takes a token from the socket's *flood* bucket; a socket that empties
it keeps flooding after being told, and is closed with CLOSE_RATE_LIMITED.

Socket caps are counted per process (see docs/SECURITY.md): sockets that have not
authenticated yet count against their address, authenticated ones against their user.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

RATE_CLASSES = ("auth", "read", "command")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def clock() -> float:
    """Monotonic seconds (a module function so that tests can step time)."""
    return time.monotonic()


@dataclass(frozen=True)
class Rate:
    """``count`` frames per ``window`` seconds, with bursts of up to ``count``."""

    count: int
    window: float

    @classmethod
    def parse(cls, text: str, name: str = "rate") -> Rate:
        """``"5/1s"``, ``"3/5s"``, ``"100/1m"`` (``"0/1s"`` or ``"0"`` means unlimited)."""
        if text.strip() in {"0", ""}:
            return cls(0, 1.0)
        match = _RATE.match(text)
        if not match:
            raise ImproperlyConfigured(f"{name} must look like 5/1s, 3/5s or 100/1m, not {text!r}")
        amount = float(match.group(2) or 1) * _UNIT[match.group(3)]
        if amount <= 0:
            raise ImproperlyConfigured(f"{name}: the window must be positive, not {text!r}")
        return cls(int(match.group(1)), amount)

    @property
    def unlimited(self) -> bool:
        return self.count == 0

    def __str__(self) -> str:
        return "unlimited" if self.unlimited else f"{self.count}/{self.window:g}s"


class TokenBucket:
    """Holds up to ``rate.count`` tokens, refilled continuously at count/window per second."""

    __slots__ = ("capacity", "refill", "tokens", "stamp", "window")

    def __init__(self, rate: Rate, now: float) -> None:
        self.window = rate.window
        self.capacity = float(rate.count)
        self.refill = rate.count / rate.window
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token (as of the last take)."""
        return max(0.0, (1.0 - self.tokens) / self.refill)


class Verdict(Enum):
    ALLOW = "allow"
    REPORT = "report"  # refused; the first of its throttled period: answer rate_limited
    DROP = "drop"  # refused again in the same period: no answer
    CLOSE = "close"  # persistent flooding: close the socket


class ConnectionLimiter:
    """One socket's buckets, one per event class, and its flood bucket."""

    def __init__(self, rates: dict[str, Rate], flood: Rate) -> None:
        now = clock()
        self.rates = rates
        self.buckets = {
            name: TokenBucket(rate, now) for name, rate in rates.items() if not rate.unlimited
        }
        self.flood = None if flood.unlimited else TokenBucket(flood, now)
        self.throttled_until: dict[str, float] = {}
        self.exempt = False
        self.shared: dict[str, TokenBucket] = {}  # the user's buckets, shared by their sockets
        self.remote_wait = 0.0  # what the user's Redis bucket said, when it refused

    @classmethod
    def from_settings(cls) -> ConnectionLimiter:
        """A limiter with the WS_RATE_* settings in force now."""
        return cls(
            {name: Rate.parse(getattr(settings, f"WS_RATE_{name.upper()}"), name) for name in RATE_CLASSES},
            Rate.parse(settings.WS_RATE_FLOOD, "WS_RATE_FLOOD"),
        )

    def check(self, rate_class: str) -> Verdict:
        """Whether a frame of ``rate_class`` may be handled now."""
        bucket = self.buckets.get(rate_class)
        shared = self.shared.get(rate_class)
        if (bucket is None and shared is None) or self.exempt:
            return Verdict.ALLOW
        now = clock()
        if (bucket is None or bucket.take(now)) and (shared is None or shared.take(now)):
            return Verdict.ALLOW
        return self.refuse(rate_class, max(b.window for b in (bucket, shared) if b is not None))

    def refuse(self, rate_class: str, window: float, wait: float = 0.0) -> Verdict:
        """The verdict on a refused frame of ``rate_class`` (whichever bucket refused it;
        ``wait``: how long a bucket kept elsewhere, in Redis, said to wait)."""
        now = clock()
        self.remote_wait = wait
        if self.flood is not None and not self.flood.take(now):
            return Verdict.CLOSE
        # A period lasts while refusals keep coming less than one window apart.
        until = self.throttled_until.get(rate_class, 0.0)
        self.throttled_until[rate_class] = now + window
        return Verdict.DROP if now < until else Verdict.REPORT

    def retry_after(self, rate_class: str) -> float:
        """Seconds until a frame of ``rate_class`` would be accepted again."""
        waits = [b.wait() for b in (self.buckets.get(rate_class), self.shared.get(rate_class)) if b is not None]
        waits.append(self.remote_wait)
        return round(max(waits), 3)


# GCRA (the generic cell rate algorithm) in one atomic step on Redis's own clock, so every
# process and host agrees: a bucket of ARGV[2] seconds that refills one token every ARGV[1]
# seconds is a "theoretical arrival time" per key. Answers 0 (allowed) or seconds to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + interval
if new - now > window then return tostring(new - now - window) end
redis.call('SET', KEYS[1], tostring(new), 'PX', math.ceil(window * 1000) + 1000)
return '0'
"""


class UserBuckets:
    """The per-user command bucket (``WS_RATE_COMMAND_PER_USER``), shared by every socket of
    a user: commands are limited per user, not only per socket. Without Redis it is this
    process's (one TokenBucket per user, taken in ``ConnectionLimiter.check``); with Redis
    it is one bucket for the user across every process (:meth:`take_shared`, GCRA)."""

    def __init__(self, shared: bool = False) -> None:
        self.buckets: dict[object, TokenBucket] = {}
        self.shared = shared
        self._script = None

    def rate(self) -> Rate:
        return Rate.parse(settings.WS_RATE_COMMAND_PER_USER, "WS_RATE_COMMAND_PER_USER")

    async def take_shared(self, user_id: object) -> float:
        """Spend one command of ``user_id`` from the Redis bucket: 0 if allowed, else the
        seconds to wait. A Redis failure allows the command (the socket's own bucket still
        holds) and is logged: an outage must not stop moderators."""
        rate = self.rate()
        if rate.unlimited:
            return 0.0
        from realtime.presence import redis_client, redis_key

        try:
            client = redis_client()
            if self._script is None or self._script.registered_client is not client:
                self._script = client.register_script(_GCRA)
            wait = await self._script(keys=[redis_key(f"rate:user:{user_id}")],
                                      args=[rate.window / rate.count, rate.window])
            return float(wait)
        except Exception:  # noqa: BLE001
            log.warning("the per-user command bucket in Redis failed; allowing", exc_info=True)
            return 0.0

    def for_user(self, user_id: object) -> dict[str, TokenBucket]:
        """This process's shared buckets of ``user_id``, by event class (none when the rate is
        off, or when the bucket is kept in Redis)."""
        rate = self.rate()
        if rate.unlimited or self.shared:
            return {}
        bucket = self.buckets.get(user_id)
        if bucket is None or bucket.window != rate.window or bucket.capacity != rate.count:
            bucket = self.buckets[user_id] = TokenBucket(rate, clock())
        return {"command": bucket}


def cache_window(key: str, rate: Rate) -> float:
    """Count one hit of ``key`` in the current window of ``rate`` in Django's cache (shared
    by every process with Redis); 0 if it is within the rate, else the seconds until the
    window turns. For HTTP endpoints, off the socket's hot path."""
    from django.core.cache import cache

    if rate.unlimited:
        return 0.0
    now = time.time()
    window = int(now // rate.window)
    slot = f"rate:{key}:{window}"
    cache.add(slot, 0, timeout=int(rate.window) + 1)
    try:
        hits = cache.incr(slot)
    except ValueError:  # expired between add and incr: a new window
        cache.add(slot, 1, timeout=int(rate.window) + 1)
        hits = 1
    if hits <= rate.count:
        return 0.0
    return round((window + 1) * rate.window - now, 3)


class SocketCounts:
    """This process's sockets, counted per address (not yet authenticated) and per user."""

    def __init__(self) -> None:
        self.counters: dict[str, Counter] = {"address": Counter(), "user": Counter()}

    def add(self, kind: str, key: object, cap: int) -> bool:
        """Count one more socket of ``key`` ("address" or "user"); False when at ``cap`` (0: none)."""
        counter = self.counters[kind]
        if cap and counter[key] >= cap:
            return False
        counter[key] += 1
        return True

    def remove(self, kind: str, key: object) -> None:
        counter = self.counters[kind]
        counter[key] -= 1
        if counter[key] <= 0:
            del counter[key]


@register(Tags.security)
def check_rates(app_configs, **kwargs) -> list[Error]:  # noqa: ANN001
    """System check: every rate setting parses, and so does WS_TOKEN_PURGE_AFTER."""
    from realtime.tokens import parse_duration

    errors = []
    for name in [f"WS_RATE_{c.upper()}" for c in RATE_CLASSES] + [
        "WS_RATE_FLOOD", "WS_RATE_COMMAND_PER_USER", "WEBUI_SESSION_TOKEN_RATE",
    ]:
        try:
            Rate.parse(getattr(settings, name), name)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id="realtime.E001"))
    try:
        parse_duration(settings.WS_TOKEN_PURGE_AFTER)
    except ValueError as exc:
        errors.append(Error(f"WS_TOKEN_PURGE_AFTER: {exc}", id="realtime.E002"))
    return errors
