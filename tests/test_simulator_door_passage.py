"""Door sensors and passage mode in the simulated cloud, over real HTTP, and the client's
typed reading of them.

Passage-mode windows are in minutes on the lock's clock: the tests move the lock's
``timezoneRawOffset`` so that a window edge falls a second from now, instead of waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.simulator.seed import build_world
from hapbridge.simulator.world import SimDoorSensor, SimLock
from hapbridge.ttlock.client import TTLockClient
from hapbridge.ttlock.models import (
    Feature,
    Lock,
    LockState,
    OpenState,
    has_door_sensor,
    has_feature,
)
from hapbridge.ttlock.record_types import (
    AUTO_LOCK,
    DOOR_CLOSED,
    DOOR_NOT_CLOSED,
    DOOR_OPEN,
    PASSAGE_UNLOCK,
    DoorChange,
)
from tests.test_simulator import Api, bt_lock, logged_in


@pytest.fixture
async def api(sim: SimulatorServer) -> AsyncIterator[Api]:
    """The shared simulated cloud (conftest: five locks, three with a door sensor)."""
    async with logged_in(sim) as client:
        yield client


def edge_in(lock: SimLock, minute: int, seconds: float) -> int:
    """Set the lock's clock so that ``minute`` (of today, on its clock) comes in
    ``seconds``; the lock's week day then."""
    now = time.time()
    day = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0,
                                                      microsecond=0)
    lock.timezone_raw_offset = round((day.timestamp() + minute * 60 - seconds - now) * 1000)
    return day.isoweekday()


async def wait_for(check: object, seconds: float) -> bool:
    for _ in range(int(seconds / 0.05)):
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(check())  # type: ignore[operator]


def last_type(server: SimulatorServer, lock_id: int) -> int:
    return server.world.records[lock_id][-1].record_type


async def test_inside_a_window_it_stays_open_and_relocks_after_it(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    lock.auto_lock_time = 1
    day = edge_in(lock, 18 * 60, 1.0)  # the 08:00-18:00 window ends in a second
    cyclic = json.dumps([{"isAllDay": 2, "startTime": 480, "endTime": 1080, "weekDays": [day]}])
    answer = await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=1,
                            cyclicConfig=cyclic, autoUnlock=2, type=2)
    assert answer["errcode"] == 0
    await api.post("/v3/lock/unlock", lockId=lock_id)
    await asyncio.sleep(1.4)  # plain auto-lock would have locked by now
    assert lock.state == 1
    assert await wait_for(lambda: lock.state == 0, 2.0)  # window end + autoLockTime
    assert last_type(api.server, lock_id) == AUTO_LOCK


