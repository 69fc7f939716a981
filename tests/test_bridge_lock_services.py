"""The door sensor and passage mode, live: a paired controller (aiohomekit) against the
bridge and the simulated cloud over real HTTP and HAP on 127.0.0.1.

It sees the door open and close (from the polls' ``sensorState``), toggles passage mode
(a cloud call through the gateway queue; a failure reverts the switch), and sees the
schedule honoured by the shown state: the lock's clock (``timezoneRawOffset``) is shifted
so that a window ends or starts a second or two from now, and the relock after it (or the
auto-unlock at its start) shows without a poll. Hidden services are absent, and a bridge
paired before the services existed keeps every AID and IID.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohomekit.controller.ip import IpPairing
from aiohomekit.model.characteristics import CharacteristicsTypes
from aiohomekit.uuid import normalize_uuid

from hapbridge.bridge.server import BridgeServer
from hapbridge.bridge.tracked_lock import Fact, Source
from hapbridge.event_log import EVENTS_FILE, read_events
from hapbridge.push.settings import CallbackSettings
from hapbridge.simulator import SimulatorServer
from hapbridge.simulator.world import PassagePeriod, SimDoorSensor, SimLock, feature_value
from hapbridge.ttlock.models import Feature, has_feature
from hapbridge.ttlock.record_types import (
    DOOR_CLOSED,
    DOOR_NOT_CLOSED,
    DOOR_OPEN,
    LOCKED_OUT,
    TAMPER,
    Alert,
)
from tests.bridge_helpers import (
    CURRENT,
    TARGET,
    EventLog,
    accessories,
    char_iid,
    pair,
    start_bridge,
    wait_for,
)

CONTACT, ON = CharacteristicsTypes.CONTACT_STATE, CharacteristicsTypes.ON
UNSECURED, SECURED, UNKNOWN = 0, 1, 3
BEFORE = Path(__file__).parent / "data" / "accessories_before_lock_services.json"
FIXTURE_LOCKS = {2: 3000001, 3: 3000002, 5: 3000004}  # aid -> lock id, as in the fixture


def with_sensor(lock: SimLock) -> SimLock:
    lock.feature_value = feature_value(wifi=lock.wifi, door_sensor=True)
    lock.sensor_state = 1
    return lock


def first_lock(sim: SimulatorServer) -> SimLock:
    return next(lock for lock in sim.world.locks.values() if not lock.wifi)


def has_char(accs: list[dict[str, Any]], aid: int, char_type: str) -> bool:
    try:
        char_iid(accs, aid, char_type)
    except KeyError:
        return False
    return True


class Live:
    def __init__(self, sim: SimulatorServer, bridge: BridgeServer, pairing: IpPairing,
                 lock: SimLock) -> None:
        self.sim, self.bridge, self.pairing, self.lock = sim, bridge, pairing, lock
        assert bridge.hub is not None and bridge.identity is not None
        self.hub = bridge.hub
        self.aid = bridge.identity.aids[lock.lock_id]

    async def keys(self, *types: str) -> list[tuple[int, int]]:
        accs = await accessories(self.pairing)
        return [(self.aid, char_iid(accs, self.aid, t)) for t in types]

    async def value(self, key: tuple[int, int]) -> Any:
        return (await self.pairing.get_characteristics([key]))[key]["value"]


@pytest.fixture
async def live(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[Live]:
    lock = with_sensor(first_lock(sim))
    lock.auto_lock_time = 1
    # a small budget: few polls, so what the tests see comes from the auto-lock model
    bridge = await start_bridge(sim, tmp_path / "storage", passage_switch=True,
                                api_budget_per_month=1000)
    pairing = await pair(bridge)
    live = Live(sim, bridge, pairing, lock)
    await wait_for(lambda: live.hub.record(lock.lock_id).state != UNKNOWN)
    try:
        yield live
    finally:
        await pairing.close()
        await bridge.stop()


async def test_controller_sees_the_door_open_and_close(live: Live) -> None:
    (door,) = await live.keys(CONTACT)
    log = EventLog(live.pairing)
    await live.pairing.subscribe([door])
    assert await live.value(door) == 0
    live.sim.physics.happen(live.lock, DOOR_OPEN)
    assert await live.hub.poll(live.lock.lock_id)  # queryOpenState reports sensorState
    await wait_for(lambda: 1 in log.values(door), 3)
    live.sim.physics.happen(live.lock, DOOR_CLOSED)
    assert await live.hub.poll(live.lock.lock_id)
    await wait_for(lambda: 0 in log.values(door), 3)
    assert await live.value(door) == 0
    log.close()


async def test_controller_toggles_passage_mode_through_the_gateway(live: Live) -> None:
    switch, target = await live.keys(ON, TARGET)
    log = EventLog(live.pairing)
    await live.pairing.subscribe([switch])
    await wait_for(lambda: all(r.passage is not None
                               for r in live.hub.registry.records.values()), 3)
    # read once at start for each lock showing the switch, never at a poll
    read = live.sim.world.calls["/v3/lock/getPassageModeConfiguration"]
    assert read == len(live.sim.world.locks)
    assert await live.hub.poll(live.lock.lock_id)
    assert live.sim.world.calls["/v3/lock/getPassageModeConfiguration"] == read
    assert await live.value(switch) in (0, False)
    calls = live.sim.world.calls["/v3/lock/configurePassageMode"]
    # a passage-mode change and an unlock of the same lock at once: one gateway, in turn
    assert await live.pairing.put_characteristics([(*switch, True), (*target, UNSECURED)]) == {}
    await wait_for(lambda: live.lock.passage_mode and live.lock.state == 1, 5)
    assert live.sim.world.calls["/v3/lock/configurePassageMode"] == calls + 1
    assert live.sim.world.errcodes[-3003] == 0
    assert [p.all_day for p in live.lock.passage.periods] == [True]  # no schedule: all day
    assert await live.value(switch) in (1, True)

    live.sim.config.busy_rate = 1.0  # the gateway answers busy to every try: it fails
    calls = live.sim.world.calls["/v3/lock/configurePassageMode"]
    seen = len(log.values(switch))
    assert await live.pairing.put_characteristics([(*switch, False)]) == {}
    retries = live.hub.client.retry.max_retries
    mailbox = live.hub.record(live.lock.lock_id).mailbox
    # every try answered busy, then the wish given up (a late event of the first switch-on
    # must not stand for the revert)
    await wait_for(lambda: live.sim.world.calls["/v3/lock/configurePassageMode"]
                   == calls + 1 + retries and mailbox.passage_target is None, 5)
    # the writer sees no event of its own write; it sees the switch go back
    await wait_for(lambda: any(v in (1, True) for v in log.values(switch)[seen:]), 5)
    live.sim.config.busy_rate = 0.0
    assert live.sim.world.calls["/v3/lock/configurePassageMode"] == calls + 1 + retries
    assert live.lock.passage_mode  # the lock still has it on, and so does the switch
    assert await live.value(switch) in (1, True)
    log.close()


def clock_shifted(lock: SimLock, *, minute: int, in_seconds: float) -> None:
    """Set the lock's clock so that its ``minute`` of the day comes ``in_seconds`` from now."""
    local = minute * 60 - in_seconds  # where the lock's clock must read now
    offset = (local - time.time() % 86_400 + 43_200) % 86_400 - 43_200  # within +-12 h
    lock.timezone_raw_offset = round(offset * 1000)


