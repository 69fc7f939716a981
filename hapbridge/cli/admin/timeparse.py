"""Times as people type and read them: local time in, local time out, milliseconds on the wire.

Every command parses with :func:`parse_time` / :func:`parse_duration` and prints with
:func:`format_time` / :func:`iso_time`, so a time looks the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from hapbridge.cli.admin.errors import AdminUsageError

_DURATION_RE = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
EXAMPLE = "2026-12-24T15:00"


def now() -> datetime:
    """The current local time, timezone-aware (so it compares with cloud times)."""
    return datetime.now().astimezone()


def parse_time(text: str, *, option: str = "time", clock: Callable[[], datetime] = now) -> datetime:
    """An ISO 8601 time (naive = local time), a date (midnight), or ``now``; aware result."""
    value = text.strip()
    if value.lower() == "now":
        return clock()
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise AdminUsageError(
            f"{option}: {text!r} is not a time; use local ISO 8601 like {EXAMPLE} "
            "(or a date like 2026-12-24, or 'now')"
        ) from None
    return parsed.astimezone()  # naive means local time; an explicit offset is kept


def parse_duration(text: str, *, option: str = "duration") -> timedelta:
    """``90m``, ``24h``, ``7d``, ``1d12h``, ``2w`` or ``0``; a bare number is ambiguous."""
    value = text.strip().replace(" ", "")
    if not _is_duration(value):
        raise AdminUsageError(
            f"{option}: {text!r} is not a duration; use a number with a unit: "
            "30m, 24h, 7d, 1d12h, 2w (or 0)"
        )
    total = timedelta(0)
    for number, unit in _DURATION_RE.findall(value):
        total += timedelta(**{_UNITS[unit.lower()]: int(number)})
    return total


def parse_since(
    text: str, *, option: str = "--since", clock: Callable[[], datetime] = now
) -> datetime:
    """A time, or a duration meaning that long ago (``--since 24h``)."""
    if _is_duration(text.strip().replace(" ", "")):
        return clock() - parse_duration(text, option=option)
    return parse_time(text, option=option, clock=clock)


def _is_duration(value: str) -> bool:
    return value == "0" or (bool(value) and not _DURATION_RE.sub("", value))


def format_time(value: datetime | None) -> str:
    """For tables: local time to the minute; ``-`` for none."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


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
