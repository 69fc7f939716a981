"""The door sensor and passage-mode switch on a lock's accessory: what they show, what a
write does, and that a lock paired before they existed keeps its AIDs and IIDs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyhap.accessory import Bridge
from pyhap.accessory_driver import AccessoryDriver

from accessories.door_sensor import CLOSED, OPEN
from accessories.homekit_name import MAX_LENGTH
from accessories.lock_services import SLOT, Wanted, add_lock_services
from accessories.ttlock_lock import TTLockLock
from hapbridge.config import PlatformConfig
from hapbridge.simulator.world import feature_value
from hapbridge.ttlock.record_types import DoorChange

BEFORE = Path(__file__).parent / "data" / "accessories_before_lock_services.json"
# the locks of the fixture: aid -> (lock id, name), as generated from commit 78e2000
FIXTURE_LOCKS = {2: (3000001, "Front Door"), 3: (3000002, "Back Door"), 5: (3000004, "Office")}
CONTACT_SENSOR, SWITCH, LOCK_MECHANISM = "80", "49", "45"

Layout = dict[tuple[int, str, str], int]  # (aid, service type, char type or "") -> iid


@pytest.fixture
def driver() -> Iterator[AccessoryDriver]:
    loop = asyncio.new_event_loop()
    yield AccessoryDriver(loop=loop, address="127.0.0.1", port=1,
                          persist_file="/nonexistent/state")
    loop.close()


def make_lock(driver: AccessoryDriver, aid: int = 2, lock_id: int = 3000001,
              name: str = "Front Door") -> TTLockLock:
    lock = TTLockLock(driver, lock_id=lock_id, name=name, aid=aid,
                      serial=f"5C:A1:B2:00:00:0{aid}", on_target=lambda lid, t: None,
                      model="SN9161_PV53", firmware="6.0.6.220125")
    lock.set_battery(80)
    return lock


def layout(accessories: list[dict[str, Any]]) -> Layout:
    out: Layout = {}
    for accessory in accessories:
        for service in accessory["services"]:
            out[(accessory["aid"], service["type"], "")] = service["iid"]
            for char in service["characteristics"]:
                out[(accessory["aid"], service["type"], char["type"])] = char["iid"]
    return out


def iids(lock: TTLockLock) -> dict[tuple[str, str], int]:
    return {(service.display_name, char.display_name): lock.iid_manager.get_iid(char)
            for service in lock.services for char in service.characteristics}


@pytest.mark.parametrize(("door", "switch"), [(True, True), (True, False), (False, True)])
def test_old_iids_unchanged_and_new_services_after_them(
    driver: AccessoryDriver, door: bool, switch: bool
) -> None:
    lock = make_lock(driver)
    before = iids(lock)
    top = max(before.values())
    added = add_lock_services(lock, lock_id=3000001, door_sensor=door, passage_switch=switch,
                              on_passage=lambda lid, on: None)
    after = iids(lock)
    assert {key: after[key] for key in before} == before
    new = [iid for key, iid in after.items() if key not in before]
    assert new and min(new) > top  # appended, never inserted
    # each service keeps its own slot whether the other is shown or not
    if added.door_sensor:
        assert lock.iid_manager.get_iid(added.door_sensor.service) == top + 1
    if added.passage_switch:
        assert lock.iid_manager.get_iid(added.passage_switch.service) == top + SLOT + 1
    linked = lock.get_service("LockMechanism").to_HAP()["linked"]
    shown = [s for s in (added.door_sensor, added.passage_switch) if s is not None]
    assert linked == [lock.iid_manager.get_iid(s.service) for s in shown]


def test_a_state_from_before_keeps_its_aids_and_iids(driver: AccessoryDriver) -> None:
    """A bridge paired before lock services existed: every AID and IID it knew means the
    same service and characteristic after the upgrade."""
    old = layout(json.loads(BEFORE.read_text())["accessories"])
    bridge = Bridge(driver, "TTLock Bridge")
    for aid, (lock_id, name) in FIXTURE_LOCKS.items():
        lock = make_lock(driver, aid, lock_id, name)
        add_lock_services(lock, lock_id=lock_id, door_sensor=True, passage_switch=aid != 3,
                          on_passage=lambda lid, on: None)
        bridge.add_accessory(lock)
    new = layout(bridge.to_HAP())
    assert {key: new.get(key) for key in old} == old
    added = {key for key in new if key not in old}
    assert {(aid, service) for aid, service, _ in added} == {
        (2, CONTACT_SENSOR), (2, SWITCH), (3, CONTACT_SENSOR), (5, CONTACT_SENSOR), (5, SWITCH)}


def test_door_sensor_shows_the_door_and_the_tamper_alarm(driver: AccessoryDriver) -> None:
    lock = make_lock(driver)
    sensor = add_lock_services(lock, lock_id=3000001, door_sensor=True,
                               passage_switch=False).door_sensor
    assert sensor is not None and not sensor.door_open
    state = sensor.service.get_characteristic("ContactSensorState")
    sensor.show_door(DoorChange.OPEN)
    assert sensor.door_open and state.value == OPEN
    sensor.show_door(None)  # a queryOpenState without sensorState changes nothing
    assert state.value == OPEN
    sensor.show_door(DoorChange.CLOSED)
    assert state.value == CLOSED
    sensor.set_tampered(True)
    assert sensor.tampered and sensor.service.get_characteristic("StatusTampered").value == 1
    sensor.set_low_battery(True)
    assert sensor.service.get_characteristic("StatusLowBattery").value == 1
    assert sensor.service.get_characteristic("Name").value == "Front Door Door Sensor"


def test_passage_switch_forwards_the_wish_and_reverts(driver: AccessoryDriver) -> None:
    lock = make_lock(driver)
    wishes: list[tuple[int, bool]] = []
    switch = add_lock_services(lock, lock_id=3000001, door_sensor=False, passage_switch=True,
                               on_passage=lambda lid, on: wishes.append((lid, on))).passage_switch
    assert switch is not None and not switch.on
    on = switch.service.get_characteristic("On")
    on.client_update_value(True)  # what a controller's write does
    assert wishes == [(3000001, True)] and switch.on
    switch.revert()  # the command failed
    assert not switch.on
    switch.show(True)
    on.client_update_value(False)
    switch.revert()
    assert switch.on  # back to what the cloud confirmed last
    name = switch.service.get_characteristic("ConfiguredName").value
    assert name == "Front Door Passage Mode"


def test_a_failing_wish_is_logged_not_raised(driver: AccessoryDriver,
                                             caplog: pytest.LogCaptureFixture) -> None:
    def broken(lock_id: int, on: bool) -> None:
        raise RuntimeError("queue closed")

    lock = make_lock(driver)
    switch = add_lock_services(lock, lock_id=3000001, door_sensor=False, passage_switch=True,
                               on_passage=broken).passage_switch
    assert switch is not None
    switch.service.get_characteristic("On").client_update_value(True)
    assert "could not queue the passage-mode change" in caplog.text


def test_names_keep_their_suffix_and_attach_is_once(driver: AccessoryDriver) -> None:
    lock = make_lock(driver, name="A" * 70)
    added = add_lock_services(lock, lock_id=3000001, door_sensor=True, passage_switch=True,
                              on_passage=lambda lid, on: None)
    assert added.passage_switch is not None
    name = added.passage_switch.service.get_characteristic("Name").value
    assert name.endswith(" Passage Mode") and len(name) <= MAX_LENGTH
    with pytest.raises(RuntimeError, match="already attached"):
        add_lock_services(lock, lock_id=3000001, door_sensor=True, passage_switch=False)
    with pytest.raises(ValueError, match="on_passage"):
        add_lock_services(make_lock(driver), lock_id=1, door_sensor=False, passage_switch=True)


def test_wanted_is_what_the_lock_has_less_what_is_hidden() -> None:
    def wanted(lock_id: int, alias: str, platform: PlatformConfig, **abilities: bool) -> Wanted:
        return Wanted.of(lock_id, alias, feature_value(wifi=False, **abilities), platform)

    default = PlatformConfig()
    assert wanted(1, "Front Door", default, door_sensor=True) == Wanted(True, False)
    assert wanted(2, "Garage", default, door_sensor=False, wireless_sensor=True).door_sensor
    assert not wanted(3, "Office", default, door_sensor=False).door_sensor
    chosen = PlatformConfig(hide_door_sensor=("garage",), passage_switch=True,
                            hide_passage_switch=("1",))
    assert wanted(1, "Front Door", chosen, door_sensor=True) == Wanted(True, False)
    assert wanted(2, "Garage", chosen, door_sensor=False, wireless_sensor=True) == Wanted(
        False, True)
    no_passage = format(1 << 13, "X")  # a door sensor, no passage mode
    assert Wanted.of(4, "Shed", no_passage, chosen) == Wanted(True, False)
