"""/v3/lock/configurePassageMode and getPassageModeConfiguration (docs: lock/*.md), and
the older flat configPassageMode/getPassageModeConfig that still answer.

Both store the same thing (up to five periods and the auto-unlock switch); the older pair
sees the first period only. Setting goes through the gateway with ``type=2``; ``type``
defaults to 1 (done by the app over Bluetooth), as the docs say.
"""

from __future__ import annotations

import json
from typing import Any

from hapbridge.simulator.api import OK, READ, WRITE, Call, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.world import PassagePeriod
from hapbridge.ttlock.passage import DAY_MINUTES, MAX_PERIODS, OFF, ON


def _week_days(days: Any) -> list[int]:
    if (not isinstance(days, list) or not days
            or not all(isinstance(d, int) and 1 <= d <= 7 for d in days)):
        raise ApiError(-3, "weekDays must list days 1 (Monday) to 7 (Sunday)")
    return sorted(set(days))


def _json(raw: str, name: str) -> Any:
    """Nested values arrive as JSON strings inside the form."""
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(-3, f"{name} must be JSON") from None


def _period(all_day: int, start: Any, end: Any, days: Any) -> PassagePeriod:
    if all_day not in (ON, OFF):
        raise ApiError(-3, "isAllDay must be 1 or 2")
    if all_day == OFF and not (isinstance(start, int) and isinstance(end, int)
                               and 0 <= start < end <= DAY_MINUTES):
        raise ApiError(-3, "startTime and endTime are minutes from midnight, start < end")
    return PassagePeriod(all_day=all_day == ON, start_minute=start if all_day == OFF else 0,
                         end_minute=end if all_day == OFF else 0, week_days=_week_days(days))


def _cyclic_config(raw: str) -> list[PassagePeriod]:
    items = _json(raw, "cyclicConfig")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(-3, "cyclicConfig must be a JSON array of periods")
    if len(items) > MAX_PERIODS:
        raise ApiError(-3, f"cyclicConfig: at most {MAX_PERIODS} periods")
    return [_period(item.get("isAllDay", OFF), item.get("startTime"), item.get("endTime"),
                    item.get("weekDays")) for item in items]


async def _store(call: Call, enabled: bool, periods: list[PassagePeriod] | None) -> None:
    lock = call.lock()
    if enabled and not (periods or lock.passage.periods):
        raise ApiError(-3, "passage mode on needs at least one period")
    auto_unlock = call.params.choice("autoUnlock", (ON, OFF), OFF) == ON
    await call.carry_if_remote(lock, "type", default=1)
    lock.passage_mode = enabled
    if periods is not None:
        lock.passage.periods = periods
    lock.passage.auto_unlock = auto_unlock
    call.physics.passage_changed(lock)


def _sorted(periods: list[PassagePeriod]) -> list[PassagePeriod]:
    """All-day first, then by start and end, as getPassageModeConfiguration returns them."""
    return sorted(periods, key=lambda p: (not p.all_day, p.start_minute, p.end_minute))


async def configure(call: Call) -> dict[str, Any]:
    enabled = call.params.choice("passageMode", (ON, OFF)) == ON
    raw = call.params.str("cyclicConfig", "")
    await _store(call, enabled, _cyclic_config(raw) if raw else None)
    return OK


async def configuration(call: Call) -> dict[str, Any]:
    lock = call.lock()
    return {
        "passageMode": ON if lock.passage_mode else OFF,
        "cyclicConfig": [
            {"isAllDay": ON if p.all_day else OFF, "startTime": p.start_minute,
             "endTime": p.end_minute, "weekDays": list(p.week_days)}
            for p in _sorted(lock.passage.periods)
        ],
        "autoUnlock": ON if lock.passage.auto_unlock else OFF,
    }


async def configure_old(call: Call) -> dict[str, Any]:
    """The flat form: one period from isAllDay/startDate/endDate/weekDays."""
    params = call.params
    enabled = params.choice("passageMode", (ON, OFF)) == ON
    period = _period(params.choice("isAllDay", (ON, OFF), OFF), params.int("startDate", 0),
                     params.int("endDate", 0),
                     _json(params.str("weekDays", "[1,2,3,4,5,6,7]"), "weekDays"))
    await _store(call, enabled, [period] if enabled else None)
    return OK


async def configuration_old(call: Call) -> dict[str, Any]:
    lock = call.lock()
    periods = _sorted(lock.passage.periods)
    first = periods[0] if periods else PassagePeriod()
    return {
        "passageMode": ON if lock.passage_mode else OFF,
        "startDate": first.start_minute,
        "endDate": first.end_minute,
        "isAllDay": ON if first.all_day else OFF,
        "weekDays": list(first.week_days),
        "autoUnlock": ON if lock.passage.auto_unlock else OFF,
    }


ROUTES = (
    Route("/v3/lock/configurePassageMode", configure, WRITE),
    Route("/v3/lock/getPassageModeConfiguration", configuration, READ),
    Route("/v3/lock/configPassageMode", configure_old, WRITE),
    Route("/v3/lock/getPassageModeConfig", configuration_old, READ),
)