async def test_outside_a_window_auto_lock_applies(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    lock.auto_lock_time = 1
    day = edge_in(lock, 20 * 60, 0.0)  # 20:00, two hours after the window
    cyclic = json.dumps([{"isAllDay": 2, "startTime": 480, "endTime": 1080, "weekDays": [day]}])
    await api.post("/v3/lock/configurePassageMode", lockId=lock_id, passageMode=1,
                   cyclicConfig=cyclic, type=2)
    await api.post("/v3/lock/unlock", lockId=lock_id)
    assert await wait_for(lambda: lock.state == 0, 2.0)
    assert last_type(api.server, lock_id) == AUTO_LOCK


async def test_auto_unlock_as_a_window_starts_old_endpoint(api: Api) -> None:
    lock_id = bt_lock(api.server)
    lock = api.server.world.locks[lock_id]
    lock.auto_lock_time = 1
    day = edge_in(lock, 480, 0.8)  # 08:00 in 0.8 s
    answer = await api.post("/v3/lock/configPassageMode", lockId=lock_id, passageMode=1,
                            isAllDay=2, startDate=480, endDate=1080, weekDays=f"[{day}]",
                            autoUnlock=1, type=2)
    assert answer["errcode"] == 0 and lock.state == 0
    assert (await api.get("/v3/lock/detail", lockId=lock_id))["passageModeAutoUnlock"] == 1
    assert await wait_for(lambda: lock.state == 1, 2.0)
    assert last_type(api.server, lock_id) == PASSAGE_UNLOCK
    await asyncio.sleep(1.2)  # inside the window now: auto-lock does not apply
    assert lock.state == 1


async def test_door_opens_closes_and_alarms(api: Api) -> None:
    server = api.server
    lock_id = next(lid for lid, lock in server.world.locks.items()
                   if lock.sensor_state is not None and lock.has_gateway)
    lock = server.world.locks[lock_id]
    assert has_door_sensor(lock.feature_value)
    lock.door_alarm_seconds = 0.3  # type: ignore[assignment]
    state = await api.get("/v3/lock/queryOpenState", lockId=lock_id)
    assert state["sensorState"] == 1  # closed
    server.outside.make(lock_id, DOOR_OPEN)
    assert (await api.get("/v3/lock/queryOpenState", lockId=lock_id))["sensorState"] == 0
    assert await wait_for(lambda: last_type(server, lock_id) == DOOR_NOT_CLOSED, 1.5)
    assert lock.sensor_state == 0  # the alarm leaves it open
    server.outside.make(lock_id, DOOR_CLOSED)
    assert (await api.get("/v3/lock/queryOpenState", lockId=lock_id))["sensorState"] == 1
    server.outside.make(lock_id, DOOR_OPEN)
    server.outside.make(lock_id, DOOR_CLOSED)  # closed in time: no alarm
    await asyncio.sleep(0.5)
    assert last_type(server, lock_id) == DOOR_CLOSED


async def test_random_door_events_follow_the_door(api: Api) -> None:
    server = api.server
    server.world.locks = {lid: lock for lid, lock in server.world.locks.items()
                          if lock.sensor_state is not None and lock.has_gateway}
    for _ in range(40):
        before = {lid: lock.sensor_state for lid, lock in server.world.locks.items()}
        record = server.outside.random_event()
        assert record is not None
        if record.record_type == DOOR_OPEN and record.success:
            assert before[record.lock_id] == 1
        if record.record_type == DOOR_CLOSED and record.success:
            assert before[record.lock_id] == 0


async def test_wireless_door_sensor_query(api: Api) -> None:
    server = api.server
    wireless = next(lock for lock in server.world.locks.values() if lock.door_sensor)
    answer = await api.post("/v3/doorSensor/query", lockId=wireless.lock_id)
    assert answer["doorSensorId"] == wireless.door_sensor.sensor_id  # type: ignore[union-attr]
    assert answer["doorNotClosedWarningTime"] == wireless.door_alarm_seconds > 0
    built_in = next(lock for lock in server.world.locks.values()
                    if lock.sensor_state is not None and lock.door_sensor is None)
    assert await api.post("/v3/doorSensor/query", lockId=built_in.lock_id) == {}


def test_seeded_worlds_keep_their_history_and_gain_wireless_sensors() -> None:
    """Door sensors were added without new random draws: seed 7 is what it was."""
    world = build_world(SimConfig(locks=12, gateways=3, wifi_locks=2, orphan_locks=1, seed=7))
    rows = [(lock.lock_id, lock.mac, lock.battery, lock.sensor_state, lock.lock_data,
             [(r.record_type, r.username, r.keyboard_pwd) for r in world.records[lock.lock_id]],
             sorted(p.code for p in world.passcodes[lock.lock_id].values()))
            for lock in world.locks.values()]
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    assert digest == "848df2469088b752c8c91ebd79bd71e6e9df1d851179ec3a0fa662aaeaa10d3e"
    locks = [Lock.from_api({"lockId": lock.lock_id, "featureValue": lock.feature_value})
             for lock in world.locks.values()]
    sensors = [lock for lock in world.locks.values() if lock.sensor_state is not None]
    assert [lock.lock_id for lock in locks if lock.has_door_sensor] == [
        lock.lock_id for lock in sensors]
    assert sum(1 for lock in sensors if lock.door_sensor) == len(sensors) // 2
    assert all(has_feature(lock.feature_value, Feature.PASSAGE_MODE)
               and has_feature(lock.feature_value, Feature.PASSAGE_AUTO_UNLOCK)
               for lock in locks)


async def test_client_reads_the_door(client: TTLockClient, sim: SimulatorServer) -> None:
    lock_id = next(lid for lid, lock in sim.world.locks.items()
                   if lock.sensor_state is not None and lock.has_gateway)
    state = await client.query_open_state(lock_id)
    assert state.state is OpenState.LOCKED and state.door is DoorChange.CLOSED
    sim.outside.make(lock_id, DOOR_OPEN)
    assert (await client.query_open_state(lock_id)).door is DoorChange.OPEN
    without = next(lid for lid, lock in sim.world.locks.items()
                   if lock.sensor_state is None and lock.has_gateway)
    assert (await client.query_open_state(without)).door is None
    assert await client.door_sensor(without) is None
    lock = sim.world.locks[lock_id]
    lock.door_sensor = SimDoorSensor(sensor_id=9, mac="63:42:BB:C2:61:A9", battery=85)
    sensor = await client.door_sensor(lock_id)
    assert sensor is not None and (sensor.sensor_id, sensor.mac, sensor.battery) == (
        9, "63:42:BB:C2:61:A9", 85)


def test_sensor_state_values_outside_0_and_1_read_as_unreported() -> None:
    assert LockState.from_api({"state": 1, "sensorState": 0}).door is DoorChange.OPEN
    assert LockState.from_api({"state": 1, "sensorState": 1}).door is DoorChange.CLOSED
    for odd in (2, -1, "x", True, None):
        assert LockState.from_api({"state": 1, "sensorState": odd}).door is None