async def passage_set(live: Live, periods: list[PassagePeriod], auto_unlock: bool) -> None:
    """Passage mode set on the lock outside HomeKit (the TTLock app), then read by the
    bridge's daily refresh (details carry the clock)."""
    lock = live.lock
    lock.passage_mode, lock.passage.periods = True, periods
    lock.passage.auto_unlock = auto_unlock
    live.sim.physics.passage_changed(lock)
    await live.hub.refresh_details([lock.lock_id])
    await live.hub.passage.refresh([lock.lock_id])


async def test_passage_modes_first_read_is_no_event_a_change_read_later_is(
    live: Live,
) -> None:
    hub = live.hub
    await wait_for(lambda: all(r.passage is not None for r in hub.registry.records.values()), 3)
    path = live.bridge.storage.path(EVENTS_FILE)
    assert [e for e in read_events(path) if "passage" in e.change] == []
    await passage_set(live, [], auto_unlock=False)  # set in the TTLock app, read at refresh
    changes = [(e.lock_id, e.change, e.source) for e in read_events(path)
               if "passage" in e.change]
    assert changes == [(live.lock.lock_id, "passage mode on", Source.POLL)]


async def test_a_window_ending_relocks_after_auto_lock_time(live: Live) -> None:
    lock = live.lock
    minute = 600  # 10:00 on the lock's clock, two seconds from now
    clock_shifted(lock, minute=minute, in_seconds=2.0)
    window_end = time.time() + 2.0
    await passage_set(live, [PassagePeriod(False, minute - 60, minute)], auto_unlock=False)
    current, target = await live.keys(CURRENT, TARGET)
    log = EventLog(live.pairing)
    await live.pairing.subscribe([current])
    await live.pairing.put_characteristics([(*target, UNSECURED)])
    await wait_for(lambda: UNSECURED in log.values(current), 3)
    await wait_for(lambda: SECURED in log.values(current), 6)
    relocked = time.time()
    # held open by the window (autoLockTime is 1 s), relocked once it ended, by the model
    assert relocked >= window_end + 0.9
    assert live.hub.record(lock.lock_id).shown[Fact.LOCK].source is Source.AUTO_LOCK
    await wait_for(lambda: lock.state == 0, 2)  # the simulated lock did the same
    log.close()


