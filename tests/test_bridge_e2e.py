"""End to end: a real HomeKit controller (aiohomekit) against the bridge and the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohomekit.controller.ip import IpPairing

from hapbridge.bridge.server import BridgeServer
from hapbridge.errors import HapbridgeError
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.storage import StorageError
from tests.bridge_helpers import (
    BATTERY,
    CURRENT,
    NAME,
    TARGET,
    EventLog,
    accessories,
    aids_by_serial,
    apply_listing,
    char_iid,
    char_value,
    free_port,
    pair,
    reconnect,
    start_bridge,
    wait_for,
)

UNSECURED, SECURED, UNKNOWN = 0, 1, 3
COMMUNICATION_FAILURE = -70402


@pytest.fixture
async def bridge(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[BridgeServer]:
    server = await start_bridge(sim, tmp_path / "storage")
    yield server
    await server.stop()


def aid_of(bridge: BridgeServer, lock_id: int) -> int:
    assert bridge.identity is not None
    return bridge.identity.aids[lock_id]


async def settled(bridge: BridgeServer) -> None:
    """The startup polls are done: every lock shows a known state."""
    hub = bridge.hub
    assert hub is not None
    await wait_for(lambda: all(a.current_state != UNKNOWN or hub.record(a.lock_id).cause is not None
                               for a in hub.accessories.values()), 5)


async def test_pair_list_and_operate(sim: SimulatorServer, bridge: BridgeServer,
                                     paired: IpPairing) -> None:
    accs = await accessories(paired)
    assert len(accs) == 1 + len(sim.world.locks)
    by_mac = aids_by_serial(accs)
    assert set(by_mac) == {lock.mac for lock in sim.world.locks.values()}
    lock = next(iter(sim.world.locks.values()))
    aid = by_mac[lock.mac]
    assert char_value(accs, aid, NAME) == lock.alias
    assert char_value(accs, aid, BATTERY) == lock.battery
    await settled(bridge)
    current, target = char_iid(accs, aid, CURRENT), char_iid(accs, aid, TARGET)
    log = EventLog(paired)
    await paired.subscribe([(aid, current), (aid, target)])

    start = time.monotonic()
    assert await paired.put_characteristics([(aid, target, UNSECURED)]) == {}
    assert time.monotonic() - start < 0.04  # the setter returned before the cloud call
    await wait_for(lambda: UNSECURED in log.values((aid, current)), 3)
    # Pushed at once, not after HAP-python's 0.5 s coalescing window.
    assert time.monotonic() - start < sim.config.command_seconds + 0.4
    assert lock.state == 1  # the simulated lock really opened
    values = await paired.get_characteristics([(aid, current), (aid, target)])
    assert values[(aid, current)]["value"] == UNSECURED

    assert await paired.put_characteristics([(aid, target, SECURED)]) == {}
    await wait_for(lambda: SECURED in log.values((aid, current)), 3)
    assert lock.state == 0
    # Writing the state it already has is still sent (never a toggle).
    calls = sim.world.calls["/v3/lock/lock"]
    await paired.put_characteristics([(aid, target, SECURED)])
    await wait_for(lambda: sim.world.calls["/v3/lock/lock"] == calls + 1, 3)
    assert lock.state == 0
    log.close()


async def test_reads_never_call_the_cloud(sim: SimulatorServer, bridge: BridgeServer,
                                          paired: IpPairing) -> None:
    await settled(bridge)
    accs = await accessories(paired)
    before = sum(sim.world.calls.values())
    keys = [(a["aid"], char_iid(accs, a["aid"], CURRENT)) for a in accs if a["aid"] != 1]
    for _ in range(5):
        await paired.get_characteristics(keys)
    assert sum(sim.world.calls.values()) == before


async def test_failed_command_reverts_target_and_says_why(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lock = next(iter(sim.world.locks.values()))
    lock.remote_unlock = False
    await settled(bridge)
    aid = aid_of(bridge, lock.lock_id)
    accs = await accessories(paired)
    current, target = char_iid(accs, aid, CURRENT), char_iid(accs, aid, TARGET)
    log = EventLog(paired)
    await paired.subscribe([(aid, target)])
    with caplog.at_level(logging.ERROR, logger="hapbridge.bridge"):
        await paired.put_characteristics([(aid, target, UNSECURED)])
        await wait_for(lambda: SECURED in log.values((aid, target)), 3)
    values = await paired.get_characteristics([(aid, current), (aid, target)])
    assert values[(aid, target)]["value"] == SECURED
    assert values[(aid, current)]["value"] == SECURED
    assert lock.state == 0
    message = " ".join(r.getMessage() for r in caplog.records)
    assert lock.alias in message and "unlock failed" in message and "Remote Unlock" in message
    log.close()


async def test_offline_gateway_shows_no_response_until_it_answers(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing
) -> None:
    await settled(bridge)
    lock = next(iter(sim.world.locks.values()))
    aid = aid_of(bridge, lock.lock_id)
    accs = await accessories(paired)
    current, target = char_iid(accs, aid, CURRENT), char_iid(accs, aid, TARGET)
    sim.world.gateways[lock.gateway_id].online = False
    await paired.put_characteristics([(aid, target, UNSECURED)])
    hub = bridge.hub
    assert hub is not None
    await wait_for(lambda: not hub.accessories[lock.lock_id].available, 3)
    values = await paired.get_characteristics([(aid, current)])
    assert values[(aid, current)]["status"] == COMMUNICATION_FAILURE
    other = next(lk for lk in sim.world.locks.values() if lk.gateway_id != lock.gateway_id)
    other_aid = aid_of(bridge, other.lock_id)
    values = await paired.get_characteristics([(other_aid, char_iid(accs, other_aid, CURRENT))])
    assert "status" not in values[(other_aid, char_iid(accs, other_aid, CURRENT))]

    sim.world.gateways[lock.gateway_id].online = True
    assert await asyncio.wait_for(hub.poll(lock.lock_id), 3)
    values = await paired.get_characteristics([(aid, current)])
    assert values[(aid, current)] == {"value": SECURED}


@pytest.mark.parametrize("sim_config", [SimConfig(locks=10, gateways=1, command_seconds=0.05)])
async def test_scene_on_one_gateway_sees_no_busy_answers(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing
) -> None:
    await settled(bridge)
    accs = await accessories(paired)
    writes = [(a["aid"], char_iid(accs, a["aid"], TARGET), UNSECURED)
              for a in accs if a["aid"] != 1]
    assert len(writes) == 10
    assert await paired.put_characteristics(writes) == {}
    await wait_for(lambda: all(lk.state == 1 for lk in sim.world.locks.values()), 5)
    hub = bridge.hub
    assert hub is not None
    await wait_for(lambda: all(a.current_state == UNSECURED
                               for a in hub.accessories.values()), 2)
    assert sim.world.errcodes[-3003] == 0


async def test_restart_keeps_pairing_and_aids_across_list_changes(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage)
    port = server.port
    pairing = await pair(server)
    before = aids_by_serial(await accessories(pairing))
    await pairing.close()
    await server.stop()

    locks = list(sim.world.locks.values())
    sim.world.remove_lock(locks[0].lock_id)  # removed, and the rest reordered below
    moved = {lid: sim.world.locks.pop(lid) for lid in list(sim.world.locks)[:2]}
    sim.world.locks.update(moved)
    added = sim.world.add_lock("Shed")

    server = await start_bridge(sim, storage, port=port)
    try:
        again = reconnect(pairing)  # no new pair-setup: the old keys still work
        after = aids_by_serial(await accessories(again))
        hub = server.hub
        assert hub is not None
        # missing from one list: still there as No Response; from a second: gone
        assert after[locks[0].mac] == before[locks[0].mac]
        assert not hub.accessories[locks[0].lock_id].available
        await apply_listing(hub)
        assert locks[0].mac not in aids_by_serial(await accessories(again))
        for lock in locks[1:]:
            assert after[lock.mac] == before[lock.mac]
        assert after[added.mac] not in before.values()  # a fresh AID, never a reused one
        assert after[added.mac] > max(before.values())
        await again.close()
    finally:
        await server.stop()


async def test_new_and_removed_locks_appear_without_restart(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing
) -> None:
    hub = bridge.hub
    assert hub is not None and bridge.driver is not None
    version = bridge.driver.state.config_version
    gone = next(iter(sim.world.locks.values()))
    sim.world.remove_lock(gone.lock_id)
    new = sim.world.add_lock("Shed")
    await apply_listing(hub)
    assert bridge.driver.state.config_version > version
    by_mac = aids_by_serial(await accessories(paired))
    assert new.mac in by_mac and gone.mac in by_mac  # one list without it: No Response
    assert not hub.accessories[gone.lock_id].available
    await apply_listing(hub)
    assert gone.mac not in aids_by_serial(await accessories(paired))
    await wait_for(lambda: hub.route(new.lock_id)[0] == "gateway", 3)


async def test_cloud_down_at_start_publishes_cached_locks_then_comes_alive(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage)
    port, url = server.port, sim.url
    pairing = await pair(server)
    await pairing.close()
    await server.stop()
    sim_port = int(url.rsplit(":", 1)[1])
    await sim.stop()

    server = await start_bridge(sim, storage, port=port, base_url=url)
    try:
        hub = server.hub
        assert hub is not None and not hub.cloud_up
        again = reconnect(pairing)
        accs = await accessories(again)
        assert len(accs) == 1 + len(sim.world.locks)
        aid = next(a["aid"] for a in accs if a["aid"] != 1)
        key = (aid, char_iid(accs, aid, CURRENT))
        values = await again.get_characteristics([key])
        assert values[key]["status"] == COMMUNICATION_FAILURE

        await sim.start("127.0.0.1", sim_port)
        await wait_for(lambda: hub.cloud_up, 5)
        await wait_for(lambda: all(a.available and a.current_state != UNKNOWN
                                   for a in hub.accessories.values()), 5)
        values = await again.get_characteristics([key])
        assert values[key]["value"] in (UNSECURED, SECURED)
        await again.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=151, gateways=3, command_seconds=0.01)])
async def test_more_than_149_locks_fill_a_second_bridge(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hapbridge.bridge"):
        server = await start_bridge(sim, tmp_path / "storage")
    try:
        assert [unit.number for unit in server.units] == [1, 2]
        first, second = await pair(server), await pair(server, number=2)
        accs, more = await accessories(first), await accessories(second)
        assert len(accs) == 150 and len(more) == 3  # each bridge is accessory 1 of its own
        serials = set(aids_by_serial(accs)) | set(aids_by_serial(more))
        assert all(lk.mac in serials for lk in sim.world.locks.values())
        assert server.unit(2).spec.name == "Test Bridge 2"
        assert server.unit(2).identity.mac != server.unit(1).identity.mac
        assert server.unit(2).port == server.port + 1
        text = " ".join(r.getMessage() for r in caplog.records)
        assert "NOT published" not in text
        assert "bridge 2 'Test Bridge 2'" in text and "serving 2 locks" in text
        await first.close()
        await second.close()
    finally:
        await server.stop()


async def test_exclude_hides_locks_by_id_or_alias(sim: SimulatorServer, tmp_path: Path) -> None:
    locks = list(sim.world.locks.values())
    server = await start_bridge(sim, tmp_path / "storage",
                                exclude=(str(locks[0].lock_id), locks[1].alias.upper()))
    try:
        assert server.hub is not None
        assert set(server.hub.accessories) == {lk.lock_id for lk in locks[2:]}
    finally:
        await server.stop()


async def test_auto_lock_and_unknown_state(sim: SimulatorServer, bridge: BridgeServer,
                                           paired: IpPairing) -> None:
    hub = bridge.hub
    assert hub is not None
    lock, unknown = list(sim.world.locks.values())[:2]
    lock.auto_lock_time = 1
    await hub.refresh_details([lock.lock_id])
    assert hub.locks[lock.lock_id].auto_lock_seconds == 1
    await settled(bridge)
    accessory = hub.accessories[lock.lock_id]
    accs = await accessories(paired)
    aid = aid_of(bridge, lock.lock_id)
    await paired.put_characteristics([(aid, char_iid(accs, aid, TARGET), UNSECURED)])
    await wait_for(lambda: accessory.current_state == UNSECURED, 3)
    unlocked_at = time.monotonic()
    await wait_for(lambda: accessory.current_state == SECURED, 3)
    assert time.monotonic() - unlocked_at > 0.8
    assert accessory.target_state == SECURED

    unknown.state = 2
    assert await asyncio.wait_for(hub.poll(unknown.lock_id), 3)
    assert hub.accessories[unknown.lock_id].current_state == UNKNOWN  # never Jammed (2)


async def test_state_file_is_private(bridge: BridgeServer, paired: IpPairing) -> None:
    assert bridge.driver is not None
    await wait_for(lambda: Path(bridge.driver.persist_file).exists(), 3)
    assert Path(bridge.driver.persist_file).stat().st_mode & 0o777 == 0o600
    assert bridge.paired


async def test_port_in_use_is_a_clear_error(sim: SimulatorServer, bridge: BridgeServer,
                                            tmp_path: Path) -> None:
    with pytest.raises(HapbridgeError, match=rf"port {bridge.port} on 127\.0\.0\.1 is already "
                       "in use .*: choose another --port") as info:
        await start_bridge(sim, tmp_path / "other", port=bridge.port)
    assert info.value.exit_code == 2  # a setting to change, not a failure of the bridge


async def test_configured_username_makes_a_new_bridge_and_keeps_the_old_pairing(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage)
    old_mac = server.driver.state.mac if server.driver else ""
    pairing = await pair(server)
    await pairing.close()
    await server.stop()

    new_mac = "0E:2C:44:7A:19:B3"
    with caplog.at_level(logging.WARNING, logger="hapbridge.bridge"):
        server = await start_bridge(sim, storage, bridge={"username": new_mac})
    try:
        assert server.driver is not None
        assert server.driver.state.mac == new_mac and not server.paired
        backups = list(storage.glob("accessory.state.bak-*"))
        assert len(backups) == 1
        assert json.loads(backups[0].read_text())["mac"] == old_mac  # moved, not deleted
        assert json.loads((storage / "accessory.state").read_text())["mac"] == new_mac
        assert str(backups[0]) in caplog.text and "pair it again" in caplog.text
    finally:
        await server.stop()


async def test_stop_stops_the_driver_before_the_hub_and_leaves_no_task(
    sim: SimulatorServer, bridge: BridgeServer
) -> None:
    hub, driver = bridge.hub, bridge.driver
    assert hub is not None and driver is not None
    await settled(bridge)
    order: list[str] = []
    for name, owner in (("driver", driver), ("hub", hub)):
        method = owner.async_stop if name == "driver" else owner.stop

        async def stop(method=method, name=name) -> None:  # type: ignore[no-untyped-def]
            order.append(name)
            await method()

        setattr(owner, "async_stop" if name == "driver" else "stop", stop)
    hub.request(next(iter(hub.accessories)), UNSECURED)
    await bridge.stop()
    bridge.hub = None  # the fixture's stop() has nothing left to do (the drivers are)
    assert order == ["driver", "hub"]
    left = [t.get_name() for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and not t.done()
            and t.get_name().startswith(("hapbridge-", "gateway-queue-"))]
    assert left == []


async def test_damaged_pairing_file_is_one_line_with_advice(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    for content in ("{not json", '{"mac": "0E:2C:44:7A:19:B3"}'):
        (storage / "accessory.state").write_text(content)
        with pytest.raises(StorageError, match=r"damaged.*hapbridge reset-pairing") as info:
            await start_bridge(sim, storage)
        assert "\n" not in str(info.value)


async def test_failed_mdns_registration_frees_the_port(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    class RefusingZeroconf:
        async def async_register_service(self, *_args: object, **_kwargs: object) -> None:
            raise OSError(99, "Cannot assign requested address")

    port = free_port()
    with pytest.raises(HapbridgeError, match="cannot advertise the bridge over mDNS"):
        await start_bridge(sim, tmp_path / "storage", port=port,
                           options={"async_zeroconf": RefusingZeroconf()})
    with pytest.raises(OSError):  # nobody listens any more
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()


async def test_lost_bridge_json_keeps_the_paired_mac(sim: SimulatorServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage)
    pairing = await pair(server)
    await pairing.close()
    mac = server.driver.state.mac if server.driver else ""
    await server.stop()
    (storage / "bridge.json").unlink()
    server = await start_bridge(sim, storage)
    try:
        assert server.driver is not None and server.paired
        assert server.driver.state.mac == mac
        assert json.loads((storage / "bridge.json").read_text())["mac"] == mac
    finally:
        await server.stop()


async def test_a_pairing_that_cannot_be_saved_is_refused_not_half_kept(
    bridge: BridgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hapbridge.storage import StorageError

    driver = bridge.driver
    assert driver is not None

    def disk_full() -> None:
        raise StorageError("cannot write accessory.state: No space left on device")

    monkeypatch.setattr(driver, "persist", disk_full)
    with pytest.raises(Exception):  # noqa: B017 - aiohomekit's error for a refused pair-setup
        await pair(bridge)
    assert not driver.state.paired  # not paired in memory only, blocking every new try
    monkeypatch.undo()
    pairing = await pair(bridge)  # the disk is back: pairing works
    assert driver.state.paired
    await pairing.close()


async def test_the_only_bridge_keeps_its_pairing_line(
    bridge: BridgeServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hapbridge.bridge.hap_driver"):
        pairing = await pair(bridge)
        await pairing.close()
    assert [r.getMessage() for r in caplog.records if r.name.endswith("hap_driver")] \
        == ["a HomeKit controller paired with the bridge (1 now)"]
