"""Payload schemas of the game's socket events (bridge and admin), with strict JSON types.

A field's error message says what is wrong with the input in words a client's author
understands; the registry turns them into one ``invalid_payload`` sentence.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from rest_framework import serializers

from realtime.fields import StrictBooleanField, StrictCharField, StrictFloatField, StrictIntegerField

MAX_SOURCE = 2**31 - 1
MAX_PLAYERS = 4096  # FiveM's hard limit is 2048; leave room, refuse nonsense
MAX_IDENTIFIERS = 16
IDENTIFIER_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
JOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_BAN = timedelta(days=36500)


def source_field(**kwargs) -> StrictIntegerField:  # noqa: ANN003
    """A player's server id (FiveM ``source``): a positive whole number."""
    return StrictIntegerField(min_value=1, max_value=MAX_SOURCE, **kwargs)


class StrictChoiceField(serializers.ChoiceField):
    default_error_messages = {"invalid_choice": "{input!r} is not one of: {choices}."}

    def to_internal_value(self, data):  # noqa: ANN001
        if not isinstance(data, str) or data not in self.choices:
            self.fail("invalid_choice", input=data, choices=", ".join(self.choices))
        return data


def normal_identifier(value: str) -> str:
    """The one form an identifier is stored and compared in: NFKC (fullwidth to ASCII),
    invisible format characters (zero-width spaces, joiners, BOM, bidi marks) removed,
    surrounding space stripped, lower case. FiveM's identifiers are lower-case hex or
    digits, so ``LICENSE:ABC``, ``license:ａｂｃ`` and ``license:a\u200bbc`` are ``license:abc``."""
    value = unicodedata.normalize("NFKC", value)
    value = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
    return value.strip().lower()


def normal_identifiers(values) -> list[str]:  # noqa: ANN001
    """Sorted distinct normal forms of identifier values (for Python callers of do_ban)."""
    return sorted({normal for v in values if (normal := normal_identifier(v))})


class IdentifiersField(serializers.Field):
    """A player's identifiers: ``{"license": "license:abc", ...}`` or ``["license:abc", ...]``.

    Normalised to ``{type: "type:value"}`` (a bare value gets its type prefix) in
    :func:`normal_identifier` form, so that bans and lookups compare one form.
    """

    openapi_schema = {  # realtime/openapi.py
        "oneOf": [
            {"type": "object", "additionalProperties": {"type": "string", "maxLength": 128}, "maxProperties": MAX_IDENTIFIERS},
            {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9_]+:", "maxLength": 128}, "maxItems": MAX_IDENTIFIERS},
        ],
        "examples": [{"license": "license:abc"}],
    }
    default_error_messages = {
        "type": 'Must be an object like {{"license": "license:abc"}} or a list like ["license:abc"].',
        "too_many": f"At most {MAX_IDENTIFIERS} identifiers.",
        "bad_type": "{kind!r} is not an identifier type (lowercase letters, digits, _).",
        "bad_value": "The {kind} identifier must be a non-empty string of at most 128 characters "
        "(type: prefix included).",
        "no_prefix": "{value!r} is not of the form type:value (e.g. license:abc).",
    }

    def to_internal_value(self, data):  # noqa: ANN001
        if isinstance(data, list):
            pairs = []
            for value in data:
                if not isinstance(value, str) or ":" not in normal_identifier(value):
                    self.fail("no_prefix", value=value)
                value = normal_identifier(value)  # the type comes from the value: one form first
                pairs.append((value.split(":", 1)[0], value))
        elif isinstance(data, dict):
            pairs = list(data.items())
        else:
            self.fail("type")
        if len(pairs) > MAX_IDENTIFIERS:
            self.fail("too_many")
        result: dict[str, str] = {}
        for key, value in pairs:
            if not isinstance(key, str) or not IDENTIFIER_TYPE.match(key):
                self.fail("bad_type", kind=key)
            if not isinstance(value, str) or not normal_identifier(value):
                self.fail("bad_value", kind=key)
            value = normal_identifier(value)
            value = value if value.startswith(f"{key}:") else f"{key}:{value}"
            if len(value) > 128:
                self.fail("bad_value", kind=key)
            result[key] = value
        return result

    def to_representation(self, value):  # noqa: ANN001
        return value


