"""The door sensor as a state source, through the lock's record: pushed door records
(ordered by the lock's clock, "door not closed" keeping it open), the tamper flag, and
polls' sensorState against them."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hapbridge.bridge import door_state
from hapbridge.bridge.lock_hub import LockHub
from hapbridge.bridge.tracked_lock import Fact
from hapbridge.push.ordering import RecordOrder
from hapbridge.push.records import PushedRecord
from hapbridge.ttlock.models import SENSOR_OPEN, LockState, OpenState
from hapbridge.ttlock.record_types import DOOR_CLOSED, DOOR_NOT_CLOSED, DOOR_OPEN, TAMPER
from tests.bridge_helpers import FakeCloud, started_hub

DOOR_SENSOR = format(1 << 13, "X")


async def door_hub(tmp_path: Path) -> LockHub:
    cloud = FakeCloud(1)
    cloud.locks[1] = dataclasses.replace(cloud.locks[1], feature_value=DOOR_SENSOR)
    return await started_hub(tmp_path, cloud)


def push(hub: LockHub, order: RecordOrder, record_type: int, lock_date: int) -> None:
    record = PushedRecord(lock_id=1, record_type=record_type, success=True,
                          lock_date=lock_date, server_date=lock_date + 500)
    now_ms, now = int(time.time() * 1000), time.monotonic()
    for judgement in order.judge_push([record], now_ms):
        door_state.pushed(hub.registry, 1, judgement, now - (now_ms - lock_date) / 1000)


async def test_pushed_door_records_order_by_the_lock_clock(tmp_path: Path) -> None:
    hub = await door_hub(tmp_path)
    sensor, order = hub.record(1).services.door_sensor, RecordOrder()
    assert sensor is not None and not sensor.door_open
    base = int(time.time() * 1000) - 60_000
    push(hub, order, DOOR_OPEN, base)
    assert sensor.door_open
    push(hub, order, DOOR_CLOSED, base - 1_000)  # older: a late upload never wins
    assert sensor.door_open
    push(hub, order, DOOR_NOT_CLOSED, base + 1_000)  # the alarm keeps it open
    assert sensor.door_open and hub.record(1).shown[Fact.DOOR].value == 1
    push(hub, order, DOOR_CLOSED, base + 2_000)
    assert not sensor.door_open
    await hub.stop()


async def test_tamper_shows_on_the_sensor_until_the_door_is_used(tmp_path: Path) -> None:
    hub = await door_hub(tmp_path)
    sensor, order = hub.record(1).services.door_sensor, RecordOrder()
    assert sensor is not None
    base = int(time.time() * 1000) - 60_000
    push(hub, order, TAMPER, base)
    assert sensor.tampered and hub.record(1).tampered
    push(hub, order, DOOR_OPEN, base + 1_000)  # someone used the door as usual
    assert not sensor.tampered
    await hub.stop()


async def test_a_poll_sent_after_a_pushed_record_wins(tmp_path: Path) -> None:
    hub = await door_hub(tmp_path)
    sensor, order = hub.record(1).services.door_sensor, RecordOrder()
    assert sensor is not None
    push(hub, order, DOOR_OPEN, int(time.time() * 1000) - 5_000)
    assert sensor.door_open
    door_state.polled(hub.registry, 1, LockState(OpenState.LOCKED, sensor_state=1),
                      time.monotonic())
    assert not sensor.door_open
    door_state.polled(hub.registry, 1, LockState(OpenState.LOCKED, SENSOR_OPEN),
                      time.monotonic() - 60)  # sent before what is shown: dropped
    assert not sensor.door_open
    await hub.stop()
