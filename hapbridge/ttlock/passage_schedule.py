"""When passage mode holds a lock open, and what its auto-lock does about it: pure.

TTLock's rule (``lock/configurePassageMode.md``): within a period the lock stays unlocked
until locked by hand; outside it auto-lock applies as usual; with ``autoUnlock`` on, the
lock unlocks itself when a period starts (record 63). The bridge's auto-lock model and the
simulator's physics both ask this module, so HomeKit shows what the lock does.

Times in and out are unix seconds; the schedule is read on the LOCK's clock, at
``timezoneRawOffset`` (``lock/detail``) from UTC, not the bridge's. Week days are 1 Monday
to 7 Sunday (ISO; the docs say only "1-7", hass-ttlock reads 1 as Monday); ``startTime`` and
``endTime`` are minutes from midnight, the end exclusive ("when it expires"), 1440 the end
of the day. A period whose end is not after its start runs past midnight into the next day
(the API's examples never show one; reading it so is the only sense it can have).

What a lock opened inside a period does when the period ends is not documented; modelled
so that HomeKit never shows "unlocked" for hours after a window: it counts ``autoLockTime``
from the period's end (and a timer that runs out inside a period counts again from its
end). Periods that touch or overlap (Mon all day and Tue all day) are one window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum

from hapbridge.ttlock.passage import DAY_MINUTES, PassageMode

HORIZON_DAYS = 8  # a weekly schedule repeats after 7; one more covers a window over midnight
MAX_HOPS = 16  # relock search: a timer cannot land in more windows than a fortnight has


class Action(Enum):
    RELOCK = "relock"  # auto-lock (record 45)
    AUTO_UNLOCK = "auto-unlock"  # a period starts with autoUnlock on (record 63)


@dataclass(frozen=True)
class NextEvent:
    """What the lock will do by itself next, and when (unix seconds)."""

    at: float
    action: Action


@dataclass(frozen=True)
class Window:
    """One stretch of passage mode, unix seconds, ``end`` exclusive; ``end`` None: never
    ends (all day, every day)."""

    start: float
    end: float | None


class PassageSchedule:
    """One lock's passage mode on its own clock."""

    def __init__(self, mode: PassageMode, offset_ms: int | None = 0) -> None:
        self.mode = mode
        self.tz = timezone(timedelta(milliseconds=offset_ms or 0))

    @property
    def always(self) -> bool:
        """Passage mode with every minute of the week covered: it never ends."""
        return self._intervals(0.0) == [(None, None)]

    def window_at(self, at: float) -> Window | None:
        """The window ``at`` falls in, if any."""
        for start, end in self._intervals(at):
            if start is None:
                return Window(start=at, end=None)
            if start <= at < end:  # type: ignore[operator]
                return Window(start, end)
        return None

    def active(self, at: float) -> bool:
        """Whether passage mode holds the lock open at ``at``."""
        return self.window_at(at) is not None

    def next_start(self, at: float) -> float | None:
        """When the next window starts after ``at`` (None: no schedule, or never ends)."""
        return next((start for start, _ in self._intervals(at)
                     if start is not None and start > at), None)

    def relock_at(self, unlocked_at: float, auto_lock_seconds: int) -> float | None:
        """When a lock opened at ``unlocked_at`` locks itself (None: it stays open).

        Opened inside a window, the count starts when the window ends; outside, the timer
        runs out ``auto_lock_seconds`` after the unlock, and landing inside a window it
        starts again when that window ends."""
        if auto_lock_seconds <= 0:
            return None
        counted_from = unlocked_at
        opened_in = self.window_at(unlocked_at)
        if opened_in is not None:
            if opened_in.end is None:
                return None
            counted_from = opened_in.end
        due = counted_from + auto_lock_seconds
        for _ in range(MAX_HOPS):
            window = self.window_at(due)
            if window is None:
                return due
            if window.end is None:
                return None
            due = window.end + auto_lock_seconds
        return None

    def relock_from(self, unlocked_at: float, auto_lock_seconds: int,
                    now: float) -> float | None:
        """:meth:`relock_at` planned at ``now``: a relock already past is one that a
        window held back until it was switched off just now, so it counts from now."""
        due = self.relock_at(unlocked_at, auto_lock_seconds)
        if due is None or due >= now:
            return due
        return now + auto_lock_seconds

    def next_event(self, *, unlocked: bool, since: float, now: float,
                   auto_lock_seconds: int, auto_unlock_supported: bool = True) -> NextEvent | None:
        """What the lock does by itself next. ``since``: when it was last unlocked (for an
        unlocked lock). A locked lock stays locked, inside a window too (locked by hand),
        until a window starts with auto-unlock on."""
        if unlocked:
            due = self.relock_at(since, auto_lock_seconds)
            return None if due is None else NextEvent(max(due, now), Action.RELOCK)
        if not (self.mode.auto_unlock and auto_unlock_supported):
            return None
        start = self.next_start(now)
        return None if start is None else NextEvent(start, Action.AUTO_UNLOCK)

    # -- the windows ----------------------------------------------------------------

    def _intervals(self, at: float) -> list[tuple[float | None, float | None]]:
        """Merged windows from a week before ``at`` to a week after, oldest first;
        ``[(None, None)]`` when passage mode covers the whole week."""
        if not self.mode.enabled or not self.mode.periods:
            return []
        local = datetime.fromtimestamp(at, tz=self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        spans: list[tuple[float, float]] = []
        for offset in range(-HORIZON_DAYS, HORIZON_DAYS + 1):
            day = midnight + timedelta(days=offset)
            for period in self.mode.periods:
                if day.isoweekday() not in period.week_days:
                    continue
                first, last = ((0, DAY_MINUTES) if period.all_day
                               else (period.start_minute or 0, period.end_minute or 0))
                if last <= first:
                    last += DAY_MINUTES  # runs past midnight
                spans.append((_at(day, first), _at(day, last)))
        spans.sort()
        merged: list[list[float]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        week = 7 * 86_400
        if any(end - start >= week + 86_400 for start, end in merged):
            return [(None, None)]
        return [(start, end) for start, end in merged]


def _at(day: datetime, minute: int) -> float:
    return (day + timedelta(minutes=minute)).astimezone(UTC).timestamp()
