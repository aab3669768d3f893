"""OCPP timestamps: RFC 3339 in UTC out, and a forgiving read of what chargers send.

Chargers in the field send `2026-01-01T10:00:00Z`, `...+01:00`, fractional seconds of any
length, and sometimes no offset at all (firmware that forgot); a missing offset is read as UTC,
which is what the specification requires chargers to send.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(at: datetime) -> str:
    """`2026-01-01T10:00:00.123Z`: UTC, milliseconds, the form every charger parses."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_seconds(at: datetime) -> str:
    """`2026-01-01T10:00:00Z`: UTC to the second, as reasons and conditions show a time."""
    stamp = at.astimezone(UTC) if at.tzinfo is not None else at
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime; ValueError for text that is no timestamp at all."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
