"""The hub alone against a scripted cloud: races, restarts and failures that need exact timing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import pytest

from accessories.ttlock_lock import SECURED, UNSECURED
from hapbridge.bridge import cloud_health, lock_hub
from hapbridge.bridge.cloud_health import Health
from hapbridge.bridge.lock_cache import KnownLock, load_cached_locks, save_cached_locks
from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.errors import ConfigurationError, TransportError, UnknownError, error_for
from hapbridge.ttlock.models import OpenState
from hapbridge.ttlock.reach import Cause
from tests.bridge_helpers import FakeCloud, apply_listing, make_hub, started_hub, wait_for

GATEWAY_OFFLINE, NO_GATEWAY = Cause.GATEWAY_OFFLINE, Cause.NO_GATEWAY


def with_auto_lock(hub: lock_hub.LockHub, lock_id: int, seconds: float) -> None:
    """Sub-second auto-lock times keep these tests fast (the cloud speaks whole seconds)."""
    record = hub.record(lock_id)
    record.listing = dataclasses.replace(record.listing, auto_lock_time=seconds)


def causes(hub: lock_hub.LockHub) -> dict[int, Cause]:
    """Why each lock shows No Response (locks that respond are left out)."""
    return {lid: r.cause for lid, r in hub.registry.records.items() if r.cause is not None}


def write_target(hub: lock_hub.LockHub, lock_id: int, target: int) -> None:
    """What a HomeKit write does: the characteristic takes the value, then the setter runs."""
    service = hub.accessories[lock_id].get_service("LockMechanism")
    service.get_characteristic("LockTargetState").client_update_value(target)


def cache_ids(storage: Path) -> list[int]:
    return [item["lock_id"] for item in json.loads((storage / "locks.json").read_text())["locks"]]


async def set_gateway_online(hub: lock_hub.LockHub, cloud: FakeCloud, online: bool) -> None:
    """Gateway 1 goes offline (or back online), and the hub reads the gateway map."""
    cloud.gateways[1] = dataclasses.replace(cloud.gateways[1], online=online)
    await hub.refresh_gateways()


def hub_tasks() -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and not t.done()
            and t.get_name().startswith(("hapbridge-", "gateway-queue-"))]


# -- 1. auto-lock timers ---------------------------------------------------------------------


async def test_queued_second_unlock_leaves_no_orphan_auto_lock_timer(tmp_path: Path) -> None:
    cloud = FakeCloud(1)
    hub = await started_hub(tmp_path, cloud)
    with_auto_lock(hub, 1, 0.4)
    accessory = hub.accessories[1]
    cloud.delays["unlock"] = 0.15
    hub.request(1, UNSECURED)  # in flight until 0.15
    await asyncio.sleep(0.02)
    hub.request(1, UNSECURED)  # queued: done at 0.30, so the lock locks itself at 0.70
    await wait_for(lambda: cloud.count("unlock") == 2)  # the first one is done
    assert hub.record(1).auto_lock is None  # a newer command waited: the first arms none
    await asyncio.sleep(0.15 + 0.4 - 0.15 + 0.05)  # past where the first unlock's timer was
    assert accessory.current_state == UNSECURED
    await wait_for(lambda: accessory.current_state == SECURED, 1)
    assert hub.record(1).auto_lock is None
    await hub.stop()


async def test_arming_again_cancels_the_previous_timer(tmp_path: Path) -> None:
    hub = await started_hub(tmp_path, FakeCloud(1))
    with_auto_lock(hub, 1, 0.1)
    record = hub.record(1)
    hub.auto_lock.arm(record)
    first = record.auto_lock
    hub.auto_lock.arm(record)
    assert first is not None and first.cancelled() and record.auto_lock is not first
    await wait_for(lambda: hub.accessories[1].current_state == SECURED
                   and record.auto_lock is None)
    await hub.stop()


# -- 2 and 12. the lock cache across failed starts and outages ------------------------------


async def test_fatal_start_keeps_the_cache_and_outage_start_publishes_it(tmp_path: Path) -> None:
    cloud = FakeCloud(3)
    hub = await started_hub(tmp_path, cloud)
    await hub.stop()
    assert cache_ids(tmp_path) == [1, 2, 3]

    cloud.fail["list_locks"] = ConfigurationError("the clock is off (TTLock error 80000)")
    hub = make_hub(tmp_path, cloud)
    with pytest.raises(ConfigurationError):
        await hub.load()
    await hub.stop()  # what the server does after a failed start
    assert cache_ids(tmp_path) == [1, 2, 3]

    cloud.fail["list_locks"] = TransportError("no network")
    hub = make_hub(tmp_path, cloud, exclude=("2",))
    await hub.load()
    assert set(hub.accessories) == {1, 3}  # cached, minus what "exclude" names
    assert not any(a.available for a in hub.accessories.values())
    await hub.stop()


def test_an_empty_list_never_replaces_a_cache(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    save_cached_locks(storage, [KnownLock(lock_id=7, alias="Gate")])
    save_cached_locks(storage, [])
    assert [lock.lock_id for lock in load_cached_locks(storage)] == [7]


async def test_without_a_cache_an_outage_start_publishes_the_known_aids(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    aids = dict(hub.identity.aids)
    await hub.stop()
    (tmp_path / "locks.json").unlink()
    cloud.fail["list_locks"] = TransportError("no network")
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    assert {lid: a.aid for lid, a in hub.accessories.items()} == aids
    await hub.stop()


def test_one_damaged_cache_item_loses_only_itself(tmp_path: Path) -> None:
    (tmp_path / "locks.json").write_text(json.dumps(
        {"locks": [{"lock_id": 1, "alias": "Front", "battery": None}, {"alias": "no id"}, 5,
                   {"lock_id": 2, "alias": "Back", "battery": "x"},
                   {"lock_id": True, "alias": "Shed"},
                   {"lock_id": 4, "alias": "Gate", "wifi": 1}]}))
    assert [lock.lock_id for lock in load_cached_locks(Storage(tmp_path))] == [1]


# -- 3. a lock's work stays in one queue ------------------------------------------------------


async def test_a_lock_moving_gateway_runs_on_its_new_one_and_keeps_its_order(
    tmp_path: Path,
) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    cloud.delays["unlock"] = 0.2
    hub.request(2, UNSECURED)  # occupies gateway 1
    await asyncio.sleep(0.02)
    hub.request(1, UNSECURED)  # waits behind it
    cloud.move(1, 2)
    await hub.refresh_gateways()
    assert hub.route(1) == ("gateway", 2)
    hub.request(1, SECURED)  # the newest wish replaces the waiting unlock
    await wait_for(lambda: cloud.count("lock", 1) == 1, 2)
    # looked up when it ran: on gateway 2, free, while gateway 1 still carries lock 2
    assert hub.accessories[2].current_state != UNSECURED
    assert [(n, lid) for n, lid in cloud.calls if lid == 1 and n in ("lock", "unlock")] == [
        ("lock", 1)]
    await wait_for(lambda: hub.accessories[1].current_state == SECURED
                   and hub.accessories[2].current_state == UNSECURED, 2)
    await hub.stop()


async def test_a_lock_moved_while_its_command_runs_waits_for_it(tmp_path: Path) -> None:
    cloud = FakeCloud(1)
    hub = await started_hub(tmp_path, cloud)
    cloud.delays["unlock"] = 0.2
    hub.request(1, UNSECURED)
    await wait_for(lambda: cloud.count("unlock", 1) == 1)
    cloud.move(1, 2)
    await hub.refresh_gateways()  # its new gateway is free, but the unlock is on its way
    hub.request(1, SECURED)
    await asyncio.sleep(0.05)
    assert cloud.count("lock", 1) == 0
    await wait_for(lambda: cloud.count("lock", 1) == 1, 2)
    assert cloud.calls.index(("lock", 1)) > cloud.calls.index(("unlock", 1))
    await wait_for(lambda: hub.accessories[1].current_state == SECURED)
    await hub.stop()


async def test_commands_before_the_gateway_map_share_the_polls_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_hub, "MAP_WAIT", 0.05)
    cloud = FakeCloud(1)
    cloud.delays.update(list_gateways=0.2, unlock=0.3)
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    hub.start()
    hub.request(1, UNSECURED)  # no map for 0.2 s: sent at 0.05 on the lock's own carrier
    await wait_for(lambda: hub.routes.ready.is_set())
    assert hub.route(1) == ("gateway", 1)
    await wait_for(lambda: hub.accessories[1].current_state == UNSECURED, 2)
    await asyncio.sleep(0.05)
    # The startup poll joined the command's queue, where a command makes it pointless; on
    # the gateway's queue it would have queried the lock in the middle of the unlock.
    assert [name for name, lid in cloud.calls if name in ("unlock", "query")] == ["unlock"]
    await hub.stop()


# -- 5. nothing kills a background loop -------------------------------------------------------


async def test_loop_survives_any_exception_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub(tmp_path, FakeCloud(1))
    runs: list[int] = []

    async def step() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise StorageError("disk full")

    with caplog.at_level(logging.ERROR, logger="hapbridge.bridge"):
        task = asyncio.create_task(hub.scheduler.every("cache save", lambda: 0.01, step))
        await wait_for(lambda: len(runs) >= 4)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    failures = [r for r in caplog.records if "cache save failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info is None for r in failures)
    assert "StorageError: disk full" in failures[0].getMessage()


async def test_list_loop_survives_a_failing_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = FakeCloud(1)
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    scheduler = hub.scheduler
    scheduler.plan = dataclasses.replace(scheduler.plan, list_interval=0.02)
    monkeypatch.setattr(scheduler, "refresh_plan", lambda: scheduler.plan)

    def broken(*_args: object) -> None:
        raise ValueError("Duplicate AID found when attempting to add accessory")

    monkeypatch.setattr(hub.registry, "apply_list", broken)
    before = cloud.count("list_locks")
    hub.start()
    await wait_for(lambda: cloud.count("list_locks") >= before + 3)
    assert "hapbridge-lock-list" in hub_tasks()
    await hub.stop()


async def test_malformed_list_item_is_skipped_alone(tmp_path: Path) -> None:
    cloud = FakeCloud(0)
    good = {"lockId": 1, "lockAlias": "Front", "lockMac": "AA", "electricQuantity": 90}
    cloud.raw_items = [good, {"lockAlias": "no id"}, {**good, "lockId": 2, "lockAlias": "Back"}]
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    assert set(hub.accessories) == {1, 2} and hub.cloud_up

    # An unreadable item of a published lock keeps that lock (HomeKit would drop its room).
    cloud.raw_items = [good, {"lockId": 2, "electricQuantity": "lots"}]
    await apply_listing(hub)
    assert set(hub.accessories) == {1, 2} and hub.locks[2].alias == "Back"
    await hub.stop()


async def test_unreadable_details_skip_only_that_lock(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    record = hub.record(1)
    record.listing = dataclasses.replace(record.listing, model="")
    real = cloud.lock_detail

    async def detail(lock_id: int):  # type: ignore[no-untyped-def]
        if lock_id == 1:
            raise UnknownError("the TTLock cloud sent an unexpected answer to "
                               "/v3/lock/detail (ValueError)")  # what answer_of raises
        return await real(lock_id)

    cloud.lock_detail = detail  # type: ignore[method-assign]
    await hub.refresh_details()
    assert hub.locks[1].model == "" and hub.locks[2].model == "SN9161"
    await hub.stop()


async def test_reconnect_survives_unexpected_errors(tmp_path: Path) -> None:
    cloud = FakeCloud(1)
    cloud.fail["list_locks"] = TransportError("no network")
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    cloud.fail["list_locks"] = RuntimeError("unexpected")
    hub.start()
    await wait_for(lambda: cloud.count("list_locks") >= 3)
    del cloud.fail["list_locks"]
    await wait_for(lambda: hub.cloud_up and hub.accessories[1].available)
    await hub.stop()


async def test_duplicate_aid_or_unsavable_aids_skip_locks_not_the_bridge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = FakeCloud(2)
    hub = make_hub(tmp_path, cloud)
    hub.identity.aids.update({1: 5, 2: 5})  # a damaged map: HAP-python refuses the second
    await hub.load()
    assert len(hub.accessories) == 1
    cloud.locks[3] = dataclasses.replace(cloud.locks[1], lock_id=3, alias="Shed")

    def full(*_args: object) -> None:
        raise StorageError("cannot write bridge.json: No space left on device")

    monkeypatch.setattr(hub.registry.storage, "write_json", full)
    await apply_listing(hub)  # neither the AID nor the cache can be saved
    assert 3 not in hub.accessories and 3 not in hub.identity.aids
    monkeypatch.undo()
    await apply_listing(hub)
    assert 3 in hub.accessories
    await hub.stop()


# -- 6. stopping -------------------------------------------------------------------------------


async def test_nothing_starts_or_survives_after_stop(tmp_path: Path) -> None:
    cloud = FakeCloud(2, delay=0.05)
    hub = await started_hub(tmp_path, cloud)
    hub.request(1, UNSECURED)
    await hub.stop()
    calls = len(cloud.calls)
    hub.accessories[2]._target_written(UNSECURED)  # a HomeKit write that arrives late
    assert await hub.poll(2) is False
    await asyncio.sleep(0.1)
    assert hub_tasks() == [] and len(cloud.calls) == calls


# -- 7. stale poll answers ---------------------------------------------------------------------


async def test_poll_answer_older_than_the_auto_lock_is_dropped(tmp_path: Path) -> None:
    cloud = FakeCloud(1)
    hub = await started_hub(tmp_path, cloud)
    with_auto_lock(hub, 1, 0.1)
    accessory = hub.accessories[1]
    hub.request(1, UNSECURED)
    await wait_for(lambda: accessory.current_state == UNSECURED)
    cloud.delays["query"] = 0.3  # the answer (unlocked) was true when the query started
    poll = hub.poll(1)
    await wait_for(lambda: accessory.current_state == SECURED)  # auto-lock at 0.1
    assert await poll
    assert accessory.current_state == SECURED and accessory.target_state == SECURED
    await hub.stop()


async def test_unlock_seen_by_a_poll_arms_the_auto_lock(tmp_path: Path) -> None:
    cloud = FakeCloud(1)
    hub = await started_hub(tmp_path, cloud)
    with_auto_lock(hub, 1, 0.1)
    cloud.states[1] = OpenState.UNLOCKED  # opened with a key or in the TTLock app
    assert await hub.poll(1)
    assert hub.accessories[1].current_state == UNSECURED and hub.record(1).auto_lock
    await wait_for(lambda: hub.accessories[1].current_state == SECURED)
    await hub.stop()


# -- 9. No Response clears without state polling ----------------------------------------------


async def test_gateway_back_online_clears_no_response(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    await set_gateway_online(hub, cloud, False)
    assert causes(hub) == {1: GATEWAY_OFFLINE, 2: GATEWAY_OFFLINE}
    cloud.gateways[1] = dataclasses.replace(cloud.gateways[1], online=True)
    queries = cloud.count("query")
    await hub.refresh_gateways()
    assert causes(hub) == {} and all(a.available for a in hub.accessories.values())
    assert cloud.count("query") == queries  # no state query needed
    await hub.stop()


async def test_without_state_polling_unreachable_locks_are_rechecked(tmp_path: Path) -> None:
    cloud = FakeCloud(3)
    hub = await started_hub(tmp_path, cloud)
    scheduler = hub.scheduler
    scheduler.plan = dataclasses.replace(scheduler.plan, state_interval=None,
                                         recheck_interval=60.0)
    hub.registry.set_cause(1, Cause.LOCK_SILENT, "no answer")
    hub.registry.set_cause(2, Cause.LOCK_SILENT, "no answer")
    hub.registry.set_cause(3, NO_GATEWAY)  # polling it is pointless until a gateway appears
    scheduler.last_recheck -= 60.0
    scheduler.poll_index = 0
    await scheduler.poll_next()
    await scheduler.poll_next()  # too soon after the first: no second query
    await wait_for(lambda: 1 not in causes(hub))
    assert [cloud.count("query", lid) for lid in (1, 2, 3)] == [2, 1, 1]  # 1 = startup poll
    await hub.stop()


# -- 10. what a restart costs -----------------------------------------------------------------


async def test_restart_reuses_cached_details_and_caps_startup_polls(tmp_path: Path) -> None:
    cloud = FakeCloud(20)
    hub = make_hub(tmp_path, cloud, api_budget_per_month=500)
    await hub.load()
    hub.start()
    await wait_for(lambda: cloud.count("lock_detail") == 20 and cloud.count("query") == 5)
    assert hub.plan.startup_polls == 5  # 1% of the budget
    await hub.stop()

    cloud.calls.clear()
    hub = make_hub(tmp_path, cloud, api_budget_per_month=500)
    await hub.load()
    hub.start()
    await wait_for(lambda: cloud.count("query") == 5)
    await asyncio.sleep(0.05)
    assert cloud.count("lock_detail") == 0 and cloud.count("query") == 5
    assert hub.locks[1].model == "SN9161"
    await hub.stop()


# -- one odd answer never wipes a Home; partial maps; polls that can work ----------------------


async def test_an_empty_list_once_keeps_every_lock_as_no_response(tmp_path: Path) -> None:
    cloud = FakeCloud(3)
    hub = await started_hub(tmp_path, cloud)
    everything = dict(cloud.locks)
    cloud.locks.clear()  # a cloud hiccup answers "no locks"
    await apply_listing(hub)
    assert set(hub.accessories) == {1, 2, 3}
    assert not any(a.available for a in hub.accessories.values())
    cloud.locks.update(everything)  # the next sweep is normal again
    await apply_listing(hub)
    assert all(a.available for a in hub.accessories.values())
    del cloud.locks[2]  # really removed: gone after two lists without it
    await apply_listing(hub)
    assert 2 in hub.accessories
    await apply_listing(hub)
    assert set(hub.accessories) == {1, 3}
    await hub.stop()


async def test_a_failing_gateway_keeps_its_locks_routes_and_the_map_is_retried(
    tmp_path: Path,
) -> None:
    cloud = FakeCloud(2)
    cloud.move(2, 2)
    hub = await started_hub(tmp_path, cloud)
    assert (hub.route(1), hub.route(2)) == (("gateway", 1), ("gateway", 2))
    real = cloud.gateway_locks
    broken = {2}

    async def gateway_locks(gateway_id: int) -> list:  # type: ignore[type-arg]
        if gateway_id in broken:
            raise TransportError("timeout")
        return await real(gateway_id)

    cloud.gateway_locks = gateway_locks  # type: ignore[method-assign]
    before = cloud.count("list_gateways")
    await hub.scheduler.map_gateways()
    assert hub.route(2) == ("gateway", 2)  # not split off onto a carrier of its own
    link = hub.record(2).link
    assert link is not None and link.gateway.gateway_id == 2 and link.online
    assert hub.scheduler.map_retrying
    await wait_for(lambda: cloud.count("list_gateways") >= before + 2)
    broken.clear()
    await wait_for(lambda: not hub.scheduler.map_retrying)
    calls = cloud.count("list_gateways")
    await asyncio.sleep(0.15)
    assert cloud.count("list_gateways") == calls  # complete: no more retries
    await hub.stop()


async def test_locks_without_gateway_are_not_polled_and_polls_do_not_retry(
    tmp_path: Path,
) -> None:
    cloud = FakeCloud(3)
    cloud.locks[3] = dataclasses.replace(cloud.locks[3], has_gateway=False)
    cloud.behind[1].remove(3)
    seen: list[int | None] = []
    real = cloud.query_open_state

    async def query(lock_id: int, *, retries: int | None = None):  # type: ignore[no-untyped-def]
        seen.append(retries)
        return await real(lock_id)

    cloud.query_open_state = query  # type: ignore[method-assign]
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    hub.start()
    await wait_for(lambda: cloud.count("query") == 2)
    assert hub.scheduler.pollable() == [1, 2] and hub.plan.locks == 2
    assert causes(hub)[3] == NO_GATEWAY
    assert set(seen) == {0}
    for done in range(3, 7):  # the round-robin: 1, 2, 1, 2, never 3
        await hub.scheduler.poll_next()
        await wait_for(lambda done=done: cloud.count("query") == done)  # type: ignore[misc]
    assert cloud.count("query", 3) == 0
    await hub.stop()


async def test_cloud_lost_after_start_shows_no_response_until_it_answers(
    tmp_path: Path,
) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    cloud.fail["list_locks"] = TransportError("no network")
    with pytest.raises(TransportError):
        await hub.refresh_list()  # the sweep gets no answer: the probe decides
    await wait_for(lambda: not hub.cloud_up)
    assert cloud.count("list_locks") >= 1 + 1 + cloud_health.CLOUD_LOST_AFTER
    assert not any(a.available for a in hub.accessories.values())
    del cloud.fail["list_locks"]  # the reconnect (with backoff) finds it back
    await wait_for(lambda: hub.cloud_up and all(a.available for a in hub.accessories.values()))
    await hub.stop()


async def test_a_failing_layout_announcement_does_not_stop_the_sweep(tmp_path: Path) -> None:
    cloud = FakeCloud(1)
    hub = await started_hub(tmp_path, cloud)

    def broken() -> None:
        raise StorageError("disk full")

    hub.driver.config_changed = broken
    cloud.locks[2] = dataclasses.replace(cloud.locks[1], lock_id=2, alias="Shed")
    await apply_listing(hub)
    assert set(hub.accessories) == {1, 2}
    await hub.stop()


async def test_unchanged_sweeps_do_not_rewrite_the_cache(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    cache = tmp_path / "locks.json"
    stamp = cache.stat().st_mtime_ns
    cache.write_text(cache.read_text())  # same content, newer time: we can see a rewrite
    touched = cache.stat().st_mtime_ns
    assert touched >= stamp
    await apply_listing(hub)
    assert cache.stat().st_mtime_ns == touched
    cloud.locks[1] = dataclasses.replace(cloud.locks[1], battery=12)
    await apply_listing(hub)
    assert json.loads(cache.read_text())["locks"][0]["battery"] == 12
    await hub.stop()


async def test_one_no_gateway_answer_from_a_lock_with_a_gateway_passes(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    cloud.fail["query"] = error_for(-2012)
    await hub.poll(1)
    assert not hub.accessories[1].available and 1 in hub.scheduler.pollable()  # still asked
    del cloud.fail["query"]
    await hub.poll(1)
    assert hub.accessories[1].available
    await hub.stop()


async def test_a_gateway_refusing_for_good_is_not_retried(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)

    async def refused(gateway_id: int) -> list:  # type: ignore[type-arg]
        raise error_for(-4037)

    cloud.gateway_locks = refused  # type: ignore[method-assign]
    await hub.scheduler.map_gateways()
    assert not hub.scheduler.map_retrying and hub.route(1) == ("gateway", 1)
    await hub.stop()


async def test_a_lock_missing_once_keeps_its_offline_gateway_cause(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    await set_gateway_online(hub, cloud, False)
    assert causes(hub)[1] == GATEWAY_OFFLINE
    kept = cloud.locks.pop(1)
    await apply_listing(hub)
    cloud.locks[1] = kept
    await apply_listing(hub)
    assert causes(hub).get(1) == GATEWAY_OFFLINE and not hub.accessories[1].available
    await hub.stop()


async def test_a_restart_shows_fresh_cached_states_instead_of_polling(tmp_path: Path) -> None:
    cloud = FakeCloud(3)
    cloud.states[2] = OpenState.UNLOCKED
    hub = await started_hub(tmp_path, cloud)
    await hub.stop()
    assert cloud.count("query") == 3

    # lock 3's state is older than a quick restart; lock 2 is unlocked and locks itself:
    # both are asked
    cached = json.loads((tmp_path / "locks.json").read_text())
    for item in cached["locks"]:
        if item["lock_id"] == 3:
            item["state_at"] -= lock_hub.RESTORE_MAX_AGE + 60  # still within the poll interval
        if item["lock_id"] == 2:
            item["auto_lock_time"] = 5
    (tmp_path / "locks.json").write_text(json.dumps(cached))

    hub = await started_hub(tmp_path, cloud)
    assert cloud.count("query", 1) == 1  # not asked again: shown from the cache
    assert hub.accessories[1].current_state == SECURED
    assert (cloud.count("query", 2), cloud.count("query", 3)) == (2, 2)
    await hub.stop()


async def test_a_stop_says_which_commands_it_cut_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    cloud.delays["unlock"] = 5.0
    hub.request(1, UNSECURED)  # in flight
    hub.request(2, UNSECURED)  # queued behind it on the same gateway
    await wait_for(lambda: cloud.count("unlock") == 1)
    with caplog.at_level(logging.WARNING):
        await hub.stop()
    assert "Lock 1 (1): unlock cut off by the stop" in caplog.text
    assert "Lock 2 (2): a queued HomeKit command was not sent" in caplog.text


async def test_a_command_for_a_lock_without_gateway_costs_no_call(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    cloud.locks[2] = dataclasses.replace(cloud.locks[2], has_gateway=False)
    cloud.behind[1].remove(2)
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    hub.start()
    await wait_for(lambda: causes(hub).get(2) == NO_GATEWAY)
    accessory = hub.accessories[2]
    write_target(hub, 2, UNSECURED)
    await asyncio.sleep(0.05)
    assert cloud.count("unlock") == 0
    assert accessory.target_state == SECURED  # flipped back at once
    await hub.stop()


async def test_a_command_that_cannot_reach_the_cloud_probes_it_at_once(tmp_path: Path) -> None:
    cloud = FakeCloud(3)
    hub = await started_hub(tmp_path, cloud)
    lists, queries = cloud.count("list_locks"), cloud.count("query")
    cloud.fail["unlock"] = cloud.fail["list_locks"] = TransportError("no network")
    hub.request(1, UNSECURED)
    await wait_for(lambda: not hub.cloud_up)  # within the probe, not at the next sweep
    assert cloud.count("list_locks") >= lists + cloud_health.CLOUD_LOST_AFTER
    assert not any(a.available for a in hub.accessories.values())
    await wait_for(lambda: not hub.record(1).mailbox.has_command)  # its retries are over
    cloud.fail.clear()
    await wait_for(lambda: hub.cloud_up)  # the reconnect: the cloud answers again
    assert hub.cloud_up and all(a.available for a in hub.accessories.values())
    await wait_for(lambda: cloud.count("query") == queries + 3)  # every lock asked again
    await hub.stop()


async def test_a_probe_that_gets_an_answer_changes_nothing(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    lists = cloud.count("list_locks")
    cloud.fail["unlock"] = TransportError("the answer was lost")
    hub.request(1, UNSECURED)
    await wait_for(lambda: cloud.count("list_locks") == lists + 1)
    await wait_for(lambda: hub.health.state is Health.UP)
    assert hub.cloud_up and all(a.available for a in hub.accessories.values())
    hub.request(2, UNSECURED)  # a second failure right after: no second probe yet
    await wait_for(lambda: cloud.count("unlock", 2) >= 1
                   and not hub.record(2).mailbox.has_command)
    await asyncio.sleep(0.05)
    assert cloud.count("list_locks") == lists + 1
    await hub.stop()


async def test_the_api_limit_pauses_background_calls_but_not_commands(tmp_path: Path) -> None:
    cloud = FakeCloud(2)
    hub = await started_hub(tmp_path, cloud)
    cloud.fail["query"] = error_for(30006)
    assert await hub.poll(1)
    assert hub.health.state is Health.QUOTA_PAUSED and hub.cloud_up  # it answered
    del cloud.fail["query"]
    calls = len(cloud.calls)
    await hub.poll(2)
    await hub.scheduler.sweep()
    assert len(cloud.calls) == calls  # polls and sweeps rest
    hub.request(1, UNSECURED)  # a person at the door still gets the command
    await wait_for(lambda: hub.accessories[1].current_state == UNSECURED)
    assert all(a.available for a in hub.accessories.values())
    await hub.stop()


async def test_an_older_cache_publishes_and_the_list_adds_the_services(tmp_path: Path) -> None:
    """locks.json from before featureValue was kept: a start during an outage publishes the
    lock as before; once the list answers, its door sensor is added under the same AID
    and the lock's own IIDs stay."""
    cloud = FakeCloud(1)
    cloud.locks[1] = dataclasses.replace(cloud.locks[1], feature_value=format(1 << 13, "X"))
    old = {"lock_id": 1, "alias": "Lock 1", "mac": "AA:00:01", "detailed": True}
    (tmp_path / "locks.json").write_text(json.dumps({"locks": [old]}))
    cloud.fail["list_locks"] = TransportError("no network")
    hub = make_hub(tmp_path, cloud)
    await hub.load()
    before = hub.accessories[1]
    iids = {(s.display_name, c.display_name): before.iid_manager.get_iid(c)
            for s in before.services for c in s.characteristics}
    assert hub.record(1).services.door_sensor is None
    del cloud.fail["list_locks"]
    await apply_listing(hub)
    after = hub.accessories[1]
    assert after.aid == before.aid and hub.record(1).services.door_sensor is not None
    kept = {(s.display_name, c.display_name): after.iid_manager.get_iid(c)
            for s in after.services for c in s.characteristics
            if (s.display_name, c.display_name) in iids}
    assert kept == iids
    saved = json.loads((tmp_path / "locks.json").read_text())["locks"][0]
    assert saved["feature_value"] == "2000"  # the next start publishes the same layout
    await hub.stop()
