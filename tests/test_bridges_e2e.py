"""Several HomeKit bridges in one process: every lock of a large account served, each bridge
paired by a real controller (aiohomekit), locks kept on their bridge with their AID across
restarts and list changes, one set of gateway queues for all, per-bridge commands."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import pytest
from aiohomekit.controller import Controller
from aiohomekit.controller.ip import IpDiscovery
from aiohomekit.exceptions import AuthenticationError

from hapbridge.bridge.pairing_attempts import ATTEMPTS_FILE
from hapbridge.bridge.server import BridgeServer
from hapbridge.cli.admin.bridge_status import bridge_findings
from hapbridge.cli.main import main
from hapbridge.config import BridgeConfig, ChildBridge
from hapbridge.errors import HapbridgeError
from hapbridge.simulator import SimConfig, SimulatorServer
from hapbridge.storage import Storage
from tests.bridge_helpers import (
    LOOPBACK,
    TARGET,
    accessories,
    aids_by_serial,
    char_iid,
    free_port,
    free_ports,
    pair,
    reconnect,
    service_of,
    start_bridge,
    wait_for,
)

UNSECURED = 0


def placements(server: BridgeServer) -> dict[int, tuple[int, int]]:
    """lockId -> (bridge, AID) as published."""
    assert server.hub is not None
    return {lid: (record.bridge, record.accessory.aid)
            for lid, record in server.hub.registry.records.items()}


@pytest.mark.parametrize("sim_config", [SimConfig(locks=1000, gateways=50,
                                                  command_seconds=0.01)])
async def test_1000_locks_are_served_by_7_bridges_each_paired(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    server = await start_bridge(sim, tmp_path / "storage", port=free_ports(7))
    try:
        assert [unit.number for unit in server.units] == [1, 2, 3, 4, 5, 6, 7]
        assert len({unit.identity.mac for unit in server.units}) == 7
        assert len({unit.identity.setup_id for unit in server.units}) == 7
        assert [unit.port for unit in server.units] == [server.port + n for n in range(7)]
        serials: dict[str, tuple[int, int]] = {}
        for unit in server.units:
            pairing = await pair(server, f"home-{unit.number}", number=unit.number)
            accs = await accessories(pairing)
            assert len(accs) == (150 if unit.number < 7 else 1000 - 6 * 149 + 1)
            serials.update({serial: (unit.number, aid)
                            for serial, aid in aids_by_serial(accs).items()})
            await pairing.close()
            assert unit.paired
        by_mac = {lk.mac: lid for lid, lk in sim.world.locks.items()}
        assert {by_mac[serial]: where for serial, where in serials.items()} \
            == placements(server)
        assert len(serials) == 1000
        assert (tmp_path / "storage" / "bridges" / "7" / "accessory.state").exists()
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=149, gateways=4,
                                                  command_seconds=0.01)])
async def test_a_new_bridge_starts_for_new_locks_and_restarts_keep_every_lock_in_place(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage, port = tmp_path / "storage", free_ports(2)
    server = await start_bridge(sim, storage, port=port)
    try:
        assert [unit.number for unit in server.units] == [1]
        gateway = next(iter(sim.world.gateways))
        new = [sim.world.add_lock(gateway_id=gateway).lock_id for _ in range(2)]
        await server.hub.refresh_list()  # type: ignore[union-attr]
        await wait_for(lambda: 2 in server.bridges.units and server.unit(2).started, 5)
        second = await pair(server, "second", number=2)
        assert len(await accessories(second)) == 3
        assert {placements(server)[lid][0] for lid in new} == {2}
        # One lock of bridge 1 leaves the account (two lists), a new one takes its gap.
        gone = next(iter(sim.world.locks))
        sim.world.remove_lock(gone)
        for _ in range(2):
            await server.hub.refresh_list()  # type: ignore[union-attr]
        late = sim.world.add_lock(gateway_id=gateway).lock_id
        await server.hub.refresh_list()  # type: ignore[union-attr]
        before = placements(server)
        assert gone not in before and before[late][0] == 1
    finally:
        await server.stop()
    # Restart with the lock list reordered: every lock on its bridge with its AID, and
    # bridge 2's pairing still works.
    sim.world.locks = dict(reversed(list(sim.world.locks.items())))
    server = await start_bridge(sim, storage, port=port)
    try:
        assert placements(server) == before
        again = reconnect(second)
        accs = await accessories(again)
        assert set(aids_by_serial(accs).values()) == {aid for b, aid in before.values()
                                                      if b == 2}
        await again.close()
        assert server.unit(2).paired and not server.unit(1).paired
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=151, gateways=1,
                                                  command_seconds=0.2)])
async def test_a_scene_across_two_bridges_behind_one_gateway_gets_no_busy_answer(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    server = await start_bridge(sim, tmp_path / "storage", port=free_ports(2))
    try:
        hub = server.hub
        assert hub is not None
        await wait_for(lambda: hub.routes.ready.is_set(), 5)
        first, second = await pair(server), await pair(server, "second", number=2)
        writes = []
        for pairing in (first, second):
            accs = await accessories(pairing)
            aid = next(a["aid"] for a in accs if a["aid"] != 1)
            writes.append((pairing, aid, char_iid(accs, aid, TARGET)))
        sim.world.errcodes.clear()
        answers = await asyncio.gather(*(p.put_characteristics([(aid, iid, UNSECURED)])
                                         for p, aid, iid in writes))
        assert answers == [{}, {}]
        by_aid = {(r.bridge, r.accessory.aid): r for r in hub.registry.records.values()}
        scene = [by_aid[(1, writes[0][1])], by_aid[(2, writes[1][1])]]
        await wait_for(lambda: all(r.accessory.current_state == UNSECURED for r in scene), 5)
        assert sim.world.errcodes[-3003] == 0
        await first.close()
        await second.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=151, gateways=2,
                                                  command_seconds=0.01)])
async def test_a_taken_port_names_the_bridge_and_the_port(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage, port = tmp_path / "storage", free_ports(2)
    server = await start_bridge(sim, storage, port=port)
    await server.stop()
    with socket.socket() as taken:
        taken.bind((LOOPBACK, port + 1))
        taken.listen()
        with pytest.raises(HapbridgeError, match=rf"^bridge 2 \(Test Bridge 2\): port {port + 1}"
                           r" on 127\.0\.0\.1 is already in use .*bridge 2 uses it \+ 1") as info:
            await start_bridge(sim, storage, port=port)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    # A port of its own from bridge.bridges, and a pinned lock.
    pinned = next(iter(sim.world.locks.values()))
    own = free_port()
    server = await start_bridge(sim, storage, port=port, bridge={"bridges": (
        ChildBridge(number=2, port=own, locks=(pinned.alias,)),)})
    try:
        assert server.unit(2).port == own
        assert placements(server)[pinned.lock_id][0] == 2
        assert len(server.hub.registry.on_bridge(2)) == 1  # type: ignore[union-attr]
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=3, gateways=1,
                                                  command_seconds=0.01)])
async def test_an_upgraded_one_bridge_storage_is_bridge_1_untouched(
    sim: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage, port = tmp_path / "storage", free_ports(2)
    # What a one-bridge version leaves: bridge.json, accessory.state, locks.json at the top.
    server = await start_bridge(sim, storage, port=port)
    pairing = await pair(server)
    before = aids_by_serial(await accessories(pairing))
    await pairing.close()
    await server.stop()
    identity = json.loads((storage / "bridge.json").read_text())
    assert not (storage / "bridges").exists()
    for _ in range(149):
        sim.world.add_lock(gateway_id=next(iter(sim.world.gateways)))
    server = await start_bridge(sim, storage, port=port)
    try:
        kept = json.loads((storage / "bridge.json").read_text())
        assert {k: kept[k] for k in ("mac", "pincode", "setup_id")} == \
            {k: identity[k] for k in ("mac", "pincode", "setup_id")}
        assert all(kept["aids"][k] == v for k, v in identity["aids"].items())
        again = reconnect(pairing)  # the old pairing, no new pair-setup
        accs = aids_by_serial(await accessories(again))
        assert all(accs[serial] == aid for serial, aid in before.items())
        assert len(accs) == 149  # bridge 1 full; the rest went to bridge 2
        assert len(server.hub.registry.on_bridge(2)) == 3  # type: ignore[union-attr]
        await again.close()
    finally:
        await server.stop()
    for name in ("bridge.json", "accessory.state"):
        assert (storage / "bridges" / "2" / name).stat().st_mode & 0o777 == 0o600
    # check's view: each bridge with its locks and pairing.
    findings = bridge_findings(Storage(storage), BridgeConfig(name="Test Bridge"))
    assert [(f.topic, f.detail.split(",")[0], f.detail.endswith("paired")) for f in findings] \
        == [("bridge 1 (Test Bridge)", "149 locks at the last run", True),
            ("bridge 2 (Test Bridge 2)", "3 locks at the last run", False)]
    assert "pair-info --bridge 2" in findings[1].detail
    # The ports they ran on (--port here), not the configured ones; a bridge.json of an
    # older version has none: the configured port, said so.
    assert [f.detail.split(", ")[1] for f in findings] == [f"on port {port}",
                                                          f"on port {port + 1}"]
    own = storage / "bridges" / "2" / "bridge.json"
    old = json.loads(own.read_text())
    del old["port"]
    own.write_text(json.dumps(old))
    config = BridgeConfig(name="Test Bridge")
    assert bridge_findings(Storage(storage), config)[1].detail.split(", ")[1] \
        == f"configured port {config.port + 1}"
    # pair-info and reset-pairing, per bridge.
    assert main(["-U", str(storage), "pair-info", "--bridge", "2"]) == 0
    out = capsys.readouterr().out
    code2 = json.loads((storage / "bridges" / "2" / "bridge.json").read_text())["pincode"]
    assert code2 in out and identity["pincode"] not in out and "X-HM://" in out
    assert "'hapbridge pair-info --bridge 2'" in out
    assert main(["-U", str(storage), "pair-info"]) == 0
    out = capsys.readouterr().out
    assert "Bridge 1 of 2" in out and "Bridge 2 of 2" in out and code2 in out
    assert main(["-U", str(storage), "pair-info", "--bridge", "3"]) == 2
    assert "--bridge 3: no such bridge" in capsys.readouterr().err
    assert main(["-U", str(storage), "reset-pairing", "--bridge", "2"]) == 0
    assert "Bridge 2: The bridge is not paired" in capsys.readouterr().out
    assert main(["-U", str(storage), "reset-pairing", "--bridge", "1"]) == 0
    assert "Bridge 1: Removed 1 pairing" in capsys.readouterr().out


@pytest.mark.parametrize("sim_config", [SimConfig(locks=151, gateways=2,
                                                  command_seconds=0.01)])
async def test_wrong_setup_codes_count_against_their_own_bridge(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    server = await start_bridge(sim, storage, port=free_ports(2))
    try:
        second = server.unit(2)
        wrong = "111-22-333" if second.identity.pincode != "111-22-333" else "111-22-334"
        discovery = IpDiscovery(Controller(), service_of(server, 2))
        try:
            finish = await discovery.async_start_pairing("guesser")
            with pytest.raises(AuthenticationError):
                await finish(wrong)
        finally:
            await discovery.close()
        attempts = storage / "bridges" / "2" / ATTEMPTS_FILE
        assert json.loads(attempts.read_text())["failed"] == 1
        assert attempts.stat().st_mode & 0o777 == 0o600
        assert not (storage / ATTEMPTS_FILE).exists()  # bridge 1's count is its own
        pairing = await pair(server)  # bridge 1 pairs at once
        await pairing.close()
        assert server.unit(1).paired and not second.paired
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=151, gateways=2,
                                                  command_seconds=0.01)])
async def test_pairing_lines_name_the_bridge_when_there_are_several(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_bridge(sim, tmp_path / "storage", port=free_ports(2))
    try:
        name = server.unit(2).spec.name
        with caplog.at_level(logging.INFO, logger="hapbridge.bridge.hap_driver"):
            pairing = await pair(server, "home", number=2)
            await pairing.remove_pairing(pairing.pairing_data["iOSPairingId"])
            await pairing.close()
        lines = [r.getMessage() for r in caplog.records if r.name.endswith("hap_driver")]
        assert lines == [f"bridge 2 {name!r}: a HomeKit controller paired (1 now)",
                         f"bridge 2 {name!r}: a HomeKit controller was removed (0 left, 1 "
                         "open sessions closed)"]
    finally:
        await server.stop()


@pytest.mark.parametrize("sim_config", [SimConfig(locks=151, gateways=2,
                                                  command_seconds=0.01)])
async def test_a_start_without_the_cloud_publishes_every_lock_on_its_bridge(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage, port = tmp_path / "storage", free_ports(2)
    server = await start_bridge(sim, storage, port=port)
    before = placements(server)
    await server.stop()
    server = await start_bridge(sim, storage, port=port,
                                base_url=f"http://{LOOPBACK}:{free_port()}")
    try:
        assert placements(server) == before
        assert not any(r.accessory.available
                       for r in server.hub.registry.records.values())  # type: ignore[union-attr]
    finally:
        await server.stop()


def test_demo_locks_makes_a_large_account_and_needs_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hapbridge.bridge.demo import demo_sim_config

    config = demo_sim_config(400)
    assert (config.locks, config.gateways) == (400, 20)
    assert main(["-U", str(tmp_path), "run", "--demo-locks", "400"]) == 2
    assert "--demo-locks is for the demo only: add --demo" in capsys.readouterr().err
    assert main(["-U", str(tmp_path), "run", "--demo", "--demo-locks", "0"]) == 2
    assert "--demo-locks must be from 1 to" in capsys.readouterr().err
