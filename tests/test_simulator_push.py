"""The simulated cloud pushes records as the real one does, to our own receiver over HTTP."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hapbridge.errors import HapbridgeError
from hapbridge.push.receiver import PushReceiver
from hapbridge.push.settings import CallbackSettings
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.simulator import cli as sim_cli
from hapbridge.simulator.commands import LOCKED, UNLOCKED
from hapbridge.ttlock import TTLockClient
from hapbridge.ttlock.record_types import DoorChange, LockChange, meaning_of
from tests.push_helpers import SECRET, StateSink


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(command_seconds=0.02, locks=3, gateways=1, wifi_locks=1, orphan_locks=1,
                     push_delay=0.01, seed=3)


@pytest.fixture
async def wired(sim: SimulatorServer) -> AsyncIterator[tuple[StateSink, PushReceiver]]:
    sink = StateSink(set(sim.world.locks),
                     {lock_id: lock.mac for lock_id, lock in sim.world.locks.items()})
    receiver = PushReceiver(CallbackSettings(port=0), SECRET, sink,
                            account=sim.config.username)
    await receiver.start()
    sim.config.callback_url = receiver.urls.local
    try:
        yield sink, receiver
    finally:
        await receiver.stop()


def lock_where(sim: SimulatorServer, **wanted: Any) -> int:
    for lock in sim.world.locks.values():
        kind = {"wifi": lock.wifi, "orphan": not lock.has_gateway,
                "sensor": lock.sensor_state is not None}
        if all(kind[key] == value for key, value in wanted.items()):
            return lock.lock_id
    raise LookupError(wanted)


async def event(sim: SimulatorServer, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{sim.url}/sim/event", json=body)


async def test_a_gateway_command_is_pushed_in_the_real_shape(
    sim: SimulatorServer, client: TTLockClient, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, receiver = wired
    lock_id = lock_where(sim, wifi=False, orphan=False)
    await client.unlock(lock_id)
    await sink.wait_for(1)
    push = sink.pushes[0]
    (record,) = push.records
    assert push.admin == sim.config.username and push.lock_mac == sim.world.locks[lock_id].mac
    assert record.record_type == 12 and record.username == sim.config.username
    assert record.battery == sim.world.locks[lock_id].battery
    assert record.server_date is not None and record.server_date >= record.lock_date
    assert sink.locks[lock_id].lock is LockChange.UNLOCKED
    await sim.pusher.wait_idle()
    assert sim.pusher.answers["success"] == 1 and receiver.accepted == 1
    await client.lock(lock_id)
    await sink.wait_for(2)
    assert sink.locks[lock_id].lock is LockChange.LOCKED
    # the pushed record is the listed one
    listed = await client.list_records(lock_id, limit=1)
    assert listed[0].record_type == 11


async def test_an_outside_keypad_unlock_changes_state_records_and_pushes(
    sim: SimulatorServer, client: TTLockClient, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, _ = wired
    lock_id = lock_where(sim, wifi=False, orphan=False)
    passcode = sim.world.add_passcode(lock_id, "24680135", name="Cleaner")
    answer = await event(sim, lockId=lock_id, recordType=4)
    assert answer.status_code == 200 and answer.json()["ok"]
    assert sim.world.locks[lock_id].state == UNLOCKED
    await sink.wait_for(1)
    (record,) = sink.pushes[0].records
    assert (record.record_type, record.username) == (4, "Cleaner")
    assert record.keyboard_pwd == passcode.code
    assert sink.locks[lock_id].lock is LockChange.UNLOCKED
    (listed,) = await client.list_records(lock_id, limit=1)
    assert listed.record_type == 4 and listed.passcode == passcode.code


async def test_card_push_carries_record_type_from_lock(
    sim: SimulatorServer, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, _ = wired
    lock_id = lock_where(sim, wifi=True)  # Wi-Fi locks push too
    assert (await event(sim, lockId=lock_id, recordType=7)).status_code == 200
    await sink.wait_for(1)
    (record,) = sink.pushes[0].records
    assert record.record_type_from_lock == meaning_of(7).from_lock == 17
    assert record.username == "Card" and record.keyboard_pwd.isdigit()


async def test_failed_tries_alerts_and_door_events(
    sim: SimulatorServer, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, _ = wired
    lock_id = lock_where(sim, orphan=False, sensor=True)
    await event(sim, lockId=lock_id, recordType=4, success=0, keyboardPwd="000000")
    await event(sim, lockId=lock_id, recordType=44)
    await event(sim, lockId=lock_id, recordType=31)
    assert sim.world.locks[lock_id].state == LOCKED  # neither changed the bolt
    assert sim.world.locks[lock_id].sensor_state == 0  # open
    await sink.wait_for(3)
    assert sink.locks[lock_id].door is DoorChange.OPEN and sink.locks[lock_id].lock is None
    assert [p.records[0].success for p in sink.pushes] == [False, True, True]


async def test_only_locks_that_upload_push(
    sim: SimulatorServer, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, _ = wired
    orphan = lock_where(sim, orphan=True)
    assert (await event(sim, lockId=orphan, recordType=4)).status_code == 200
    assert sim.world.locks[orphan].state == UNLOCKED  # it happened, at the lock
    behind = lock_where(sim, wifi=False, orphan=False)
    for gateway in sim.world.gateways.values():
        gateway.online = False
    await event(sim, lockId=behind, recordType=10)
    await sim.pusher.wait_idle()
    assert sink.pushes == []
    assert sim.pusher.skipped == {"no gateway": 1, "gateway offline": 1}


async def test_auto_lock_is_pushed(
    sim: SimulatorServer, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, _ = wired
    lock_id = lock_where(sim, wifi=False, orphan=False)
    sim.world.locks[lock_id].auto_lock_time = 1
    await event(sim, lockId=lock_id, recordType=46)
    await sink.wait_for(2, timeout=5)
    auto = sink.locks[lock_id].judged[-1]
    assert auto.record.record_type == 45 and auto.confirms_auto_lock
    assert sink.locks[lock_id].lock is LockChange.LOCKED


@pytest.mark.parametrize(("body", "error"), [
    ({"recordType": 4}, "lockId"),
    ({"lockId": 3_000_001, "recordType": "4"}, "recordType"),
    ({"lockId": 1, "recordType": 4}, "no lock 1"),
    ({"lockId": 3_000_001, "recordType": 4, "success": 2}, "success"),
    ({"lockId": 3_000_001, "recordType": 4, "username": 5}, "username"),
    ([1], "JSON object"),
])
async def test_bad_outside_events_are_400(sim: SimulatorServer, body: Any, error: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.url}/sim/event", json=body)
    assert answer.status_code == 400 and error in answer.json()["error"]


async def test_door_event_on_a_lock_without_sensor_is_400(sim: SimulatorServer) -> None:
    lock_id = lock_where(sim, sensor=False)
    answer = await event(sim, lockId=lock_id, recordType=31)
    assert answer.status_code == 400 and "door sensor" in answer.json()["error"]


async def test_random_outside_events_are_plausible_and_pushed(
    sim: SimulatorServer, wired: tuple[StateSink, PushReceiver]
) -> None:
    sink, receiver = wired
    made = []
    for _ in range(30):  # a few ms apart: the lock's clock orders them, not their arrival
        made.append(sim.outside.random_event())
        await asyncio.sleep(0.003)
    assert all(record is not None for record in made)
    for record in made:
        assert record is not None and sim.world.locks[record.lock_id].has_gateway
    await sim.pusher.wait_idle()
    assert receiver.accepted == 30 and sum(receiver.refused.values()) == 0
    for lock_id, view in sink.locks.items():  # each lock shows what the simulator holds
        lock = sim.world.locks[lock_id]
        if view.lock is not None:
            assert (view.lock is LockChange.UNLOCKED) == (lock.state == UNLOCKED)


def test_simulator_options_are_checked() -> None:
    parser = argparse.ArgumentParser()
    sim_cli.add_arguments(parser)
    config = sim_cli.config_from(parser.parse_args(
        ["--callback-url", "http://127.0.0.1:8788/x", "--push-delay", "0.2",
         "--outside-events", "6"]))
    assert (config.callback_url, config.push_delay, config.outside_events_per_minute) == (
        "http://127.0.0.1:8788/x", 0.2, 6)
    for argv, wrong in ((["--outside-events", "600"], "--outside-events"),
                        (["--push-delay", "-1"], "--push-delay"),
                        (["--callback-url", "localhost:8788"], "--callback-url")):
        with pytest.raises(HapbridgeError, match=wrong):
            sim_cli.config_from(parser.parse_args(argv))
