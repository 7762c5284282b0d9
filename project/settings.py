"""Django settings, read from the environment (see README, "Configuration")."""

import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project import config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = config.env_bool("DEBUG", True)
ALLOWED_HOSTS = config.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name this server's host when DEBUG is off")
if DEBUG and any(config.is_public_host(h) for h in ALLOWED_HOSTS) and not config.env_bool(
    "DEBUG_ALLOW_PUBLIC", False
):
    raise ImproperlyConfigured(
        "DEBUG is on while ALLOWED_HOSTS names a public host "
        f"({', '.join(ALLOWED_HOSTS)}): set DEBUG=false for a public server"
    )

# The WebSocket resource's convars, as environment variables.
WS_PORT = config.env_int("WS_PORT", 3001, minimum=1)
WS_JWT_SECRET = config.jwt_secret(DEBUG, BASE_DIR / ".local-secret")
# Django's own key: DJANGO_SECRET_KEY, else derived one-way (HMAC) from WS_JWT_SECRET.
SECRET_KEY = config.django_secret_key(WS_JWT_SECRET)

WS_AUTH_TIMEOUT = config.env_float("WS_AUTH_TIMEOUT", 10.0, minimum=0.1)
WS_MAX_FRAME_BYTES = config.env_int("WS_MAX_FRAME_BYTES", 64 * 1024, minimum=256)
WS_TOKEN_LEEWAY = config.env_int("WS_TOKEN_LEEWAY", 30)
WS_DEFAULT_TOKEN_LIFETIME = config.env_str("WS_DEFAULT_TOKEN_LIFETIME", "24h")
WS_MAX_TOKEN_LIFETIME = config.env_str("WS_MAX_TOKEN_LIFETIME", "365d")
# How long a dead process's clients may still be listed by get_connected_clients().
WS_PRESENCE_TTL = config.env_float("WS_PRESENCE_TTL", 15.0, minimum=2.0)
# The connected-client list pushed to the game server's bridge (the synchronous
# getConnectedClients/sendToClient exports): at most one push per this many seconds per
# process, so a burst of connections costs a few pushes, not one per socket.
WS_CLIENT_LIST_PUSH_INTERVAL = config.env_float("WS_CLIENT_LIST_PUSH_INTERVAL", 0.1, minimum=0.0)
WS_ALLOWED_ORIGINS = config.env_list("WS_ALLOWED_ORIGINS", [])
WS_REQUIRE_ORIGIN = config.env_bool("WS_REQUIRE_ORIGIN", False)
# Only tokens in the issued-token registry authenticate (docs/SECURITY.md, "Tokens"): on by
# default in production, off in development so spec-format tokens from any JWT library work.
WS_REQUIRE_REGISTERED_TOKENS = config.env_bool("WS_REQUIRE_REGISTERED_TOKENS", not DEBUG)
# The audience (``aud``) every token this platform mints carries; a token naming another
# audience is refused, one with none (the spec's own payload) is accepted.
WS_JWT_AUDIENCE = config.env_str("WS_JWT_AUDIENCE", "fivem-platform")
# Longest a cached principal or token state may outlive a change the signals missed
# (QuerySet.update, raw SQL); 0 turns the cache off (one query per auth).
WS_ACCESS_CACHE_TTL = config.env_int("WS_ACCESS_CACHE_TTL", 300)
# Without Redis, how often each server process polls the access change feed for
# revocations and rights changes committed by other processes (commands, shells); 0: never.
WS_ACCESS_FEED_POLL = config.env_float("WS_ACCESS_FEED_POLL", 0.5)
# What the game server's bridge may mint with generateToken (docs/SECURITY.md, "Who can
# mint what"): only for these usernames (never staff), only these permissions (never admin
# or gameserver), never for longer than this. Empty lists: the bridge mints nothing.
WS_BRIDGE_MINT_SUBJECTS = config.env_list("WS_BRIDGE_MINT_SUBJECTS", [])
WS_BRIDGE_MINT_PERMISSIONS = config.env_list("WS_BRIDGE_MINT_PERMISSIONS", [])
WS_BRIDGE_MINT_MAX_LIFETIME = config.env_str("WS_BRIDGE_MINT_MAX_LIFETIME", "1h")
config.check_bridge_mint(WS_BRIDGE_MINT_PERMISSIONS)
# Each bridge account's signing key (the resource's synchronous generateToken; docs/
# SECURITY.md, "Bridge signing keys"): a new one after this long; a connected bridge's key
# is re-checked (rotated, revoked) at least every WS_BRIDGE_KEY_CHECK seconds.
WS_BRIDGE_KEY_ROTATION = config.env_str("WS_BRIDGE_KEY_ROTATION", "24h")
WS_BRIDGE_KEY_CHECK = config.env_float("WS_BRIDGE_KEY_CHECK", 60.0, minimum=0.5)
# An issued token's last_used_at is written at most once per this many seconds.
WS_TOKEN_USED_INTERVAL = config.env_int("WS_TOKEN_USED_INTERVAL", 60, minimum=1)
# How long an admin command waits for the game server to answer.
WS_COMMAND_TIMEOUT = config.env_float("WS_COMMAND_TIMEOUT", 10.0, minimum=0.1)
# How long a command's idempotency key (HTTP Idempotency-Key, socket idempotencyKey) is kept:
# a retry with the same key within it gets the first answer (realtime/idempotency.py).
WS_IDEMPOTENCY_WINDOW = config.env_str("WS_IDEMPOTENCY_WINDOW", "24h")
# Bounds of the job catalogue (docs/SECURITY.md, "Bounds on what one account can make the
# platform hold"): the whole catalogue goes to the game server in one frame, and the FiveM
# resource accepts frames of at most 16 MiB (fivem/server/lib/connection.js, maxPayload).
WS_MAX_JOBS = config.env_int("WS_MAX_JOBS", 500, minimum=1)
WS_MAX_JOB_GRADES = config.env_int("WS_MAX_JOB_GRADES", 50, minimum=1)
WS_MAX_JOBS_BYTES = config.env_int("WS_MAX_JOBS_BYTES", 4 * 1024 * 1024, minimum=64 * 1024)
# tokenExpiring is sent this many seconds before a token expires.
WS_TOKEN_EXPIRY_WARNING = config.env_float("WS_TOKEN_EXPIRY_WARNING", 60.0)
# Event history (docs/PROTOCOL.md, "Positions and recovery"): every broadcast gets a
# position, and a client that reconnects with `since` gets what it missed from the last
# WS_HISTORY_SIZE broadcasts no older than WS_HISTORY_TTL seconds. In Redis (a stream)
# with REDIS_URL, else in the process. WS_HISTORY_SIZE=0 turns positions and history off.
WS_HISTORY_SIZE = config.env_int("WS_HISTORY_SIZE", 1000)
WS_HISTORY_TTL = config.env_float("WS_HISTORY_TTL", 600.0, minimum=1.0)

