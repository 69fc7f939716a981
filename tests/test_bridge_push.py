"""Pushed records as the bridge's state, over real HTTP: the simulator pushes to the running
bridge's receiver, and a paired aiohomekit controller sees the result."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohomekit.controller.ip import IpPairing

from hapbridge.bridge.demo import demo_app_config
from hapbridge.bridge.push_watch import PushWatch
from hapbridge.bridge.server import BridgeServer
from hapbridge.errors import HapbridgeError
from hapbridge.event_log import EVENTS_FILE, Source, read_events
from hapbridge.push.arrivals import last_push_at
from hapbridge.push.callback_url import path_secret
from hapbridge.push.records import PushedRecord
from hapbridge.push.settings import CallbackSettings
from hapbridge.simulator import SimulatorServer
from hapbridge.storage import Storage
from hapbridge.ttlock.record_types import LockChange
from tests.bridge_helpers import (
    BATTERY,
    CURRENT,
    TARGET,
    EventLog,
    accessories,
    char_iid,
    start_bridge,
    wait_for,
)
from tests.push_helpers import a_record, push_form

UNSECURED, SECURED, UNKNOWN = 0, 1, 3
PUSH_DELAY = 0.05


def cloud_calls(sim: SimulatorServer) -> int:
    return sum(count for path, count in sim.world.calls.items() if path.startswith("/v3/"))


def receiver_url(bridge: BridgeServer) -> str:
    """The bridge's receiver URL, secret path included (what the simulator pushes to)."""
    assert bridge.pushes is not None and bridge.pushes.receiver is not None
    return bridge.pushes.receiver.urls.local


@pytest.fixture
async def bridge(sim: SimulatorServer, tmp_path: Path) -> AsyncIterator[BridgeServer]:
    server = await start_bridge(sim, tmp_path / "storage", callback=CallbackSettings(port=0))
    sim.config = dataclasses.replace(sim.config, callback_url=receiver_url(server),
                                     push_delay=PUSH_DELAY)
    yield server
    await server.stop()


@pytest.fixture
async def http(sim: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5) as client:
        yield client


class Door:
    """One lock as the controller sees it, with its LockCurrentState events."""

    def __init__(self, bridge: BridgeServer, pairing: IpPairing, lock_id: int,
                 accs: list[dict[str, Any]]) -> None:
        assert bridge.identity is not None
        self.lock_id = lock_id
        self.aid = bridge.identity.aids[lock_id]
        self.current = (self.aid, char_iid(accs, self.aid, CURRENT))
        self.target = (self.aid, char_iid(accs, self.aid, TARGET))
        self.log = EventLog(pairing)

    def seen(self) -> list[Any]:
        return self.log.values(self.current)


async def ready(bridge: BridgeServer, paired: IpPairing) -> Door:
    hub = bridge.hub
    assert hub is not None
    await wait_for(lambda: all(a.current_state != UNKNOWN for a in hub.accessories.values()), 5)
    lock_id = min(hub.accessories)
    door = Door(bridge, paired, lock_id, await accessories(paired))
    await paired.subscribe([door.current])
    return door


async def outside(http: httpx.AsyncClient, lock_id: int, record_type: int,
                  **fields: Any) -> None:
    answer = await http.post("/sim/event", json={"lockId": lock_id, "recordType": record_type,
                                                 **fields})
    assert answer.status_code == 200, answer.text


def events(bridge: BridgeServer) -> list[Any]:
    return read_events(bridge.storage.path(EVENTS_FILE))


async def test_changes_at_the_door_reach_homekit_with_no_cloud_call(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing, http: httpx.AsyncClient
) -> None:
    door = await ready(bridge, paired)
    # keypad, auto-lock, card, lock button, app: each pushed, each a LockCurrentState event
    steps = [(4, UNSECURED), (45, SECURED), (7, UNSECURED), (47, SECURED), (1, UNSECURED)]
    for record_type, state in steps:
        before, seen = cloud_calls(sim), len(door.seen())
        await outside(http, door.lock_id, record_type)
        await wait_for(lambda: len(door.seen()) > seen, PUSH_DELAY + 1.0)  # noqa: B023
        assert door.seen()[-1] == state
        assert cloud_calls(sim) == before  # the push cost nothing
    logged = [(e.change, e.source, e.how) for e in events(bridge) if e.lock_id == door.lock_id
              and e.source is Source.PUSH]
    assert logged == [("unlocked", Source.PUSH, "keypad"), ("locked", Source.PUSH, "auto-lock"),
                      ("unlocked", Source.PUSH, "card"), ("locked", Source.PUSH, "button"),
                      ("unlocked", Source.PUSH, "app")]
    assert bridge.hub is not None and bridge.hub.plan.pushes  # polling relaxed
    door.log.close()


