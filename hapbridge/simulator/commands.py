"""The physics of remote commands: reachability, one command per carrier, and effects.

A remote command travels cloud -> gateway (or the Wi-Fi lock itself) -> lock. The carrier
handles one command at a time: while one is in flight (``busy_until`` in loop time) a
second answers -3003 / -3037 at once, and the first answers only after
``command_seconds``, as a real gateway does. Every gateway-bound endpoint goes through
:meth:`Physics.remote`, so the rules live in one place. Auto-lock is modelled with
``loop.call_later`` timers that :meth:`Physics.close` cancels.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Protocol

from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.world import SimLock, SimRecord, World
from hapbridge.ttlock.record_types import (
    APP_LOCK,
    AUTO_LOCK,
    GATEWAY_UNLOCK,
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
        autoLockTime."""
        lock.state = UNLOCKED
        self.world.add_record(lock.lock_id, record_type, username=username,
                              keyboard_pwd=keyboard_pwd)
        self._cancel_auto_lock(lock.lock_id)
        if lock.auto_lock_time > 0 and not lock.passage_mode:
            loop = asyncio.get_running_loop()
            self._auto_lock[lock.lock_id] = loop.call_later(
                lock.auto_lock_time, self._auto_locked, lock.lock_id
            )

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
        if success and meaning.lock is LockChange.UNLOCKED:
            self.unlocked(lock, username, record_type, keyboard_pwd)
        elif success and meaning.lock is LockChange.LOCKED:
            self.locked(lock, username, record_type, keyboard_pwd)
        else:
            if success and meaning.door is not None:
                lock.sensor_state = (DOOR_OPEN_SENSOR if meaning.door is DoorChange.OPEN
                                     else DOOR_CLOSED_SENSOR)
            self.world.add_record(lock.lock_id, record_type, username=username,
                                  keyboard_pwd=keyboard_pwd, success=success)
        return self.world.records[lock.lock_id][-1]

    def _auto_locked(self, lock_id: int) -> None:
        self._auto_lock.pop(lock_id, None)
        lock = self.world.locks.get(lock_id)
        if lock is None or lock.state != UNLOCKED or lock.passage_mode:
            return
        lock.state = LOCKED
        self.world.add_record(lock_id, AUTO_LOCK)

    def auto_lock_pending(self, lock_id: int) -> bool:
        return lock_id in self._auto_lock

    def _cancel_auto_lock(self, lock_id: int) -> None:
        handle = self._auto_lock.pop(lock_id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        """Cancel pending auto-locks (the server is stopping)."""
        for handle in self._auto_lock.values():
            handle.cancel()
        self._auto_lock.clear()