class DurationField(serializers.Field):
    """How long a ban lasts: ``"permanent"``, ``"30m"``, ``"2h"``, ``"7d"``, ``"2w"`` or seconds.

    The value is a :class:`timedelta`, or None for permanent.
    """

    PATTERN = re.compile(r"^\s*(-?\d+)\s*(s|m|h|d|w)?\s*$")
    openapi_schema = {  # realtime/openapi.py
        "oneOf": [{"type": "string", "examples": ["permanent", "30m", "2h", "7d"]}, {"type": "number", "exclusiveMinimum": 0}],
    }
    UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
    default_error_messages = {
        "invalid": "Must be like 30m, 2h, 7d, 2w, a number of seconds, or \"permanent\".",
        "positive": "Must be positive, not {value}.",
        "too_long": "At most 36500 days; use \"permanent\" for a ban without end.",
    }

    def to_internal_value(self, data):  # noqa: ANN001
        if isinstance(data, str) and data.strip().lower() == "permanent":
            return None
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, (int, float)):
            seconds = float(data)
        elif isinstance(data, str) and (match := self.PATTERN.match(data)):
            seconds = int(match.group(1)) * self.UNITS[match.group(2)]
        else:
            self.fail("invalid")
        if not seconds > 0:
            self.fail("positive", value=data)
        if seconds > MAX_BAN.total_seconds():
            self.fail("too_long")
        return timedelta(seconds=seconds)

    def to_representation(self, value):  # noqa: ANN001
        return None if value is None else value.total_seconds()


def reason_field(**kwargs) -> StrictCharField:  # noqa: ANN003
    """Why (a kick, a ban): a string of at most 255 characters."""
    return StrictCharField(max_length=255, **kwargs)


# -- bridge -> platform -----------------------------------------------------------------


class CharacterSchema(serializers.Serializer):
    id = StrictIntegerField(min_value=0, max_value=2**62)
    name = StrictCharField(max_length=200)
    job = StrictCharField(max_length=200, allow_blank=True, required=False, default="")
    cash = StrictIntegerField(min_value=-(2**62), max_value=2**62, required=False, default=0)
    bank = StrictIntegerField(min_value=-(2**62), max_value=2**62, required=False, default=0)


class PlayerJoinedSchema(serializers.Serializer):
    source = source_field()
    name = StrictCharField(max_length=255)
    identifiers = IdentifiersField(required=False, default=dict)
    license = StrictCharField(max_length=128, required=False)

    def validate(self, attrs: dict) -> dict:
        license_ = attrs.pop("license", None)
        identifiers = attrs["identifiers"]
        if license_ and normal_identifier(license_) and "license" not in identifiers:
            license_ = normal_identifier(license_)
            identifiers["license"] = license_ if license_.startswith("license:") else f"license:{license_}"
        return attrs


class SnapshotPlayerSchema(PlayerJoinedSchema):
    character = CharacterSchema(required=False, allow_null=True, default=None)


def _unique_sources(players: list[dict]) -> list[dict]:
    sources = [p["source"] for p in players]
    if len(set(sources)) != len(sources):
        raise serializers.ValidationError("Each player's source must appear once.")
    return players


class SnapshotPlayersSchema(serializers.Serializer):
    players = serializers.ListField(child=SnapshotPlayerSchema(), max_length=MAX_PLAYERS)

    def validate_players(self, players: list[dict]) -> list[dict]:
        return _unique_sources(players)


class SnapshotSchema(SnapshotPlayersSchema):
    serverName = StrictCharField(max_length=200, allow_blank=True, required=False, default="")
    maxPlayers = StrictIntegerField(min_value=0, max_value=MAX_PLAYERS, required=False, default=0)
    uptime = StrictFloatField(min_value=0, max_value=10**10, required=False, default=0)
    players = serializers.ListField(
        child=SnapshotPlayerSchema(), max_length=MAX_PLAYERS, required=False, default=list
    )


class PlayerLeftSchema(serializers.Serializer):
    source = source_field()
    reason = reason_field(allow_blank=True, required=False, default="Disconnected")


class CharacterSelectedSchema(serializers.Serializer):
    source = source_field()
    character = CharacterSchema()


class CharacterUpdatedSchema(serializers.Serializer):
    source = source_field()
    name = StrictCharField(max_length=200, required=False)
    job = StrictCharField(max_length=200, allow_blank=True, required=False)
    cash = StrictIntegerField(min_value=-(2**62), max_value=2**62, required=False)
    bank = StrictIntegerField(min_value=-(2**62), max_value=2**62, required=False)

    def validate(self, attrs: dict) -> dict:
        if len(attrs) == 1:
            raise serializers.ValidationError("Give at least one of name, job, cash, bank.")
        return attrs