async def test_a_commands_own_record_confirms_and_older_pushes_never_win(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing
) -> None:
    door = await ready(bridge, paired)
    url = receiver_url(bridge)
    pusher = sim.pusher
    # A HomeKit unlock: the command's result shows, then its record (type 12) is pushed and
    # only confirms it.
    assert await paired.put_characteristics([(door.target[0], door.target[1], UNSECURED)]) == {}
    await wait_for(lambda: UNSECURED in door.seen(), 3)
    await wait_for(lambda: pusher.answers["success"] >= 1, 3)
    await pusher.wait_idle()
    mine = [e for e in events(bridge) if e.lock_id == door.lock_id]
    assert [(e.change, e.source) for e in mine[-1:]] == [("unlocked", Source.HOMEKIT)]
    assert not any(e.source is Source.PUSH and e.change == "unlocked" for e in mine)
    # A HomeKit lock, then a late push of an unlock that happened before it: no change.
    assert await paired.put_characteristics([(door.target[0], door.target[1], SECURED)]) == {}
    await wait_for(lambda: door.seen()[-1:] == [SECURED], 3)
    await pusher.wait_idle()
    seen = len(door.seen())
    now = int(time.time() * 1000)
    lock = sim.world.locks[door.lock_id]
    late = push_form(door.lock_id, a_record(door.lock_id, 4, now - 30_000, lockMac=lock.mac),
                     admin=sim.config.username, mac=lock.mac)
    newer = push_form(door.lock_id, a_record(door.lock_id, 4, now, lockMac=lock.mac),
                      admin=sim.config.username, mac=lock.mac)
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.post(url, data=late)).text == "success"
        # the same record twice (a replay): one change only
        for _ in range(2):
            assert (await client.post(url, data=newer)).text == "success"
    await wait_for(lambda: len(door.seen()) > seen, 1)
    assert door.seen()[seen:] == [UNSECURED]
    assert bridge.hub is not None and bridge.hub.record(door.lock_id).state == UNSECURED
    pushed = [e.change for e in events(bridge)
              if e.lock_id == door.lock_id and e.source is Source.PUSH]
    assert pushed == ["unlocked", "battery 80%"]  # the record's battery, once too
    battery = (door.aid, char_iid(await accessories(paired), door.aid, BATTERY))
    assert (await paired.get_characteristics([battery]))[battery]["value"] == 80
    door.log.close()


async def test_a_poll_after_a_push_wins_and_a_push_after_a_poll_wins(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing, http: httpx.AsyncClient
) -> None:
    door = await ready(bridge, paired)
    hub = bridge.hub
    assert hub is not None
    await outside(http, door.lock_id, 4)
    await wait_for(lambda: hub.record(door.lock_id).state == UNSECURED, 1 + PUSH_DELAY)
    sim.world.locks[door.lock_id].state = 0  # locked meanwhile, with nothing pushed
    assert await hub.poll(door.lock_id)
    await wait_for(lambda: hub.record(door.lock_id).state == SECURED, 2)
    await outside(http, door.lock_id, 4)
    await wait_for(lambda: hub.record(door.lock_id).state == UNSECURED, 1 + PUSH_DELAY)
    sources = [e.source for e in events(bridge) if e.lock_id == door.lock_id][-3:]
    assert sources == [Source.PUSH, Source.POLL, Source.PUSH]
    door.log.close()


