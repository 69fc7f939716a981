"""Reading a passage-mode period as typed: ``mon-fri 08:00-18:00``, ``sat,sun all-day``.

Days: mon..sun, ranges (``mon-fri``, ``fri-mon`` wraps), lists with commas, and the words
``daily``, ``weekdays``, ``weekend``. Hours: ``HH:MM-HH:MM`` on the lock's clock (``24:00``
ends the day), or ``all-day``.
"""

from __future__ import annotations

import re

from hapbridge.cli.admin.errors import AdminUsageError
from hapbridge.ttlock.passage import DAY_MINUTES, DAY_NAMES, WEEK, PassagePeriod

DAY_WORDS = {name.lower(): index + 1 for index, name in enumerate(DAY_NAMES)}
DAY_GROUPS = {"daily": WEEK, "everyday": WEEK, "every-day": WEEK, "weekdays": (1, 2, 3, 4, 5),
              "workdays": (1, 2, 3, 4, 5), "weekend": (6, 7)}
ALL_DAY = ("all-day", "allday", "all day")
HOURS_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})")
EXAMPLE = "'mon-fri 08:00-18:00' or 'sat,sun all-day'"


def _day(word: str, spec: str) -> int:
    day = DAY_WORDS.get(word[:3]) if len(word) >= 3 else None
    if day is None or not DAY_NAMES[day - 1].lower().startswith(word[:3]):
        raise AdminUsageError(
            f"--period {spec!r}: {word!r} is not a day; use mon..sun, a range like mon-fri, "
            "or daily, weekdays, weekend")
    return day


def parse_days(text: str, spec: str) -> tuple[int, ...]:
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in text.lower().split(","))):
        if part in DAY_GROUPS:
            days.update(DAY_GROUPS[part])
        elif "-" in part:
            first, _, last = part.partition("-")
            start, end = _day(first, spec), _day(last, spec)
            span = (end - start) % 7
            days.update((start - 1 + step) % 7 + 1 for step in range(span + 1))
        else:
            days.add(_day(part, spec))
    if not days:
        raise AdminUsageError(f"--period {spec!r}: name the days, e.g. {EXAMPLE}")
    return tuple(sorted(days))


def _minute(hours: str, minutes: str, spec: str) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > DAY_MINUTES:
        raise AdminUsageError(f"--period {spec!r}: {hours}:{minutes} is not a time of day")
    return value


def parse_period(spec: str) -> PassagePeriod:
    """One ``--period``: days, a space, then hours or all-day."""
    days_text, _, hours_text = spec.strip().partition(" ")
    hours_text = hours_text.strip().lower()
    days = parse_days(days_text, spec)
    if hours_text in ALL_DAY:
        return PassagePeriod(days)
    match = HOURS_RE.fullmatch(hours_text)
    if match is None:
        raise AdminUsageError(
            f"--period {spec!r}: give the days and then the hours, e.g. {EXAMPLE}")
    start = _minute(match[1], match[2], spec)
    end = _minute(match[3], match[4], spec)
    if end <= start:
        raise AdminUsageError(
            f"--period {spec!r}: a period ends after it starts on the same day; split one "
            "over midnight in two (e.g. 'mon-fri 22:00-24:00' and 'tue-sat 00:00-06:00')")
    return PassagePeriod(days, start, end)
