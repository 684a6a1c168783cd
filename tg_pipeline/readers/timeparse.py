"""Wall-clock times to instants, shared by the readers.

Telegram writes local wall-clock times. Exports that carry no offset (JSON without
``date_unixtime``, HTML before v3.7.6) are read in a configured IANA zone, so they are
never dropped; the record says the zone was assumed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tg_pipeline.errors import TgPipelineError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo | timezone:
    """The zone for ``name``; an unknown name is a user error, not a silent UTC."""
    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TgPipelineError(f"unknown time zone {name!r}") from exc


def wall_to_epoch(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone_name: str
) -> int:
    """Epoch seconds of a wall-clock time in ``zone_name`` (first of two on a DST fold)."""
    local = datetime(year, month, day, hour, minute, second, tzinfo=zone(zone_name))
    return int((local - _EPOCH).total_seconds())


def offset_to_epoch(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    offset_seconds: int,
) -> int:
    """Epoch seconds of a wall-clock time at a fixed UTC offset."""
    naive = datetime(year, month, day, hour, minute, second)
    return int((naive - datetime(1970, 1, 1)).total_seconds()) - offset_seconds