async def test_hostile_pushes_change_nothing(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing
) -> None:
    door = await ready(bridge, paired)
    url = receiver_url(bridge)
    lock = sim.world.locks[door.lock_id]
    now = int(time.time() * 1000)
    good = a_record(door.lock_id, 4, now, lockMac=lock.mac)
    before, shown = events(bridge), bridge.hub and bridge.hub.record(door.lock_id).state
    async with httpx.AsyncClient(timeout=5) as client:
        attempts = [
            (url + "x", push_form(door.lock_id, good, mac=lock.mac), 404),
            (url, {"notifyType": "1", "lockId": str(door.lock_id), "records": "[{"}, 400),
            (url, push_form(door.lock_id, good, admin="someone@else", mac=lock.mac), 403),
            (url, push_form(999, a_record(999, 4, now, lockMac=lock.mac), mac=lock.mac), 403),
            (url, push_form(door.lock_id, dict(good, success=2), mac=lock.mac), 400),
            (url, push_form(door.lock_id, dict(good, lockDate=now + 3 * 86_400_000),
                            admin=sim.config.username, mac=lock.mac), 200),  # far future
            (url, push_form(door.lock_id, dict(good, success=0), admin=sim.config.username,
                            mac=lock.mac), 200),  # a failed try: logged, no state
        ]
        for target, form, status in attempts:
            assert (await client.post(target, data=form)).status_code == status
        assert (await client.get(url)).status_code == 405
    await sim.pusher.wait_idle()
    assert bridge.hub is not None and bridge.hub.record(door.lock_id).state == shown
    assert door.seen() == []
    new = events(bridge)[len(before):]
    assert [e.change for e in new] == ["failed try: unlock by passcode"]
    door.log.close()


