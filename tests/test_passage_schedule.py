"""Passage-mode windows and the auto-lock they imply, on the lock's own clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hapbridge.ttlock.passage import PassageMode, PassagePeriod
from hapbridge.ttlock.passage_schedule import Action, NextEvent, PassageSchedule

HOUR_MS = 3_600_000
BERLIN = timezone(timedelta(hours=1))  # the simulator's default timezoneRawOffset


def at(day: int, hour: int, minute: int = 0, tz: timezone = BERLIN) -> float:
    """Unix seconds of December ``day`` 2026 (1st = a Tuesday) at ``hour:minute`` in ``tz``."""
    return datetime(2026, 12, day, hour, minute, tzinfo=tz).timestamp()


OFFICE = PassageMode(enabled=True, periods=(PassagePeriod((1, 2, 3, 4, 5), 480, 1080),))


def schedule(mode: PassageMode = OFFICE, offset_ms: int = HOUR_MS) -> PassageSchedule:
    return PassageSchedule(mode, offset_ms)


def test_week_days_are_iso_monday_first() -> None:
    assert datetime(2026, 12, 7).isoweekday() == 1  # a Monday
    saturday = PassageMode(True, (PassagePeriod((6,)),))
    assert schedule(saturday).active(at(5, 12))  # Saturday the 5th
    assert not schedule(saturday).active(at(6, 12))  # Sunday
    assert not schedule(saturday).active(at(7, 12))  # Monday


def test_window_start_inclusive_end_exclusive() -> None:
    office = schedule()
    assert not office.active(at(1, 7, 59))
    assert office.active(at(1, 8, 0))
    assert office.active(at(1, 17, 59))
    assert not office.active(at(1, 18, 0))
    assert not office.active(at(5, 12))  # Saturday
    window = office.window_at(at(1, 12))
    assert window is not None and (window.start, window.end) == (at(1, 8), at(1, 18))


def test_read_on_the_locks_clock_not_the_bridges() -> None:
    # 08:30 in Berlin is 07:30 UTC: a lock set to UTC is not in its window yet.
    assert schedule(offset_ms=HOUR_MS).active(at(1, 8, 30))
    assert not schedule(offset_ms=0).active(at(1, 8, 30))
    shanghai = schedule(offset_ms=8 * HOUR_MS)
    assert shanghai.active(at(1, 8, 30, timezone(timedelta(hours=8))))


def test_off_or_without_periods_is_never_active() -> None:
    assert not schedule(PassageMode(False, OFFICE.periods)).active(at(1, 12))
    assert not schedule(PassageMode(True, ())).active(at(1, 12))
    assert schedule(PassageMode(False, OFFICE.periods)).next_start(at(1, 6)) is None


def test_next_start_crosses_the_weekend() -> None:
    office = schedule()
    assert office.next_start(at(1, 6)) == at(1, 8)
    assert office.next_start(at(1, 12)) == at(2, 8)  # inside a window: the next one
    assert office.next_start(at(4, 19)) == at(7, 8)  # Friday evening -> Monday


def test_all_day_every_day_never_ends() -> None:
    always = schedule(PassageMode(True, (PassagePeriod(),)))
    assert always.always
    window = always.window_at(at(3, 3))
    assert window is not None and window.end is None
    assert always.next_start(at(3, 3)) is None
    assert always.relock_at(at(3, 3), 10) is None
    assert not schedule().always


def test_touching_periods_are_one_window() -> None:
    weekend = schedule(PassageMode(True, (PassagePeriod((6,)), PassagePeriod((7,)))))
    window = weekend.window_at(at(5, 23, 59))
    assert window is not None and (window.start, window.end) == (at(5, 0), at(7, 0))
    split = schedule(PassageMode(True, (PassagePeriod((1,), 1320, 1440),
                                        PassagePeriod((2,), 0, 360))))
    window = split.window_at(at(7, 23))
    assert window is not None and (window.start, window.end) == (at(7, 22), at(8, 6))


def test_a_period_ending_before_it_starts_runs_past_midnight() -> None:
    night = schedule(PassageMode(True, (PassagePeriod((1,), 1320, 360),)))
    assert night.active(at(8, 2))  # Tuesday 02:00, from Monday 22:00
    assert not night.active(at(8, 7))
    assert not night.active(at(7, 2))  # Monday 02:00: Sunday has no period


def test_relock_outside_a_window_after_auto_lock_time() -> None:
    assert schedule().relock_at(at(1, 19), 30) == at(1, 19) + 30
    assert schedule().relock_at(at(1, 19), 0) is None  # auto-lock off: stays open


def test_inside_a_window_it_stays_open_then_relocks_after_the_end() -> None:
    assert schedule().relock_at(at(1, 12), 30) == at(1, 18) + 30
    # opened a second before the end: counted from the end, not from the unlock
    assert schedule().relock_at(at(1, 18) - 1, 30) == at(1, 18) + 30
    # opened just before the window, the timer runs out inside it
    assert schedule().relock_at(at(1, 7, 59), 120) == at(1, 18) + 120


def test_next_event_for_an_unlocked_and_a_locked_lock() -> None:
    office = schedule()
    assert office.next_event(unlocked=True, since=at(1, 12), now=at(1, 13),
                             auto_lock_seconds=5) == NextEvent(at(1, 18) + 5, Action.RELOCK)
    # locked by hand inside the window: it stays locked; no auto-unlock configured
    assert office.next_event(unlocked=False, since=0, now=at(1, 13), auto_lock_seconds=5) is None
    auto = schedule(PassageMode(True, OFFICE.periods, auto_unlock=True))
    assert auto.next_event(unlocked=False, since=0, now=at(1, 13), auto_lock_seconds=5) == (
        NextEvent(at(2, 8), Action.AUTO_UNLOCK))
    assert auto.next_event(unlocked=False, since=0, now=at(1, 13), auto_lock_seconds=5,
                           auto_unlock_supported=False) is None
    # a relock already overdue (the bridge was down) is due now, not in the past
    assert office.next_event(unlocked=True, since=at(1, 19), now=at(1, 20),
                             auto_lock_seconds=5) == NextEvent(at(1, 20), Action.RELOCK)


def test_the_switch_keeps_a_schedule_or_makes_one_all_day() -> None:
    on = OFFICE.switched(True)
    assert on.enabled and on.periods == OFFICE.periods
    bare = PassageMode(False).switched(True)
    assert bare.enabled and bare.periods == (PassagePeriod(),)
    assert PassageSchedule(bare).always
    off = PassageMode(True, OFFICE.periods, auto_unlock=True).switched(False)
    assert not off.enabled and off.periods == OFFICE.periods and off.auto_unlock


def test_a_relock_a_window_held_back_counts_from_now() -> None:
    switched_off = PassageSchedule(PassageMode(False))
    # unlocked at 10:00 inside a window, passage mode switched off at 12:00: 5 s after that
    assert switched_off.relock_from(at(1, 10), 5, at(1, 12)) == at(1, 12) + 5
    assert switched_off.relock_from(at(1, 12), 5, at(1, 12)) == at(1, 12) + 5  # not past
    assert switched_off.relock_from(at(1, 12), 0, at(1, 12)) is None  # no auto-lock