async def test_auto_unlock_at_a_window_start(live: Live) -> None:
    lock = live.lock
    minute = 600
    clock_shifted(lock, minute=minute, in_seconds=1.5)
    window_start = time.time() + 1.5
    await passage_set(live, [PassagePeriod(False, minute, minute + 60)], auto_unlock=True)
    (current,) = await live.keys(CURRENT)
    log = EventLog(live.pairing)
    await live.pairing.subscribe([current])
    assert await live.value(current) == SECURED
    await wait_for(lambda: UNSECURED in log.values(current), 5)
    assert time.time() >= window_start - 0.1
    assert live.hub.record(lock.lock_id).shown[Fact.LOCK].source is Source.AUTO_LOCK
    assert lock.state == 1  # the simulated lock opened by itself too
    log.close()


async def test_hide_lists_remove_the_services(sim: SimulatorServer, tmp_path: Path) -> None:
    hidden, shown = (with_sensor(lock) for lock in list(sim.world.locks.values())[:2])
    bridge = await start_bridge(sim, tmp_path / "storage", passage_switch=True,
                                hide_door_sensor=(hidden.alias,),
                                hide_passage_switch=(str(hidden.lock_id),))
    pairing = await pair(bridge)
    try:
        accs = await accessories(pairing)
        assert bridge.identity is not None
        aids = bridge.identity.aids
        assert not has_char(accs, aids[hidden.lock_id], CONTACT)
        assert not has_char(accs, aids[hidden.lock_id], ON)
        assert has_char(accs, aids[shown.lock_id], CONTACT)
        assert has_char(accs, aids[shown.lock_id], ON)
    finally:
        await pairing.close()
        await bridge.stop()


def layout(accs: list[dict[str, Any]]) -> dict[tuple[int, str, str], int]:
    out = {}
    for acc in accs:
        for service in acc["services"]:
            stype = normalize_uuid(service["type"])
            out[(acc["aid"], stype, "")] = service["iid"]
            for char in service["characteristics"]:
                out[(acc["aid"], stype, normalize_uuid(char["type"]))] = char["iid"]
    return out


async def test_a_bridge_paired_before_keeps_every_aid_and_iid(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """bridge.json and locks.json as the version before wrote them; the new code starts on
    them, adds door sensors and passage switches, and moves nothing a controller knew."""
    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700)
    for lock_id in [lid for lid in sim.world.locks if lid not in FIXTURE_LOCKS.values()]:
        sim.world.remove_lock(lock_id)
    for lock in sim.world.locks.values():
        with_sensor(lock)
    (storage / "bridge.json").write_text(json.dumps(
        {"aids": {str(lid): aid for aid, lid in FIXTURE_LOCKS.items()}, "next_aid": 6}))
    old_items = [{"lock_id": lock.lock_id, "alias": lock.alias, "mac": lock.mac,
                  "battery": lock.battery, "wifi": False, "has_gateway": True,
                  "model": "SN9161_PV53", "firmware": "6.0.6.220125", "auto_lock_time": -1,
                  "passage_mode": False, "detailed": True, "state": None, "state_at": 0.0}
                 for lock in sim.world.locks.values()]
    (storage / "locks.json").write_text(json.dumps({"locks": old_items}))
    for path in storage.iterdir():
        path.chmod(0o600)
    before = layout(json.loads(BEFORE.read_text())["accessories"])

    bridge = await start_bridge(sim, storage, passage_switch=True)
    pairing = await pair(bridge)
    try:
        after = layout(await accessories(pairing))
    finally:
        await pairing.close()
        await bridge.stop()
    locks = {key: iid for key, iid in before.items() if key[0] in FIXTURE_LOCKS}
    assert {key: after.get(key) for key in locks} == locks
    for aid in FIXTURE_LOCKS:  # and the new services are there, after the old IIDs
        new = [iid for key, iid in after.items() if key[0] == aid and key not in before]
        assert new and min(new) > max(iid for key, iid in locks.items() if key[0] == aid)
        assert (aid, normalize_uuid("80"), "") in after and (aid, normalize_uuid("49"), "") in after


