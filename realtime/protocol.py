"""The envelope of every frame, the error codes and the close codes of the socket.

Every frame is ``{event, data?, requestId?}``. Errors are raised anywhere as
:class:`ProtocolError` subclasses and turned into ``{event: "error", data: {message,
code}}`` frames in one place, the consumer's dispatcher.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Close codes (RFC 6455 private range 4000-4999 for the platform's own; 1009 is standard).
CLOSE_INVALID_TOKEN = 4001
CLOSE_AUTH_TIMEOUT = 4002
CLOSE_ACCESS_REVOKED = 4003
CLOSE_TOKEN_EXPIRED = 4004
CLOSE_SLOW_CONSUMER = 4008
CLOSE_TOO_MANY_SOCKETS = 4009
CLOSE_IDLE_TIMEOUT = 4010
CLOSE_BRIDGE_REPLACED = 4011
CLOSE_RATE_LIMITED = 4029
CLOSE_SERVER_SHUTDOWN = 1012  # sent by uvicorn itself when it stops (RFC 6455 "service restart")

CLOSE_CODES = {
    CLOSE_INVALID_TOKEN: "auth was refused (Invalid token)",
    CLOSE_AUTH_TIMEOUT: "no successful auth within WS_AUTH_TIMEOUT seconds",
    CLOSE_ACCESS_REVOKED: "the token was revoked or its user deactivated",
    CLOSE_TOKEN_EXPIRED: "the token expired and no new one was sent",
    CLOSE_SLOW_CONSUMER: "the client stopped reading and its outbound queue filled up",
    CLOSE_TOO_MANY_SOCKETS: "the user already has WS_MAX_SOCKETS_PER_USER sockets open",
    CLOSE_IDLE_TIMEOUT: "an authenticated socket sent nothing for too long",
    CLOSE_BRIDGE_REPLACED: "a newer bridge of the same game server sent its snapshot (after bridgeReplaced)",
    CLOSE_RATE_LIMITED: "persistent flooding after rate_limited errors",
    CLOSE_SERVER_SHUTDOWN: "the server process is stopping or restarting",
}

Envelope = dict[str, Any]


class ProtocolError(Exception):
    """An error reported to the client as an ``error`` frame; the socket stays open."""

    code = "error"
    default_message = "Error"
    close_code: int | None = None  # when set, the socket is closed after the error frame

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def as_data(self) -> dict[str, Any]:
        """The ``data`` of the error frame."""
        return {"message": self.message, "code": self.code, **self.details}


class InvalidMessage(ProtocolError):
    code = "invalid_message"
    default_message = "Invalid message"


class FrameTooLarge(ProtocolError):
    code = "frame_too_large"
    default_message = "Frame too large"


class InvalidToken(ProtocolError):
    code = "invalid_token"
    default_message = "Invalid token"
    close_code = CLOSE_INVALID_TOKEN


class NotAuthenticated(ProtocolError):
    code = "not_authenticated"
    default_message = "Not authenticated"


class PermissionDenied(ProtocolError):
    code = "permission_denied"
    default_message = "Permission denied"


class UnknownEvent(ProtocolError):
    code = "unknown_event"
    default_message = "Unknown event"


class InvalidPayload(ProtocolError):
    code = "invalid_payload"
    default_message = "Invalid payload"


class NotFound(ProtocolError):
    code = "not_found"
    default_message = "Not found"


class Conflict(ProtocolError):
    code = "conflict"
    default_message = "Conflict"


class GameServerOffline(ProtocolError):
    code = "game_server_offline"
    default_message = "The game server is offline"


class CommandFailed(ProtocolError):
    code = "command_failed"
    default_message = "The game server could not carry out the command"


class RateLimited(ProtocolError):
    code = "rate_limited"
    default_message = "Too many requests"


class TooManySockets(ProtocolError):
    code = "too_many_sockets"
    default_message = "Too many sockets open for this user"
    close_code = CLOSE_TOO_MANY_SOCKETS


class ServiceUnavailable(ProtocolError):
    code = "service_unavailable"
    default_message = "The platform cannot answer right now; try again"


class InternalError(ProtocolError):
    code = "internal_error"
    default_message = "Internal error"


ERROR_CODES = {
    cls.code: cls.default_message
    for cls in (
        InvalidMessage,
        FrameTooLarge,
        InvalidToken,
        NotAuthenticated,
        PermissionDenied,
        UnknownEvent,
        InvalidPayload,
        NotFound,
        Conflict,
        GameServerOffline,
        CommandFailed,
        RateLimited,
        TooManySockets,
        ServiceUnavailable,
        InternalError,
    )
}

_NO_REQUEST_ID = object()


class RawJSON(str):
    """A ``data`` already encoded as JSON (e.g. a memoised player list), spliced into the
    frame as it is instead of being encoded again for every request."""


def to_json(value: Any) -> str:
    """Compact JSON, as every frame is written."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode(event: str, data: Any = None, request_id: Any = _NO_REQUEST_ID, position: dict | None = None) -> str:
    """One frame's JSON text; ``data`` is left out when None, as the spec's examples do;
    ``position``: a snapshot reply's (realtime/history.py), beside event and data."""
    has_id = request_id is not _NO_REQUEST_ID and request_id is not None
    if isinstance(data, RawJSON):
        tail = f',"requestId":{to_json(request_id)}' if has_id else ""
        if position is not None:
            tail += f',"position":{to_json(position)}'
        return f'{{"event":{to_json(event)},"data":{data}{tail}}}'
    frame: Envelope = {"event": event}
    if data is not None:
        frame["data"] = data
    if has_id:
        frame["requestId"] = request_id
    if position is not None:
        frame["position"] = position
    return to_json(frame)