# Hardening (docs/SECURITY.md lists every one with its meaning).
# Token buckets per socket and event class: "N/window" (e.g. 5/1s, 3/5s); "0" = no limit.
WS_RATE_AUTH = config.env_str("WS_RATE_AUTH", "3/5s")
WS_RATE_READ = config.env_str("WS_RATE_READ", "60/1s")
WS_RATE_COMMAND = config.env_str("WS_RATE_COMMAND", "5/1s")
# Commands of one user across all their sockets in this process (a second bucket).
WS_RATE_COMMAND_PER_USER = config.env_str("WS_RATE_COMMAND_PER_USER", "10/1s")
# Refused frames a socket may send before it is closed for flooding (4029).
WS_RATE_FLOOD = config.env_str("WS_RATE_FLOOD", "50/10s")
# Holders of these permissions are not rate limited (the game server's bridge).
WS_RATE_EXEMPT = config.env_list("WS_RATE_EXEMPT", ["gameserver"])
WS_MAX_SOCKETS_PER_USER = config.env_int("WS_MAX_SOCKETS_PER_USER", 32)
WS_MAX_SOCKETS_PER_ADDRESS = config.env_int("WS_MAX_SOCKETS_PER_ADDRESS", 64)
# Bytes a client may leave unread before it is cut off (4008).
WS_MAX_OUTBOUND_BYTES = config.env_int("WS_MAX_OUTBOUND_BYTES", 1024 * 1024, minimum=16 * 1024)
# Seconds an authenticated socket may stay silent before it is closed (4010); 0 = never.
WS_IDLE_TIMEOUT = config.env_float("WS_IDLE_TIMEOUT", 0.0)
# Slowloris bounds of `serve` (uvicorn): seconds to send a request's headers, and TCP
# connections per client address per process (every kind; above the socket cap); 0 = off.
WS_HEADER_TIMEOUT = config.env_float("WS_HEADER_TIMEOUT", 10.0)
WS_MAX_CONNECTIONS_PER_ADDRESS = config.env_int("WS_MAX_CONNECTIONS_PER_ADDRESS", 256)
WS_TRUST_PROXY_HEADERS = config.env_bool("WS_TRUST_PROXY_HEADERS", False)
WS_TRUSTED_PROXIES = config.env_list("WS_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
WS_TLS_CERT = config.env_str("WS_TLS_CERT")
WS_TLS_KEY = config.env_str("WS_TLS_KEY")
if bool(WS_TLS_CERT) != bool(WS_TLS_KEY):
    raise ImproperlyConfigured("WS_TLS_CERT and WS_TLS_KEY must be set together")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "axes",
    # Two-factor sign-in for staff (TOTP): accounts/middleware.py, webui/views.py.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "realtime",
    "game",
    "webui",
    "webhooks",
]