async def test_a_wireless_sensors_low_battery_shows_on_the_door_sensor(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    lock = first_lock(sim)
    lock.feature_value = feature_value(wifi=False, door_sensor=False, wireless_sensor=True)
    lock.sensor_state = 1
    lock.door_sensor = SimDoorSensor(sensor_id=7, mac="AA:BB:CC:00:00:07", battery=9)
    bridge = await start_bridge(sim, tmp_path / "storage")
    pairing = await pair(bridge)
    try:
        assert bridge.hub is not None and bridge.identity is not None
        await wait_for(lambda: bridge.hub is not None
                       and bridge.hub.record(lock.lock_id).sensor_battery_low, 5)
        aid = bridge.identity.aids[lock.lock_id]
        accs = await accessories(pairing)
        sensor = next(s for a in accs if a["aid"] == aid for s in a["services"]
                      if normalize_uuid(s["type"]) == normalize_uuid("80"))
        low = next(c for c in sensor["characteristics"]
                   if normalize_uuid(c["type"]) == CharacteristicsTypes.STATUS_LO_BATT)
        assert low["value"] == 1
        wireless = [lk for lk in sim.world.locks.values()
                    if has_feature(lk.feature_value, Feature.WIRELESS_DOOR_SENSOR)]
        assert sim.world.calls["/v3/doorSensor/query"] == len(wireless)  # only those
        # no switch and passage mode off everywhere: its configuration is not worth a call
        assert sim.world.calls["/v3/lock/getPassageModeConfiguration"] == 0
    finally:
        await pairing.close()
        await bridge.stop()


async def test_pushed_door_records_and_alerts_reach_the_controller(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Door open and close pushed (no cloud call), the tamper alarm on the sensor, "door not
    closed" keeping it open, each in the event log; the locked-out alert in the log too."""
    lock = with_sensor(first_lock(sim))
    bridge = await start_bridge(sim, tmp_path / "storage", callback=CallbackSettings(port=0))
    assert bridge.pushes is not None and bridge.pushes.receiver is not None
    sim.config = dataclasses.replace(sim.config, push_delay=0.05,
                                     callback_url=bridge.pushes.receiver.urls.local)
    pairing = await pair(bridge)
    try:
        assert bridge.hub is not None and bridge.identity is not None
        hub, aid = bridge.hub, bridge.identity.aids[lock.lock_id]
        await wait_for(lambda: hub.record(lock.lock_id).state != UNKNOWN)
        accs = await accessories(pairing)
        sensor = next(s for a in accs if a["aid"] == aid for s in a["services"]
                      if normalize_uuid(s["type"]) == normalize_uuid("80"))
        iid = {normalize_uuid(c["type"]): c["iid"] for c in sensor["characteristics"]}
        door = (aid, iid[CONTACT])
        tamper = (aid, iid[CharacteristicsTypes.STATUS_TAMPERED])
        log = EventLog(pairing)
        await pairing.subscribe([door, tamper])
        async with httpx.AsyncClient(base_url=sim.url, timeout=5) as http:
            async def outside(record_type: int) -> None:
                answer = await http.post("/sim/event", json={"lockId": lock.lock_id,
                                                             "recordType": record_type})
                assert answer.status_code == 200, answer.text

            await outside(DOOR_OPEN)
            await wait_for(lambda: 1 in log.values(door), 2)
            await outside(TAMPER)
            await wait_for(lambda: 1 in log.values(tamper), 2)
            await outside(DOOR_NOT_CLOSED)  # the alarm: still open, never closed by it
            await outside(LOCKED_OUT)
            await wait_for(lambda: any(e.change == f"alert: {Alert.LOCKED_OUT}" for e in
                                       read_events(bridge.storage.path(EVENTS_FILE))), 2)
            assert log.values(door) == [1]
            assert (await pairing.get_characteristics([door]))[door]["value"] == 1
            await outside(DOOR_CLOSED)
            await wait_for(lambda: 0 in log.values(door), 2)
            assert 0 in log.values(tamper)  # the door used as usual clears the tamper flag
            assert hub.record(lock.lock_id).shown[Fact.DOOR].source is Source.PUSH
        changes = [(e.change, e.source) for e in read_events(bridge.storage.path(EVENTS_FILE))
                   if e.lock_id == lock.lock_id and e.source is Source.PUSH]
        assert changes == [("door open", Source.PUSH), (f"alert: {Alert.TAMPER}", Source.PUSH),
                           (f"alert: {Alert.DOOR_LEFT_OPEN}", Source.PUSH),
                           (f"alert: {Alert.LOCKED_OUT}", Source.PUSH),
                           ("door closed", Source.PUSH)]
        log.close()
    finally:
        await pairing.close()
        await bridge.stop()