def _refuse_constant(name: str) -> Any:
    raise InvalidMessage(f"Invalid JSON: {name} is not a JSON number")


MAX_REQUEST_ID_LENGTH = 128


def _bad_string(value: str) -> bool:
    """Whether ``value`` holds NUL or a lone surrogate (which cannot be encoded back)."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_strings(value: Any) -> None:
    """Refuse NUL and lone surrogates anywhere in a parsed frame, keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _bad_string(item):
                raise InvalidMessage(
                    "Strings must not contain NUL or lone surrogates (invalid Unicode)"
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse(text: str) -> Envelope:
    """The envelope in a text frame, or :class:`InvalidMessage` saying what is wrong.

    This is the one place where every string of a frame is checked: NaN/Infinity (not
    JSON), NUL and lone surrogates are refused here, so no handler, database row or
    reply ever sees them. Both can only arrive as ``\\u`` escapes (a text frame is valid
    UTF-8 and raw control characters are invalid JSON), so the walk only runs when the
    text has one.
    """
    try:
        message = json.loads(text, parse_constant=_refuse_constant)
    except InvalidMessage:
        raise
    except (ValueError, RecursionError):
        raise InvalidMessage("Invalid JSON") from None
    if not isinstance(message, dict):
        raise InvalidMessage("A message must be a JSON object {event, data?, requestId?}")
    if "\\u" in text:
        _check_strings(message)
    return message


def valid_request_id(request_id: Any) -> bool:
    """A request id the server echoes: a string of at most 128 characters or a finite
    number (``parse`` already refused NaN/Infinity and bad strings)."""
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, str):
        return len(request_id) <= MAX_REQUEST_ID_LENGTH and not _bad_string(request_id)
    if isinstance(request_id, int):
        return len(str(request_id)) <= MAX_REQUEST_ID_LENGTH
    if isinstance(request_id, float):
        return math.isfinite(request_id)
    return False


def check_envelope(message: Envelope) -> str:
    """The message's event name, once its fields have the envelope's types."""
    event = message.get("event")
    if not isinstance(event, str) or not event:
        raise InvalidMessage("'event' must be a non-empty string")
    request_id = message.get("requestId")
    if request_id is not None and not valid_request_id(request_id):
        raise InvalidMessage(
            f"'requestId' must be a string of at most {MAX_REQUEST_ID_LENGTH} characters "
            "or a finite number"
        )
    if len(event) > 64:
        raise InvalidMessage("'event' is too long")
    return event


# A JSON string, or one bracket: enough to walk a frame's top level without parsing it.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]]')
_COLON = re.compile(r"\s*:\s*")
_decoder = json.JSONDecoder()


def salvage_request_id(text: str) -> Any:
    """The top-level ``requestId`` of a frame too large or too deep to parse whole, or None.

    Walks the text with a regular expression instead of a recursive parser, so that an
    error about the frame can still echo the id the client gave it.
    """
    depth, found = 0, None
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1 and token == '"requestId"':
            colon = _COLON.match(text, match.end())
            if colon is None:
                continue
            try:
                value, _ = _decoder.raw_decode(text, colon.end())
            except (ValueError, RecursionError):
                continue
            if valid_request_id(value):
                found = value
    return found