MIDDLEWARE = [
    # CORS for the HTTP API only (CORS_URLS_REGEX), before anything that may answer.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session gave a two-factor code.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The sign-in code, a first-login password change, a required enrolment come before
    # any other page (accounts/middleware.py).
    "accounts.middleware.RequiredStepsMiddleware",
    # After authentication: turns a locked-out login into django-axes' lockout response
    # (the middlewares around it still add their headers to that response).
    "axes.middleware.AxesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "project.csp.ContentSecurityPolicyMiddleware",
]

# The HTTP API's own middleware (project/api_asgi.py): bearer tokens, JSON, no sessions.
API_MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "project.api_asgi.InlineSecurityMiddleware",
]

# Staff log in with Django's authentication; django-axes throttles failed logins.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After AXES_FAILURE_LIMIT failed logins for one username from one address, that pair is
# locked out for AXES_COOLOFF_TIME (hours; 429 response); after AXES_ADDRESS_FAILURE_LIMIT
# from one address (any usernames), the address. Never the username alone: anyone could
# then lock the real admin out (accounts/lockout.py).
AXES_FAILURE_LIMIT = config.env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_ADDRESS_FAILURE_LIMIT = config.env_int("AXES_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
AXES_COOLOFF_TIME = config.env_float("AXES_COOLOFF_TIME", 0.25, minimum=0.001)
AXES_HANDLER = "accounts.lockout.PairAndAddressHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Client address: REMOTE_ADDR, which the server sets from X-Forwarded-For only with
# WS_TRUST_PROXY_HEADERS (see `serve`): a client cannot pick its own address.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": config.database_from_url(config.env_str("DATABASE_URL"), BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = config.env_str("REDIS_URL")
# Namespace of every Redis key the platform writes (channel layer, cache, presence), so
# that several platforms (or test runs) can share one Redis.
WS_REDIS_PREFIX = config.env_str("WS_REDIS_PREFIX", "fivem")
# channels-redis's pub/sub layer by default: measured (bench/layers.py) about 5x lower
# latency and 8x the broadcast rate of its core layer here, and the hub needs no queueing:
# a message for a process that is gone has nobody left to deliver it to.
WS_CHANNEL_LAYER = config.env_str("WS_CHANNEL_LAYER", "pubsub")
_LAYERS = {
    "pubsub": ("channels_redis.pubsub.RedisPubSubChannelLayer", {}),
    "core": ("channels_redis.core.RedisChannelLayer", {"capacity": 5000, "expiry": 30}),
}
if WS_CHANNEL_LAYER not in _LAYERS:
    raise ImproperlyConfigured(f"WS_CHANNEL_LAYER must be pubsub or core, not {WS_CHANNEL_LAYER!r}")
if REDIS_URL:
    _backend, _options = _LAYERS[WS_CHANNEL_LAYER]
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": _backend,
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{WS_REDIS_PREFIX}:asgi", **_options},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": WS_REDIS_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10000}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = config.env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Staff sign in to the web admin (webui) at /login/; Django admin keeps its own login.
LOGIN_URL = "webui:login"
LOGIN_REDIRECT_URL = "webui:dashboard"
# Two-factor: superusers without a confirmed TOTP device are sent to enrolment first.
WS_REQUIRE_2FA_SUPERUSERS = config.env_bool("WS_REQUIRE_2FA_SUPERUSERS", False)
OTP_TOTP_ISSUER = "FiveM Admin"
# django-otp's throttling: after n wrong codes in a row, no code is checked for
# OTP_TOTP_THROTTLE_FACTOR * 2**(n-1) seconds (a right code resets it).
OTP_TOTP_THROTTLE_FACTOR = 1
# Django admin never shows the key (or QR code) of an existing device (webui/admin.py).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LOGOUT_REDIRECT_URL = "webui:login"
# Lifetime of the socket tokens the web admin's pages get (renewed on tokenExpiring).
WEBUI_TOKEN_LIFETIME = config.env_str("WEBUI_TOKEN_LIFETIME", "15m")
# /session-token/ requests per user (every process, with Redis); a still-fresh token is
# answered again, so page loads do not add rows: this only stops a script hammering it.
WEBUI_SESSION_TOKEN_RATE = config.env_str("WEBUI_SESSION_TOKEN_RATE", "30/1m")
# Expired token-registry rows are deleted this long after expiry, by every server process
# every WS_TOKEN_PURGE_INTERVAL seconds (0: never; manage.py ws_purge_tokens does it by hand).
WS_TOKEN_PURGE_AFTER = config.env_str("WS_TOKEN_PURGE_AFTER", "7d")
WS_TOKEN_PURGE_INTERVAL = config.env_float("WS_TOKEN_PURGE_INTERVAL", 3600.0)

