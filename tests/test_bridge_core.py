"""The four defects the redesigned core makes impossible, and branches nothing else pins.

Each defect test failed on the core before the redesign: a crash losing a learnt state (a
real ``kill -9`` of a real ``hapbridge run``), a superseded command's retry still running,
locks left No Response while the cloud already answers, a busy start-up poll waiting a
whole round. Faults come from the simulator over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohomekit.controller import Controller
from aiohomekit.controller.ip import IpPairing

from accessories.ttlock_lock import SECURED, UNKNOWN, UNSECURED
from hapbridge.bridge.lock_hub import LockHub
from hapbridge.bridge.server import BridgeServer
from hapbridge.simulator import SimLock, SimulatorServer
from hapbridge.ttlock.retry import RetryPolicy
from tests.bridge_helpers import (
    CURRENT,
    TARGET,
    EventLog,
    FakeCloud,
    accessories,
    aids_by_serial,
    apply_listing,
    char_iid,
    free_port,
    make_hub,
    pair,
    pair_process,
    spawn_bridge,
    start_bridge,
    started_hub,
    stop_process,
    wait_for,
    wait_port,
    write_config,
)

COMMUNICATION_FAILURE = -70402
SLOW_RETRY = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=0.5)


async def read(pairing: IpPairing, aid: int, iid: int) -> dict[str, int]:
    return (await pairing.get_characteristics([(aid, iid)]))[(aid, iid)]


@dataclasses.dataclass
class Rig:
    """A started bridge, a paired controller, and the first lock as both see it."""

    server: BridgeServer
    hub: LockHub
    pairing: IpPairing
    lock: SimLock
    aid: int
    current: int
    target: int


@contextlib.asynccontextmanager
async def first_lock(sim: SimulatorServer, tmp_path: Path,
                     retry: RetryPolicy | None = None) -> AsyncIterator[Rig]:
    """Yields once every start-up call (map, details, first states) is answered."""
    server = await start_bridge(sim, tmp_path / "storage", retry=retry)
    try:
        pairing = await pair(server)
        hub = server.hub
        assert hub is not None
        lock = next(iter(sim.world.locks.values()))
        accs = await accessories(pairing)
        aid = aids_by_serial(accs)[lock.mac]
        await wait_for(lambda: all(lk.detailed for lk in hub.locks.values()) and all(
            a.current_state != UNKNOWN for a in hub.accessories.values()), 5)
        await asyncio.sleep(0.1)
        yield Rig(server, hub, pairing, lock, aid, char_iid(accs, aid, CURRENT),
                  char_iid(accs, aid, TARGET))
        await pairing.close()
    finally:
        sim.config.scripted_errcodes.clear()
        sim.config.error_5xx_rate = 0.0
        await server.stop()


# -- 1. a learnt state is on disk before a restart relies on it -------------------------------


async def test_a_crash_right_after_a_command_does_not_bring_back_the_old_state(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    storage, port = tmp_path / "storage", free_port()
    storage.mkdir()
    write_config(storage, sim, port)
    lock = next(iter(sim.world.locks.values()))
    proc = spawn_bridge(storage)  # first run: pairs, learns every state, stops cleanly
    try:
        await wait_port(port)
        data = await pair_process(storage, port)
        await wait_for(lambda: sim.world.calls["/v3/lock/queryOpenState"] >= len(
            sim.world.locks), 10)
    finally:
        stop_process(proc)  # locks.json now holds fresh states: a quick restart shows them

    proc = spawn_bridge(storage)
    try:
        await wait_port(port)
        pairing = IpPairing(Controller(), data)
        accs = await accessories(pairing)
        aid = aids_by_serial(accs)[lock.mac]
        current, target = char_iid(accs, aid, CURRENT), char_iid(accs, aid, TARGET)
        assert (await read(pairing, aid, current))["value"] == SECURED
        log = EventLog(pairing)
        await pairing.subscribe([(aid, current)])
        await pairing.put_characteristics([(aid, target, UNSECURED)])
        await wait_for(lambda: UNSECURED in log.values((aid, current)), 5)
        log.close()
        await pairing.close()
        os.kill(proc.pid, signal.SIGKILL)  # a crash: nothing gets saved on the way out
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lock.state == 1  # the door is open

    queries = sim.world.calls["/v3/lock/queryOpenState"]
    proc = spawn_bridge(storage)  # within 2 minutes: the restart trusts locks.json
    try:
        await wait_port(port)
        pairing = IpPairing(Controller(), data)
        value = await read(pairing, aid, current)
        assert value.get("value") in (UNSECURED, UNKNOWN), value  # never Secured: it is open
        await wait_for(lambda: sim.world.calls["/v3/lock/queryOpenState"] >= queries, 5)
        await pairing.close()
    finally:
        stop_process(proc)


# -- 2. a newer wish ends an older command's retries ------------------------------------------


async def superseded_unlock(sim: SimulatorServer, tmp_path: Path, fault: str) -> None:
    """Unlock answered with ``fault``; a lock is wished during its backoff: the unlock is
    not sent again, the lock runs, the door stays locked."""
    async with first_lock(sim, tmp_path, SLOW_RETRY) as rig:
        if fault == "busy":
            sim.config.scripted_errcodes["/v3/lock/unlock"] = [-3003]
        else:
            sim.config.error_5xx_rate = 1.0
        await rig.pairing.put_characteristics([(rig.aid, rig.target, UNSECURED)])
        await wait_for(lambda: sim.world.calls["/v3/lock/unlock"] == 1, 3)
        await asyncio.sleep(0.05)  # the answer is in: the unlock waits for its retry
        sim.config.error_5xx_rate = 0.0
        await rig.pairing.put_characteristics([(rig.aid, rig.target, SECURED)])
        await wait_for(lambda: sim.world.calls["/v3/lock/lock"] == 1, 3)
        await asyncio.sleep(SLOW_RETRY.max_delay * 1.6)  # past every retry the unlock had
        assert sim.world.calls["/v3/lock/unlock"] == 1  # never sent again
        assert rig.lock.state == 0
        assert (await read(rig.pairing, rig.aid, rig.target))["value"] == SECURED


async def test_a_newer_wish_ends_the_retries_of_a_busy_command(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    await superseded_unlock(sim, tmp_path, "busy")


async def test_a_newer_wish_ends_the_retries_of_a_command_answered_500(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    await superseded_unlock(sim, tmp_path, "500")


# -- 3. any answer brings the locks back -------------------------------------------------------


async def test_locks_are_live_again_as_soon_as_any_call_is_answered(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    async with first_lock(sim, tmp_path) as rig:
        hub, pairing, aid = rig.hub, rig.pairing, rig.aid
        sim.config.error_5xx_rate = 1.0  # the cloud stops answering
        await pairing.put_characteristics([(aid, rig.target, UNSECURED)])
        await wait_for(lambda: not hub.cloud_up, 5)  # the probe found it down
        assert (await read(pairing, aid, rig.current))["status"] == COMMUNICATION_FAILURE
        # Back, but its lock list keeps failing: only other answers can tell.
        sim.config.scripted_errcodes["/v3/lock/list"] = [90000] * 1000
        sim.config.error_5xx_rate = 0.0
        await pairing.put_characteristics([(aid, rig.target, UNSECURED)])
        await wait_for(lambda: rig.lock.state == 1, 3)
        await wait_for(lambda: all(a.available for a in hub.accessories.values()), 2)
        assert (await read(pairing, aid, rig.current)) == {"value": UNSECURED}


# -- 4. a busy poll is retried soon ------------------------------------------------------------


async def test_a_start_up_poll_that_meets_a_busy_gateway_is_retried_soon(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.config.scripted_errcodes["/v3/lock/queryOpenState"] = [-3003, -3003]
    server = await start_bridge(sim, tmp_path / "storage")
    try:
        hub = server.hub
        assert hub is not None
        await wait_for(lambda: all(a.current_state != UNKNOWN
                                   for a in hub.accessories.values()), 5)
        assert sim.world.errcodes[-3003] == 2
    finally:
        await server.stop()


# -- branches nothing else pinned --------------------------------------------------------------


async def test_a_wish_held_for_the_gateway_map_makes_polls_pointless_and_stays_shown(
    tmp_path: Path,
) -> None:
    cloud = FakeCloud(1)
    cloud.delays["list_gateways"] = 0.3
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    hub.start()
    hub.request(1, UNSECURED)  # no gateway map yet: the wish waits for it
    assert await hub.poll(1) is False  # a poll now could only be overtaken by the wish
    assert hub.accessories[1].target_state == UNSECURED  # the waiting wish is on show
    await wait_for(lambda: hub.accessories[1].current_state == UNSECURED, 3)
    assert cloud.count("unlock", 1) == 1 and cloud.count("query", 1) == 0
    await hub.stop()


async def test_a_removed_lock_takes_its_auto_lock_timer_along(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    record = hub.record(1)
    record.listing = dataclasses.replace(record.listing, auto_lock_time=0.3)
    hub.request(1, UNSECURED)
    await wait_for(lambda: hub.accessories[1].current_state == UNSECURED)
    assert hub.record(1).auto_lock is not None
    kept = cloud.locks.pop(1)
    await apply_listing(hub)
    await apply_listing(hub)  # gone: its record, and the timer with it
    assert 1 not in hub.accessories
    cloud.locks[1] = kept  # back on the account (say, re-added in the app), still open
    await apply_listing(hub)
    assert await hub.poll(1)
    assert hub.accessories[1].current_state == UNSECURED
    await asyncio.sleep(0.4)  # past where the old timer would have fired
    assert hub.accessories[1].current_state == UNSECURED
    await hub.stop()


async def test_a_lock_the_cloud_says_no_longer_exists_leaves_homekit_at_once(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    async with first_lock(sim, tmp_path) as rig:
        driver = rig.server.driver
        assert driver is not None
        version = driver.state.config_version
        sim.config.scripted_errcodes["/v3/lock/unlock"] = [-1003]
        await rig.pairing.put_characteristics([(rig.aid, rig.target, UNSECURED)])
        await wait_for(lambda: rig.lock.lock_id not in rig.hub.accessories, 3)
        assert driver.state.config_version > version
        assert rig.lock.mac not in aids_by_serial(await accessories(rig.pairing))


async def test_locks_json_never_holds_a_state_a_command_may_have_changed(
    tmp_path: Path,
) -> None:
    """While a command travels the lock's state on disk is in doubt (a restart asks the
    lock); its result is written once the event is out."""
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)

    def on_disk(lock_id: int) -> object:
        items = json.loads((tmp_path / "locks.json").read_text())["locks"]
        return next(item["state"] for item in items if item["lock_id"] == lock_id)

    assert on_disk(1) == SECURED
    cloud.delays["unlock"] = 0.2
    hub.request(1, UNSECURED)
    await wait_for(lambda: cloud.count("unlock", 1) == 1)
    await asyncio.sleep(0.05)
    assert on_disk(1) is None and on_disk(2) == SECURED
    await wait_for(lambda: hub.accessories[1].current_state == UNSECURED)
    await wait_for(lambda: on_disk(1) == UNSECURED, 2)
    await hub.stop()
