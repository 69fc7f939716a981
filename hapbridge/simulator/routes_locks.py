"""/v3/lock/* and /v3/lockRecord/list: lock lists and details, remote commands, records.

Passage mode has its own module (routes_passage.py)."""

from __future__ import annotations

from typing import Any

from hapbridge.simulator.api import OK, READ, WRITE, Call, Route
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import paginate
from hapbridge.simulator.world import SimLock, SimRecord
from hapbridge.ttlock.record_types import APP_UNLOCK, GATEWAY_UNLOCK

LOCK_PAGE_MAX = 1000
RECORD_PAGE_MAX = 200
AUTO_LOCK_MAX_SECONDS = 900


def lock_item(lock: SimLock) -> dict[str, Any]:
    """A ``lock/list`` item."""
    return {
        "lockId": lock.lock_id,
        "lockName": lock.name,
        "lockAlias": lock.alias,
        "lockMac": lock.mac,
        "electricQuantity": lock.battery,
        "featureValue": lock.feature_value,
        "hasGateway": int(lock.has_gateway),
        "lockData": lock.lock_data,
        "groupId": lock.group_id or 0,
        "date": lock.init_date,
    }


def record_item(record: SimRecord) -> dict[str, Any]:
    return {
        "recordId": record.record_id,
        "lockId": record.lock_id,
        "recordType": record.record_type,
        "success": int(record.success),
        "username": record.username,
        "keyboardPwd": record.keyboard_pwd,
        "lockDate": record.lock_date,
        "serverDate": record.server_date,
    }


async def list_locks(call: Call) -> dict[str, Any]:
    alias = call.params.str("lockAlias", "").casefold()
    group_id = call.params.optional_int("groupId")
    locks = [
        lock
        for lock in call.world.locks.values()
        if (not alias or alias in lock.alias.casefold())
        and (group_id is None or lock.group_id == group_id)
    ]
    return paginate(locks, call.params, LOCK_PAGE_MAX, lock_item)


async def detail(call: Call) -> dict[str, Any]:
    lock = call.lock()
    return {
        **lock_item(lock),
        "modelNum": lock.model_num,
        "hardwareRevision": lock.hardware_revision,
        "firmwareRevision": lock.firmware_revision,
        "autoLockTime": lock.auto_lock_time if lock.auto_lock_time > 0 else -1,
        "passageMode": 1 if lock.passage_mode else 2,
        "passageModeAutoUnlock": 1 if lock.passage.auto_unlock else 2,
        "lockSound": 1 if lock.lock_sound else 2,
        "timezoneRawOffset": lock.timezone_raw_offset,
        "keyboardPwdVersion": 4,
        "adminPwd": lock.admin_pwd,
        "noKeyPwd": lock.admin_pwd[:7],
        "lockKey": lock.lock_key,
        "aesKeyStr": lock.aes_key,
        "lockVersion": {"protocolType": 5, "protocolVersion": 3, "scene": 2,
                        "groupId": 1, "orgId": 1},
    }


async def unlock(call: Call) -> dict[str, Any]:
    lock = call.lock()
    await call.physics.remote(lock, unlock=True)
    # A Wi-Fi lock takes the command itself: an app unlock, not one by a gateway it lacks.
    call.physics.unlocked(lock, call.config.username,
                          APP_UNLOCK if lock.wifi else GATEWAY_UNLOCK)
    return OK


async def lock_(call: Call) -> dict[str, Any]:
    lock = call.lock()
    await call.physics.remote(lock)
    call.physics.locked(lock, call.config.username)
    return OK


async def query_open_state(call: Call) -> dict[str, Any]:
    lock = call.lock()
    await call.physics.remote(lock)
    answer: dict[str, Any] = {"state": lock.state}
    if lock.sensor_state is not None:
        answer["sensorState"] = lock.sensor_state
    return answer


async def door_sensor(call: Call) -> dict[str, Any]:
    """``doorSensor/query`` (docs: doorSensor/query.md): the bound wireless sensor. For a
    lock without one the docs show no answer; this one answers an empty object."""
    lock = call.lock()
    sensor = lock.door_sensor
    if sensor is None:
        return {}
    return {"doorSensorId": sensor.sensor_id, "name": sensor.name,
            "electricQuantity": sensor.battery, "version": sensor.version, "mac": sensor.mac,
            "number": sensor.number, "doorNotClosedWarningTime": lock.door_alarm_seconds}


async def query_battery(call: Call) -> dict[str, Any]:
    lock = call.lock()
    await call.physics.remote(lock)
    return {"electricQuantity": lock.battery}


async def set_auto_lock_time(call: Call) -> dict[str, Any]:
    lock = call.lock()
    seconds = call.params.int("seconds")
    if seconds > AUTO_LOCK_MAX_SECONDS:
        raise ApiError(-4082, f"seconds must be at most {AUTO_LOCK_MAX_SECONDS}")
    await call.carry_if_remote(lock, "type")
    lock.auto_lock_time = seconds if seconds > 0 else -1
    return OK


async def list_records(call: Call) -> dict[str, Any]:
    """``startDate``/``endDate`` 0 (or absent) mean no bound, as clients send them."""
    lock = call.lock()
    since = call.params.int("startDate", 0)
    until = call.params.int("endDate", 0)
    records = sorted(
        (
            record
            for record in call.world.records[lock.lock_id]
            if record.lock_date >= since and (not until or record.lock_date <= until)
        ),
        key=lambda record: (record.lock_date, record.record_id),
        reverse=True,
    )
    return paginate(records, call.params, RECORD_PAGE_MAX, record_item)


ROUTES = (
    Route("/v3/lock/list", list_locks, READ),
    Route("/v3/lock/detail", detail, READ),
    Route("/v3/lock/unlock", unlock, READ),  # practice: GET works for lock/unlock
    Route("/v3/lock/lock", lock_, READ),
    Route("/v3/lock/queryOpenState", query_open_state, READ),
    Route("/v3/lock/queryElectricQuantity", query_battery, READ),
    Route("/v3/doorSensor/query", door_sensor, WRITE),
    Route("/v3/lock/setAutoLockTime", set_auto_lock_time, WRITE),
    Route("/v3/lockRecord/list", list_records, READ),
)
