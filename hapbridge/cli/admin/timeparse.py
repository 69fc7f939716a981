"""Times as people type and read them: local time in, local time out, milliseconds on the wire.

Every command parses with :func:`read_time` / :func:`parse_time` / :func:`parse_duration`
and prints with :func:`format_time` / :func:`iso_time`, so a time looks the same everywhere.
A passcode's times are typed as the lock's wall clock: :func:`lock_zone` says which zone a
time without an offset is read in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from hapbridge.cli.admin.errors import AdminUsageError

_DURATION_RE = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
EXAMPLE = "2026-12-24T15:00"
# The cloud counts milliseconds since 1970; the far end keeps every conversion in range.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=36_500)
MAX_OFFSET_MS = 24 * 3_600_000  # datetime.timezone takes offsets strictly within a day


def now() -> datetime:
    """The current local time, timezone-aware (so it compares with cloud times)."""
    return datetime.now().astimezone()


@dataclass(frozen=True)
class Zone:
    """Where a typed time without an offset is placed: ``tz`` None is this machine's local
    time (with its daylight-saving rules); ``label`` completes "times in ..."."""

    tz: tzinfo | None
    label: str

    @property
    def name(self) -> str:
        """Short, for a column or JSON: ``UTC+01:00``, or ``local``."""
        offset = self.tz.utcoffset(None) if self.tz is not None else None
        return "local" if offset is None else offset_text(offset)


LOCAL = Zone(None, "local time")


def offset_text(offset: timedelta) -> str:
    """``UTC+01:00``, ``UTC-03:30``."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def local_standard_offset_ms() -> int:
    """This machine's offset from UTC outside daylight-saving time."""
    return -time.timezone * 1000


def lock_zone(offset_ms: int | None, *, local_standard_ms: int | None = None) -> Zone:
    """The zone for times typed for a lock reporting ``timezoneRawOffset`` ``offset_ms``.

    The cloud reports the lock's standard offset, without daylight-saving rules. When that
    is this machine's standard offset too, local time is used, daylight saving included;
    otherwise the lock's fixed offset. A lock that reports none (or nonsense) gets local time.
    """
    if offset_ms is None or not -MAX_OFFSET_MS < offset_ms < MAX_OFFSET_MS:
        return Zone(None, "local time (the lock reports no time zone)")
    local = local_standard_offset_ms() if local_standard_ms is None else local_standard_ms
    if offset_ms == local:
        return Zone(None, "local time (the lock's time zone too)")
    offset = timedelta(milliseconds=offset_ms)
    return Zone(timezone(offset), f"the lock's time zone ({offset_text(offset)})")


@dataclass(frozen=True)
class TypedTime:
    """A time as typed, checked but not yet placed: ``wall`` None means 'now'; a naive
    ``wall`` is a wall-clock time whose zone :meth:`at` is told."""

    text: str
    option: str
    wall: datetime | None

    @property
    def needs_zone(self) -> bool:
        return self.wall is not None and self.wall.tzinfo is None

    def at(self, zone: Zone = LOCAL, *, clock: Callable[[], datetime] = now) -> datetime:
        """The aware time: naive read in ``zone``, an explicit offset kept, 'now' as now."""
        wall = self.wall
        if wall is None:
            return clock()
        return in_range(lambda: _place(wall, zone), self.text, self.option)


def typed_zone(*typed: TypedTime | None) -> Zone | None:
    """The zone of the first time typed with an explicit offset: the times are shown back in
    it, as typed, not converted to this machine's time (None when no time has an offset)."""
    for item in typed:
        if item is not None and item.wall is not None and item.wall.tzinfo is not None:
            offset = item.wall.utcoffset()
            if offset is not None:
                return Zone(timezone(offset), f"the offset you gave ({offset_text(offset)})")
    return None


def _place(wall: datetime, zone: Zone) -> datetime:
    if wall.tzinfo is not None:
        return wall
    return wall.astimezone() if zone.tz is None else wall.replace(tzinfo=zone.tz)


def read_time(text: str, *, option: str = "time") -> TypedTime:
    """ISO 8601 (naive = wall clock in a zone given later), a date (midnight), or ``now``."""
    value = text.strip()
    if value.lower() == "now":
        return TypedTime(text, option, None)
    try:
        wall = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise AdminUsageError(
            f"{option}: {text!r} is not a time; use local ISO 8601 like {EXAMPLE} "
            "(or a date like 2026-12-24, or 'now')"
        ) from None
    return TypedTime(text, option, wall)


def parse_time(
    text: str,
    *,
    option: str = "time",
    clock: Callable[[], datetime] = now,
    zone: Zone = LOCAL,
) -> datetime:
    """:func:`read_time` placed in ``zone`` (default local time); an aware result."""
    return read_time(text, option=option).at(zone, clock=clock)


def in_range(make: Callable[[], datetime], text: str, option: str) -> datetime:
    """``make()``, if it and every later conversion stay within what the cloud takes
    (1970 to 9998); overflow at the ends of the calendar is a usage error, not a traceback."""
    try:
        value = make()
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not MIN_TIME <= utc < MAX_TIME:
        raise AdminUsageError(
            f"{option}: {text!r} is out of range; use a time between 1970 and 9998"
        )
    return value


def parse_duration(text: str, *, option: str = "duration") -> timedelta:
    """``90m``, ``24h``, ``7d``, ``1d12h``, ``2w`` or ``0``; a bare number is ambiguous."""
    value = text.strip().replace(" ", "")
    if not _is_duration(value):
        raise AdminUsageError(
            f"{option}: {text!r} is not a duration; use a number with a unit: "
            "30m, 24h, 7d, 1d12h, 2w (or 0)"
        )
    try:
        total = sum(
            (timedelta(**{_UNITS[unit.lower()]: int(number)})
             for number, unit in _DURATION_RE.findall(value)),
            timedelta(0),
        )
    except (OverflowError, ValueError):  # beyond timedelta, or thousands of digits
        total = timedelta.max
    if total > MAX_DURATION:
        raise AdminUsageError(
            f"{option}: {text!r} is too long; at most {MAX_DURATION.days}d (100 years)"
        )
    return total


def parse_since(
    text: str, *, option: str = "--since", clock: Callable[[], datetime] = now
) -> datetime:
    """A time, or a duration meaning that long ago (``--since 24h``)."""
    if _is_duration(text.strip().replace(" ", "")):
        ago = parse_duration(text, option=option)
        return in_range(lambda: clock() - ago, text, option)
    return parse_time(text, option=option, clock=clock)


def _is_duration(value: str) -> bool:
    return value == "0" or (bool(value) and not _DURATION_RE.sub("", value))


def format_time(value: datetime | None, zone: Zone = LOCAL) -> str:
    """For tables: local time (or ``zone``'s) to the minute; ``-`` for none."""
    if value is None:
        return "-"
    return value.astimezone(zone.tz).strftime("%Y-%m-%d %H:%M")


def iso_time(value: datetime | None) -> str | None:
    """For ``--json``: local ISO 8601 with its offset, so scripts need no guessing."""
    return None if value is None else value.astimezone().isoformat(timespec="seconds")


def format_duration(value: timedelta) -> str:
    """``1d 2h``, ``45m``: the inverse of :func:`parse_duration`, for messages."""
    seconds = int(abs(value.total_seconds()))
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return " ".join(parts[:2])