class CheckBanSchema(serializers.Serializer):
    identifiers = IdentifiersField()
    name = StrictCharField(max_length=255, required=False, allow_blank=True)

    def validate_identifiers(self, value: dict) -> dict:
        if not value:
            raise serializers.ValidationError("Give at least one identifier.")
        return value


# -- admin ------------------------------------------------------------------------------


def server_field() -> StrictCharField:
    """Which game server (its slug); left out: the default server."""
    return StrictCharField(max_length=50, required=False)


class ServerSchema(serializers.Serializer):
    """A game request's optional ``server``."""

    server = server_field()


class ExpectedPlayerSchema(ServerSchema):
    """A command on ``source`` may say whom it means: refused (``conflict``) when the
    player at that source is someone else now, or the server restarted meanwhile."""

    name = StrictCharField(max_length=255, required=False)
    license = StrictCharField(max_length=128, required=False)
    serverRunId = StrictCharField(max_length=32, required=False)


class KickSchema(ExpectedPlayerSchema):
    source = source_field()
    reason = reason_field()


class AnnounceSchema(serializers.Serializer):
    message = StrictCharField(max_length=500)
    type = StrictChoiceField(choices=["info", "warning", "error"], required=False, default="info")
    server = StrictCharField(max_length=50, required=False)  # a slug, or "*": every server


class BanSchema(ExpectedPlayerSchema):
    scope = StrictChoiceField(choices=["all", "server"], required=False, default="all")
    source = source_field(required=False)
    identifiers = IdentifiersField(required=False)
    name = StrictCharField(max_length=255, required=False, allow_blank=True, default="")
    reason = reason_field()
    duration = DurationField()

    def validate(self, attrs: dict) -> dict:
        has_source, has_ids = "source" in attrs, bool(attrs.get("identifiers"))
        if has_source == has_ids:
            raise serializers.ValidationError(
                "Give either source (an online player) or identifiers (anyone), not both."
                if has_source
                else "Give source (an online player) or identifiers (anyone)."
            )
        return attrs


class UnbanSchema(serializers.Serializer):
    banId = StrictIntegerField(min_value=1)


class GetBansSchema(ServerSchema):
    active = StrictBooleanField(required=False, default=True)
    search = StrictCharField(max_length=128, required=False, allow_blank=True, default="")
    limit = StrictIntegerField(min_value=1, max_value=500, required=False, default=100)


class GetJobsSchema(serializers.Serializer):
    """``getJobs``: without ``limit`` the whole catalogue (the spec's reply); with it, one page
    by job name, after the cursor ``after`` (the ``next`` of the page before)."""

    limit = StrictIntegerField(min_value=1, max_value=500, required=False)
    after = StrictCharField(max_length=50, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("after") and "limit" not in attrs:
            raise serializers.ValidationError("after pages through the catalogue: give limit too.")
        return attrs


class GradeSchema(serializers.Serializer):
    grade = StrictIntegerField(min_value=0, max_value=1000)
    name = StrictCharField(max_length=50)
    label = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    salary = StrictIntegerField(min_value=0, max_value=2**31 - 1, required=False, default=0)


class JobNameSchema(serializers.Serializer):
    name = StrictCharField(max_length=50)

    def validate_name(self, value: str) -> str:
        if not JOB_NAME.match(value):
            raise serializers.ValidationError(
                f"{value!r} is not a job name: use lowercase letters, digits and _ (e.g. police)."
            )
        return value


def _unique_grades(grades: list[dict]) -> list[dict]:
    numbers = [g["grade"] for g in grades]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        raise serializers.ValidationError(f"Grade {twice[0]} appears more than once.")
    return sorted(grades, key=lambda g: g["grade"])


class JobSchema(JobNameSchema):
    label = StrictCharField(max_length=100)
    grades = serializers.ListField(child=GradeSchema(), max_length=100, required=False, default=list)

    def validate_grades(self, grades: list[dict]) -> list[dict]:
        return _unique_grades(grades)


class JobUpdateSchema(JobNameSchema):
    label = StrictCharField(max_length=100, required=False)
    grades = serializers.ListField(child=GradeSchema(), max_length=100, required=False)

    def validate_grades(self, grades: list[dict]) -> list[dict]:
        return _unique_grades(grades)

    def validate(self, attrs: dict) -> dict:
        if "label" not in attrs and "grades" not in attrs:
            raise serializers.ValidationError("Give label and/or grades to change.")
        return attrs


class AuditLogSchema(serializers.Serializer):
    limit = StrictIntegerField(min_value=1, max_value=500, required=False, default=100)
    before = StrictIntegerField(min_value=1, required=False)
    action = StrictCharField(max_length=40, required=False)
