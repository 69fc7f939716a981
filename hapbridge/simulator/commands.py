"""The physics of remote commands: reachability, one command per carrier, and effects.

A remote command travels cloud -> gateway (or the Wi-Fi lock itself) -> lock. The carrier
handles one command at a time: while one is in flight (``busy_until`` in loop time) a
second answers -3003 / -3037 at once, and the first answers only after
``command_seconds``, as a real gateway does. Every gateway-bound endpoint goes through
:meth:`Physics.remote`, so the rules live in one place. Auto-lock, passage mode's
auto-unlock and the "door not closed" alarm are ``loop.call_later`` timers that
:meth:`Physics.close` cancels. Passage mode is honoured as TTLock defines it (the rules in
``ttlock/passage_schedule.py``, shared with the bridge): within a period an open lock stays
open, outside it relocks after ``autoLockTime``, with auto-unlock on it opens as a period
starts (record 63).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Protocol

from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.world import SimLock, SimRecord, World
from hapbridge.ttlock.models import Feature, has_feature
from hapbridge.ttlock.passage import PassageMode, PassagePeriod
from hapbridge.ttlock.passage_schedule import PassageSchedule
from hapbridge.ttlock.record_types import (
    APP_LOCK,
    AUTO_LOCK,
    DOOR_NOT_CLOSED,
    GATEWAY_UNLOCK,
    PASSAGE_UNLOCK,
    DoorChange,
    LockChange,
    meaning_of,
)

LOCKED, UNLOCKED = 0, 1
DOOR_OPEN_SENSOR, DOOR_CLOSED_SENSOR = 0, 1  # sensorState


class Carrier(Protocol):
    """A gateway, or a Wi-Fi lock carrying its own commands."""

    busy_until: float


class Physics:
    """Carries remote commands and applies their effects to the world."""

    def __init__(
        self, world: World, settings: Callable[[], SimConfig], rng: random.Random
    ) -> None:
        self.world = world
        self._settings = settings  # read on every command: tests change the config live
        self._rng = rng
        self._auto_lock: dict[int, asyncio.TimerHandle] = {}
        self._auto_unlock: dict[int, asyncio.TimerHandle] = {}
        self._door_alarm: dict[int, asyncio.TimerHandle] = {}
        self._unlocked_at: dict[int, float] = {}  # unix seconds of the last unlock

    async def remote(self, lock: SimLock, *, unlock: bool = False) -> None:
        """Carry one command to ``lock``: raise the cloud's errcode or return once done."""
        config = self._settings()
        if unlock and not lock.remote_unlock:
            raise ApiError(-4043, "Remote Unlock is switched off in the TTLock app")
        carrier: Carrier
        if lock.wifi:
            if not lock.online:
                raise ApiError(-3036)
            carrier, busy_code = lock, -3037
        else:
            gateway = self.world.gateway_of(lock)
            if gateway is None:
                raise ApiError(-2012)
            if not gateway.online:
                raise ApiError(-3002)
            carrier, busy_code = gateway, -3003
        loop = asyncio.get_running_loop()
        if loop.time() < carrier.busy_until:
            raise ApiError(busy_code)
        if config.busy_rate > 0 and self._rng.random() < config.busy_rate:
            raise ApiError(busy_code, "busy (fault injection)")
        carrier.busy_until = loop.time() + config.command_seconds
        await asyncio.sleep(config.command_seconds)

    # -- effects ----------------------------------------------------------------------

    def unlocked(self, lock: SimLock, username: str, record_type: int = GATEWAY_UNLOCK,
                 keyboard_pwd: str = "") -> None:
        """The lock opened (a gateway command by default); it relocks itself after
        autoLockTime, or after the passage-mode window it is in."""
        lock.state = UNLOCKED
        self.world.add_record(lock.lock_id, record_type, username=username,
                              keyboard_pwd=keyboard_pwd)
        self._unlocked_at[lock.lock_id] = time.time()
        self._arm_auto_lock(lock)

    def locked(self, lock: SimLock, username: str, record_type: int = APP_LOCK,
               keyboard_pwd: str = "") -> None:
        lock.state = LOCKED
        self._cancel_auto_lock(lock.lock_id)
        self.world.add_record(lock.lock_id, record_type, username=username,
                              keyboard_pwd=keyboard_pwd)

    def happen(self, lock: SimLock, record_type: int, *, username: str = "",
               keyboard_pwd: str = "", success: bool = True) -> SimRecord:
        """Something done at the door (keypad, card, key, button, door...): the state
        changes as the record type means, and the lock records it. A failed try or an
        alert changes nothing but the record."""
        meaning = meaning_of(record_type)
        if meaning.door is not None and lock.sensor_state is None and success:
            raise ValueError("this lock has no door sensor")
        if success and meaning.door is not None:
            self._door_moved(lock, meaning.door, record_type)
        if success and meaning.lock is LockChange.UNLOCKED:
            self.unlocked(lock, username, record_type, keyboard_pwd)
        elif success and meaning.lock is LockChange.LOCKED:
            self.locked(lock, username, record_type, keyboard_pwd)
        else:
            self.world.add_record(lock.lock_id, record_type, username=username,
                                  keyboard_pwd=keyboard_pwd, success=success)
        return self.world.records[lock.lock_id][-1]

    # -- auto-lock and passage mode ---------------------------------------------------

    def schedule(self, lock: SimLock) -> PassageSchedule:
        """The lock's passage mode on its clock, as the client reads it back."""
        mode = PassageMode(
            enabled=lock.passage_mode,
            periods=tuple(PassagePeriod(tuple(p.week_days),
                                        None if p.all_day else p.start_minute,
                                        None if p.all_day else p.end_minute)
                          for p in lock.passage.periods),
            auto_unlock=lock.passage.auto_unlock)
        return PassageSchedule(mode, lock.timezone_raw_offset)

    def passage_changed(self, lock: SimLock) -> None:
        """Passage mode was set (either endpoint): plan the lock's own moves again."""
        if lock.state == UNLOCKED:
            self._arm_auto_lock(lock)
        self._arm_auto_unlock(lock)

    def _arm_auto_lock(self, lock: SimLock) -> None:
        self._cancel_auto_lock(lock.lock_id)
        now = time.time()
        seconds = lock.auto_lock_time
        due = self.schedule(lock).relock_from(self._unlocked_at.get(lock.lock_id, now),
                                              seconds, now)
        if due is None:
            return
        self._auto_lock[lock.lock_id] = asyncio.get_running_loop().call_later(
            due - now, self._auto_locked, lock.lock_id)

    def _auto_locked(self, lock_id: int) -> None:
        self._auto_lock.pop(lock_id, None)
        lock = self.world.locks.get(lock_id)
        if lock is None or lock.state != UNLOCKED:
            return
        window = self.schedule(lock).window_at(time.time())
        if window is not None:  # a window began meanwhile: it counts again from its end
            if window.end is not None:
                self._auto_lock[lock_id] = asyncio.get_running_loop().call_later(
                    window.end + lock.auto_lock_time - time.time(), self._auto_locked, lock_id)
            return
        lock.state = LOCKED
        self.world.add_record(lock_id, AUTO_LOCK)

    def _arm_auto_unlock(self, lock: SimLock) -> None:
        """With auto-unlock on (and bit 46), the lock opens as each window starts."""
        self._cancel(self._auto_unlock, lock.lock_id)
        if not has_feature(lock.feature_value, Feature.PASSAGE_AUTO_UNLOCK):
            return
        schedule = self.schedule(lock)
        start = schedule.next_start(time.time()) if schedule.mode.auto_unlock else None
        if start is not None:
            self._auto_unlock[lock.lock_id] = asyncio.get_running_loop().call_later(
                max(0.0, start - time.time()), self._window_started, lock.lock_id, start)

    def _window_started(self, lock_id: int, start: float) -> None:
        self._auto_unlock.pop(lock_id, None)
        lock = self.world.locks.get(lock_id)
        if lock is None:
            return
        if lock.state != UNLOCKED and self.schedule(lock).active(start):
            self.unlocked(lock, "", PASSAGE_UNLOCK)
        self._arm_auto_unlock(lock)

    # -- the door ---------------------------------------------------------------------

    def _door_moved(self, lock: SimLock, door: DoorChange, record_type: int) -> None:
        """Open: the "door not closed" alarm (record 64) is due after the lock's alarm
        time, unless it closes first; the alarm itself leaves the door open."""
        lock.sensor_state = DOOR_OPEN_SENSOR if door is DoorChange.OPEN else DOOR_CLOSED_SENSOR
        if record_type == DOOR_NOT_CLOSED:
            return
        self._cancel(self._door_alarm, lock.lock_id)
        if door is DoorChange.OPEN and lock.door_alarm_seconds > 0:
            self._door_alarm[lock.lock_id] = asyncio.get_running_loop().call_later(
                lock.door_alarm_seconds, self._door_left_open, lock.lock_id)

    def _door_left_open(self, lock_id: int) -> None:
        self._door_alarm.pop(lock_id, None)
        lock = self.world.locks.get(lock_id)
        if lock is not None and lock.sensor_state == DOOR_OPEN_SENSOR:
            self.world.add_record(lock_id, DOOR_NOT_CLOSED)

    def auto_lock_pending(self, lock_id: int) -> bool:
        return lock_id in self._auto_lock

    def _cancel_auto_lock(self, lock_id: int) -> None:
        self._cancel(self._auto_lock, lock_id)

    @staticmethod
    def _cancel(timers: dict[int, asyncio.TimerHandle], lock_id: int) -> None:
        handle = timers.pop(lock_id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        """Cancel pending timers (the server is stopping)."""
        for timers in (self._auto_lock, self._auto_unlock, self._door_alarm):
            for handle in timers.values():
                handle.cancel()
            timers.clear()