async def test_the_simulators_push_never_logs_the_callback_path(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing, http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("", "httpx", "httpcore"):  # the CLI quiets the HTTP libraries without -D
        caplog.set_level(logging.DEBUG, logger=name or None)
    door = await ready(bridge, paired)
    secret = receiver_url(bridge).rsplit("/", 1)[1]
    await outside(http, door.lock_id, 4)
    await wait_for(lambda: door.seen()[-1:] == [UNSECURED], 1 + PUSH_DELAY)
    await sim.pusher.wait_idle()
    assert "HTTP Request: POST http://127.0.0.1:" in caplog.text  # the push was logged
    assert secret not in caplog.text and secret[:12] not in caplog.text
    door.log.close()


async def test_future_records_warn_once_a_minute_with_a_readable_lock_time(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    door = await ready(bridge, paired)
    lock = sim.world.locks[door.lock_id]
    future = int(time.time() * 1000) + 5 * 86_400_000
    form = push_form(door.lock_id, a_record(door.lock_id, 4, future, lockMac=lock.mac),
                     admin=sim.config.username, mac=lock.mac)
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(4):  # replayed
            assert (await client.post(receiver_url(bridge), data=form)).text == "success"
    assert bridge.pushes is not None
    await wait_for(lambda: bridge.pushes.intake.accepted >= 4, 2)  # type: ignore[union-attr]
    warned = [r.getMessage() for r in caplog.records if "from the future" in r.getMessage()]
    assert len(warned) == 1, warned
    shown = time.strftime("%Y-%m-%d %H:%M", time.localtime(future / 1000))
    assert shown in warned[0] and str(future) not in warned[0]
    door.log.close()


async def test_a_push_with_the_wrong_or_no_lock_mac_changes_nothing(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing
) -> None:
    """lockMac is always sent (lockRecord/notify.md) and must be the lock's, as lock/list
    gives it: a push naming a known lockId with another MAC, or none, is refused."""
    door = await ready(bridge, paired)
    url = receiver_url(bridge)
    now = int(time.time() * 1000)
    shown = bridge.hub and bridge.hub.record(door.lock_id).state
    battery = bridge.hub and bridge.hub.record(door.lock_id).listing.battery
    wrong = "AA:BB:CC:DD:EE:FF"
    record = a_record(door.lock_id, 4, now, lockMac=wrong, electricQuantity=5)
    bare = {k: v for k, v in record.items() if k != "lockMac"}
    no_mac = push_form(door.lock_id, bare, admin=None)
    del no_mac["lockMac"]
    before = events(bridge)
    async with httpx.AsyncClient(timeout=5) as client:
        for form in (push_form(door.lock_id, record, admin=sim.config.username, mac=wrong),
                     no_mac):
            assert (await client.post(url, data=form)).status_code in (400, 403)
    assert bridge.hub is not None and bridge.hub.record(door.lock_id).state == shown
    assert bridge.hub.record(door.lock_id).listing.battery == battery
    assert events(bridge)[len(before):] == [] and door.seen() == []
    door.log.close()


async def test_lost_pushes_fall_back_to_full_polling_once_then_relax_again(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing, http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    door = await ready(bridge, paired)
    hub, pushes = bridge.hub, bridge.pushes
    assert hub is not None and pushes is not None
    pushes.watch.expect_within = 0.3
    assert not hub.plan.pushes
    await outside(http, door.lock_id, 4)
    await wait_for(lambda: hub.plan.pushes, 1 + PUSH_DELAY)
    relaxed = hub.plan.state_interval
    url = sim.config.callback_url
    sim.config = dataclasses.replace(sim.config, callback_url=None)  # pushes stop
    for target in (SECURED, UNSECURED, SECURED):
        assert await paired.put_characteristics([(door.target[0], door.target[1], target)]) == {}
        await wait_for(lambda: door.seen()[-1:] == [target], 3)  # noqa: B023
        await wait_for(lambda: not hub.plan.pushes, 2)
    lost = [r for r in caplog.records if "pushes seem lost" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING
    assert hub.plan.state_interval is not None and relaxed is not None
    assert hub.plan.state_interval < relaxed
    assert any("poll plan:" in r.getMessage() and "safety net" not in r.getMessage()
               for r in caplog.records if r.created >= lost[0].created)
    sim.config = dataclasses.replace(sim.config, callback_url=url)  # they come back
    await outside(http, door.lock_id, 4)
    await wait_for(lambda: hub.plan.pushes, 1 + PUSH_DELAY)
    assert any("pushes arrive again" in r.getMessage() for r in caplog.records)
    assert hub.plan.state_interval == relaxed
    await bridge.stop()
    assert last_push_at(bridge.storage) is not None  # for 'check'
    door.log.close()


async def test_callback_port_in_use_is_one_line_naming_it(sim: SimulatorServer,
                                                          tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HapbridgeError, match=rf"port {port}: .*choose another "
                           "callback.port") as info:
            await start_bridge(sim, tmp_path / "storage", callback=CallbackSettings(port=port))
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    server = await start_bridge(sim, tmp_path / "storage")  # nothing was left behind
    await server.stop()


async def test_the_demo_cloud_pushes_to_the_demo_bridge(sim: SimulatorServer,
                                                        tmp_path: Path) -> None:
    config = demo_app_config(sim, None, Storage(tmp_path / "demo"))
    callback = config.platform.callback
    assert callback is not None and callback.bind == ("127.0.0.1",)
    secret = path_secret(Storage(tmp_path / "demo"))
    assert sim.config.callback_url == f"http://127.0.0.1:{callback.port}/{secret}"


async def test_a_pushed_auto_lock_confirms_the_model_with_one_change(
    sim: SimulatorServer, bridge: BridgeServer, paired: IpPairing, http: httpx.AsyncClient
) -> None:
    door = await ready(bridge, paired)
    hub = bridge.hub
    assert hub is not None
    sim.world.locks[door.lock_id].auto_lock_time = 1
    await hub.refresh_details([door.lock_id])
    assert hub.record(door.lock_id).listing.auto_lock_seconds == 1
    await outside(http, door.lock_id, 4)  # a keypad unlock: the lock relocks itself in 1 s
    await wait_for(lambda: door.seen()[-1:] == [UNSECURED], 1 + PUSH_DELAY)
    await wait_for(lambda: door.seen()[-1:] == [SECURED], 3)
    await wait_for(lambda: sim.pusher.answers["success"] >= 2, 3)  # the lock's record, 45
    await sim.pusher.wait_idle()
    changes = [(e.change, e.source) for e in events(bridge) if e.lock_id == door.lock_id
               and e.change in ("locked", "unlocked")][-2:]
    # the model or the record, whichever came first; the other one confirms it
    assert changes[0] == ("unlocked", Source.PUSH)
    assert changes[1] in (("locked", Source.AUTO_LOCK), ("locked", Source.PUSH))
    assert door.seen().count(SECURED) == 1 and hub.record(door.lock_id).auto_lock is None
    door.log.close()


async def test_push_watch_counts_a_record_pushed_before_the_answer() -> None:
    changes: list[bool] = []
    watch = PushWatch(lambda: changes.append(watch.relaxed))
    watch.expect_within = 0.05
    now = int(time.time() * 1000)
    unlocked = PushedRecord(lock_id=1, record_type=12, success=True, lock_date=now,
                            server_date=None)
    watch.heard(1, "Front Door", [unlocked])  # the command's record came first
    watch.expect(1, "Front Door", LockChange.UNLOCKED)
    watch.expect(2, "Back Door", LockChange.LOCKED)  # never pushed
    await asyncio.sleep(0.15)
    assert changes == [True, False] and watch.lost  # relaxed, then lost once
    watch.expect(1, "Front Door", LockChange.LOCKED)
    await asyncio.sleep(0.1)
    assert changes == [True, False]  # said once
    watch.heard(2, "Back Door")
    assert changes == [True, False, True] and watch.relaxed
    watch.close()