# Tokens: HS256 only, signed with WS_JWT_SECRET (never SECRET_KEY). Claims follow the spec
# (sub, permissions, iat, exp) plus jti; see realtime/tokens.py.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": WS_JWT_SECRET,
    "VERIFYING_KEY": None,
    "LEEWAY": WS_TOKEN_LEEWAY,
    "USER_ID_FIELD": "username",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "UPDATE_LAST_LOGIN": False,
}

# HTTP security (docs/SECURITY.md). Headers everywhere; cookie and HSTS settings bite in
# production (HSTS is only ever sent over HTTPS, served here or by a trusted proxy).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = config.env_str("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = config.env_bool("SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = config.env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = config.env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = config.env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = config.env_bool("SECURE_SSL_REDIRECT", False)
CONTENT_SECURITY_POLICY = config.env_str("CONTENT_SECURITY_POLICY", "") or None
if CONTENT_SECURITY_POLICY is None:
    from project.csp import DEFAULT_POLICY as CONTENT_SECURITY_POLICY
CONTENT_SECURITY_POLICY_REPORT_ONLY = config.env_bool("CONTENT_SECURITY_POLICY_REPORT_ONLY", False)
CSRF_TRUSTED_ORIGINS = config.env_list("CSRF_TRUSTED_ORIGINS", [])

# CORS for browser dashboards on other origins calling the HTTP API (/api/ only): an
# allow-list, empty (off) by default. Bearer tokens, never cookies: no credentials mode.
CORS_ALLOWED_ORIGINS = config.env_list("API_CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "idempotency-key")
CORS_EXPOSE_HEADERS = ("Retry-After", "Idempotent-Replayed")
CORS_PREFLIGHT_MAX_AGE = 600
# Webhooks (docs/OPERATIONS.md, "Webhooks"; docs/SECURITY.md, "Webhooks").
# Each server process runs a sender unless WS_WEBHOOK_SENDER=false.
WS_WEBHOOK_SENDER = config.env_bool("WS_WEBHOOK_SENDER", True)
WS_WEBHOOK_TIMEOUT = config.env_float("WS_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
# Retries: exponential backoff from WS_WEBHOOK_RETRY_BASE seconds with jitter, for
# WS_WEBHOOK_RETRY_FOR seconds after the event (a day), then the delivery is given up.
WS_WEBHOOK_RETRY_BASE = config.env_float("WS_WEBHOOK_RETRY_BASE", 5.0, minimum=0.01)
WS_WEBHOOK_RETRY_MAX = config.env_float("WS_WEBHOOK_RETRY_MAX", 3600.0, minimum=0.01)
WS_WEBHOOK_RETRY_FOR = config.env_float("WS_WEBHOOK_RETRY_FOR", 86400.0, minimum=0.0)
# A claimed delivery is another process's again after this long (its sender died).
WS_WEBHOOK_LEASE = config.env_float("WS_WEBHOOK_LEASE", 60.0, minimum=1.0)
if WS_WEBHOOK_LEASE <= WS_WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured(
        f"WS_WEBHOOK_LEASE ({WS_WEBHOOK_LEASE:g}s) must be longer than WS_WEBHOOK_TIMEOUT "
        f"({WS_WEBHOOK_TIMEOUT:g}s): a delivery still in flight would be taken and sent again"
    )
WS_WEBHOOK_POLL = config.env_float("WS_WEBHOOK_POLL", 1.0, minimum=0.01)
WS_WEBHOOK_CONCURRENCY = config.env_int("WS_WEBHOOK_CONCURRENCY", 16, minimum=1)
# Private, loopback, link-local ... addresses webhooks may reach anyway (CIDR networks or
# addresses); none by default (the SSRF guard).
WS_WEBHOOK_ALLOW_PRIVATE = config.env_list("WS_WEBHOOK_ALLOW_PRIVATE", [])
for _network in WS_WEBHOOK_ALLOW_PRIVATE:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"WS_WEBHOOK_ALLOW_PRIVATE: {_network!r} is not an address or CIDR network"
        ) from None
# The key endpoint secrets are encrypted with at rest; empty: derived from SECRET_KEY.
WS_WEBHOOK_KEY = config.env_str("WS_WEBHOOK_KEY", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": config.env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"}, "axes": {"level": "WARNING"},
        # httpx logs every request's URL at INFO: a Discord webhook URL is a credential.
        "httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"},
    },
}
