"""A paired controller (aiohomekit) and the lock's extra services, over real HAP on
127.0.0.1: it sees the door open and close as events, and its write of the passage-mode
switch reaches the bridge's callback, with the revert seen as an event too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohomekit.controller import Controller
from aiohomekit.controller.ip import IpDiscovery, IpPairing
from aiohomekit.model.characteristics import CharacteristicsTypes
from aiohomekit.zeroconf import HomeKitService
from pyhap.accessory import Bridge
from pyhap.accessory_driver import AccessoryDriver

from accessories.lock_services import LockServices, add_lock_services
from accessories.ttlock_lock import TTLockLock
from hapbridge.ttlock.record_types import DoorChange
from tests.bridge_helpers import LOOPBACK, char_iid, free_port, wait_for

PIN = "031-45-154"
AID = 2
CONTACT_STATE, ON = CharacteristicsTypes.CONTACT_STATE, CharacteristicsTypes.ON


class Bench:
    def __init__(self, driver: AccessoryDriver, services: LockServices,
                 wishes: list[tuple[int, bool]], pairing: IpPairing) -> None:
        self.driver = driver
        self.services = services
        self.wishes = wishes
        self.pairing = pairing


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    port = free_port()
    driver = AccessoryDriver(loop=asyncio.get_running_loop(), address=LOOPBACK, port=port,
                             persist_file=str(tmp_path / "state.json"), pincode=PIN.encode(),
                             mac="0E:2C:44:7A:19:B3", interface_choice=[LOOPBACK],
                             advertised_address=[LOOPBACK])
    bridge = Bridge(driver, "Lock Services Test")
    wishes: list[tuple[int, bool]] = []
    lock = TTLockLock(driver, lock_id=3000001, name="Front Door", aid=AID, serial="AA",
                      on_target=lambda lid, t: None)
    services = add_lock_services(lock, lock_id=3000001, door_sensor=True, passage_switch=True,
                                 on_passage=lambda lid, on: wishes.append((lid, on)))
    bridge.add_accessory(lock)
    driver.add_accessory(bridge)
    await driver.async_start()
    service = HomeKitService(
        name="Lock Services Test", id=driver.state.mac.lower(), model="Bridge",
        feature_flags=0, status_flags=1, config_num=driver.state.config_version, state_num=1,
        category=2, protocol_version="1.1", type="_hap._tcp.local.", address=LOOPBACK,
        addresses=[LOOPBACK], port=port)
    discovery = IpDiscovery(Controller(), service)
    try:
        finish = await discovery.async_start_pairing("test")
        pairing = await finish(PIN)
    finally:
        await discovery.close()
    try:
        yield Bench(driver, services, wishes, pairing)
    finally:
        await pairing.close()
        await driver.async_stop()


async def test_controller_sees_the_door_and_toggles_passage_mode(bench: Bench) -> None:
    accs: list[dict[str, Any]] = await bench.pairing.list_accessories_and_characteristics()
    door = (AID, char_iid(accs, AID, CONTACT_STATE))
    switch = (AID, char_iid(accs, AID, ON))
    events: list[dict[Any, Any]] = []
    bench.pairing.dispatcher_connect(events.append)
    await bench.pairing.subscribe([door, switch])
    sensor, passage = bench.services.door_sensor, bench.services.passage_switch
    assert sensor is not None and passage is not None

    sensor.show_door(DoorChange.OPEN)
    await wait_for(lambda: any(e.get(door, {}).get("value") == 1 for e in events))
    sensor.show_door(DoorChange.CLOSED)
    await wait_for(lambda: any(e.get(door, {}).get("value") == 0 for e in events))
    assert (await bench.pairing.get_characteristics([door]))[door]["value"] == 0

    assert await bench.pairing.put_characteristics([(*switch, True)]) == {}
    assert bench.wishes == [(3000001, True)]
    passage.revert()  # the command failed: the controller sees the switch go back
    await wait_for(lambda: any(e.get(switch, {}).get("value") in (0, False) for e in events))
    assert (await bench.pairing.get_characteristics([switch]))[switch]["value"] in (0, False)
