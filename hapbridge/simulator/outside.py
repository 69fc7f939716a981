"""Things done at the door, not through the cloud: a keypad code, a card, a key, a button.

``POST /sim/event {"lockId": 3000001, "recordType": 4}`` makes one happen now (optional
``username``, ``keyboardPwd``, ``success``); the state changes as the record type means,
the lock records it, and a gateway or Wi-Fi lock pushes it to the callback URL. With
``outside_events_per_minute`` the simulator makes such events at random, at a bounded rate,
so a demo shows changes arriving in Home with nobody at the door.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hapbridge.simulator.commands import (
    DOOR_CLOSED_SENSOR,
    DOOR_OPEN_SENSOR,
    UNLOCKED,
    Physics,
)
from hapbridge.simulator.config import MAX_EVENTS_PER_MINUTE, SimConfig
from hapbridge.simulator.world import SimLock, SimRecord, World
from hapbridge.ttlock.record_types import (
    APP_UNLOCK,
    CARD_UNLOCK,
    DOOR_CLOSED,
    DOOR_OPEN,
    FINGERPRINT_UNLOCK,
    KEY_UNLOCK,
    LOCK_BUTTON,
    PASSCODE_UNLOCK,
    UNLOCK_BUTTON,
    DoorChange,
    Method,
    meaning_of,
)

# (recordType, weight) of what happens at a locked door, and at an unlocked one
WHEN_LOCKED = ((PASSCODE_UNLOCK, 5), (FINGERPRINT_UNLOCK, 3), (CARD_UNLOCK, 2),
               (UNLOCK_BUTTON, 2), (APP_UNLOCK, 1), (KEY_UNLOCK, 1))
WHEN_UNLOCKED = ((LOCK_BUTTON, 3), (DOOR_OPEN, 2), (DOOR_CLOSED, 2))
FAILED_TRY_RATE = 0.1  # a wrong code now and then


class OutsideEvents:
    def __init__(self, world: World, physics: Physics, settings: Callable[[], SimConfig],
                 rng: random.Random) -> None:
        self.world = world
        self.physics = physics
        self._settings = settings
        self._rng = rng

    def make(self, lock_id: int, record_type: int, *, username: str | None = None,
             keyboard_pwd: str | None = None, success: bool = True) -> SimRecord:
        """Make the event happen; ValueError names what is wrong with the request."""
        lock = self.world.locks.get(lock_id)
        if lock is None:
            raise ValueError(f"no lock {lock_id}")
        who, code = self._credential(lock, record_type)
        return self.physics.happen(
            lock, record_type, success=success,
            username=who if username is None else username,
            keyboard_pwd=code if keyboard_pwd is None else keyboard_pwd)

    def _credential(self, lock: SimLock, record_type: int) -> tuple[str, str]:
        """Who did it and with which code, as the cloud reports it for that method."""
        method = meaning_of(record_type).method
        digits = "0123456789"
        if method is Method.KEYPAD:
            passcodes = list(self.world.passcodes.get(lock.lock_id, {}).values())
            if passcodes:
                chosen = self._rng.choice(passcodes)
                return chosen.name, chosen.code
            return "", "".join(self._rng.choice(digits) for _ in range(6))
        if method is Method.CARD:
            return "Card", "".join(self._rng.choice(digits) for _ in range(10))
        if method is Method.FINGERPRINT:
            return "Fingerprint", "".join(self._rng.choice(digits) for _ in range(12))
        if method is Method.APP:
            return self._settings().username, ""
        return "", ""

    def random_event(self) -> SimRecord | None:
        """One plausible event at a random lock that uploads records (None: no such lock)."""
        locks = [lock for lock in self.world.locks.values() if lock.has_gateway]
        if not locks:
            return None
        lock = self._rng.choice(locks)
        choices = WHEN_UNLOCKED if lock.state == UNLOCKED else WHEN_LOCKED
        if lock.sensor_state == DOOR_OPEN_SENSOR:  # an open door closes before much else
            choices = ((DOOR_CLOSED, 4), *(c for c in choices if c[0] != DOOR_OPEN))
        choices = tuple(c for c in choices if meaning_of(c[0]).door is None
                        or _door_can(lock, c[0]))
        record_type = self._rng.choices([c[0] for c in choices], [c[1] for c in choices])[0]
        failed = (meaning_of(record_type).method is Method.KEYPAD
                  and self._rng.random() < FAILED_TRY_RATE)
        return self.make(lock.lock_id, record_type, success=not failed)

    async def run(self) -> None:
        """Random events while ``outside_events_per_minute`` > 0 (read each time)."""
        while True:
            rate = min(self._settings().outside_events_per_minute, MAX_EVENTS_PER_MINUTE)
            if rate <= 0:
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(self._rng.expovariate(rate / 60.0))
            self.random_event()

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /sim/event``: a JSON object; 400 with the reason when it is not usable."""
        try:
            body = await request.json()
            fields = _event_fields(body)
            record = self.make(**fields)
        except (ValueError, TypeError) as err:
            return web.json_response({"error": str(err) or "malformed JSON"}, status=400)
        return web.json_response({"ok": True, "recordId": record.record_id,
                                  "recordType": record.record_type,
                                  "lockDate": record.lock_date})


def _door_can(lock: SimLock, record_type: int) -> bool:
    """Whether the lock's door can make this record now (open only when closed, ...)."""
    if lock.sensor_state is None:
        return False
    door = meaning_of(record_type).door
    return (door is DoorChange.OPEN) == (lock.sensor_state == DOOR_CLOSED_SENSOR)


def _event_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError('expected a JSON object like {"lockId": 3000001, "recordType": 4}')
    fields: dict[str, Any] = {}
    for name in ("lockId", "recordType"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number")
    fields["lock_id"], fields["record_type"] = body["lockId"], body["recordType"]
    for name, key in (("username", "username"), ("keyboardPwd", "keyboard_pwd")):
        if name in body:
            if not isinstance(body[name], str):
                raise ValueError(f"{name} must be text")
            fields[key] = body[name]
    if "success" in body:
        if body["success"] not in (0, 1) or isinstance(body["success"], bool):
            raise ValueError("success must be 0 or 1")
        fields["success"] = body["success"] == 1
    return fields
