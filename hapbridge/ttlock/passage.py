"""Passage mode as the cloud keeps it: up to five weekly periods and an auto-unlock switch.

Within a period the lock stays unlocked once opened (until locked by hand); outside it,
auto-lock applies as usual. Typed here so the CLI and the bridge read the same thing,
whichever of the cloud's two endpoint generations answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_PERIODS = 5  # lock/configurePassageMode.md: "can only set a maximum of five"
DAY_MINUTES = 24 * 60
WEEK = (1, 2, 3, 4, 5, 6, 7)  # 1 Monday .. 7 Sunday
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ON, OFF = 1, 2


@dataclass(frozen=True)
class PassagePeriod:
    """Days of the week and a daily window in minutes from midnight; no window = all day."""

    week_days: tuple[int, ...] = WEEK
    start_minute: int | None = None
    end_minute: int | None = None

    @property
    def all_day(self) -> bool:
        return self.start_minute is None or self.end_minute is None

    def to_api(self) -> dict[str, Any]:
        """One ``cyclicConfig`` item."""
        return {"isAllDay": ON if self.all_day else OFF,
                "startTime": 0 if self.all_day else self.start_minute,
                "endTime": 0 if self.all_day else self.end_minute,
                "weekDays": sorted(set(self.week_days))}

    @classmethod
    def from_api(cls, item: dict[str, Any], *, start: str = "startTime",
                 end: str = "endTime") -> PassagePeriod:
        days = item.get("weekDays") or []
        if isinstance(days, str):  # nested JSON may come back as a string
            days = json.loads(days or "[]")
        all_day = int(item.get("isAllDay") or OFF) == ON
        return cls(
            week_days=tuple(sorted({int(day) for day in days})),
            start_minute=None if all_day else int(item.get(start) or 0),
            end_minute=None if all_day else int(item.get(end) or 0),
        )

    def describe(self) -> str:
        """``Mon-Fri 08:00-18:00``, ``Sat, Sun all day``."""
        hours = ("all day" if self.all_day
                 else f"{clock(self.start_minute or 0)}-{clock(self.end_minute or 0)}")
        return f"{days_text(self.week_days)} {hours}"


@dataclass(frozen=True)
class PassageMode:
    """``lock/getPassageModeConfiguration``: on or off, its periods, auto-unlock."""

    enabled: bool
    periods: tuple[PassagePeriod, ...] = ()
    auto_unlock: bool = False

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> PassageMode:
        raw = item.get("cyclicConfig") or []
        if isinstance(raw, str):
            raw = json.loads(raw or "[]")
        return cls(
            enabled=int(item.get("passageMode") or OFF) == ON,
            periods=tuple(PassagePeriod.from_api(period) for period in raw),
            auto_unlock=int(item.get("autoUnlock") or OFF) == ON,
        )

    @classmethod
    def from_flat_api(cls, item: dict[str, Any]) -> PassageMode:
        """The older ``getPassageModeConfig``: one period in flat fields."""
        enabled = int(item.get("passageMode") or OFF) == ON
        period = PassagePeriod.from_api(item, start="startDate", end="endDate")
        return cls(enabled=enabled, periods=(period,) if period.week_days else (),
                   auto_unlock=int(item.get("autoUnlock") or OFF) == ON)

    def switched(self, on: bool) -> PassageMode:
        """What a passage-mode switch writes: on keeps the lock's schedule, or makes it
        all day, every day when it has none; off keeps the schedule for next time (the
        cloud stores it; ``set_passage_mode`` sends none when off)."""
        periods = self.periods or ((PassagePeriod(),) if on else ())
        return PassageMode(enabled=on, periods=periods, auto_unlock=self.auto_unlock)

    def cyclic_config(self) -> str:
        """The JSON string the form field carries."""
        return json.dumps([period.to_api() for period in self.periods], separators=(",", ":"))


def clock(minute: int) -> str:
    """``08:00``; 1440 is ``24:00`` (the end of the day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def days_text(days: tuple[int, ...]) -> str:
    """``Mon-Fri``, ``Sat, Sun``, ``every day``: runs of three or more days as a range."""
    chosen = sorted(set(days))
    if chosen == list(WEEK):
        return "every day"
    runs: list[list[int]] = []
    for day in chosen:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [f"{DAY_NAMES[run[0] - 1]}-{DAY_NAMES[run[-1] - 1]}" if len(run) >= 3
             else ", ".join(DAY_NAMES[d - 1] for d in run) for run in runs]
    return ", ".join(parts)
