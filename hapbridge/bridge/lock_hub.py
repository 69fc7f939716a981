"""The glue between the TTLock cloud and the HomeKit accessories.

The hub owns the cloud client, the lock -> gateway map, the accessories, the per-gateway
queues, the pollers and the auto-lock timers. HomeKit reads never reach it (accessories
answer from memory); writes become queued commands. Every failure is logged with the lock,
what failed and what to do, and never takes the bridge down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine, Hashable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyhap.accessory import Bridge

from accessories.ttlock_lock import SECURED, UNKNOWN, UNSECURED, TTLockLock
from hapbridge.bridge.command_queue import CommandQueues, Priority
from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_cache import KnownLock, load_cached_locks, save_cached_locks
from hapbridge.bridge.poll_plan import PollPlan, make_plan
from hapbridge.config import PlatformConfig
from hapbridge.storage import Storage
from hapbridge.ttlock.client import TTLockClient
from hapbridge.ttlock.errors import (
    BusyError,
    ConfigurationError,
    CredentialsError,
    QuotaError,
    ServerError,
    TransportError,
    TTLockError,
    UnreachableError,
)
from hapbridge.ttlock.models import Gateway, GatewayLock, Lock, OpenState

_LOGGER = logging.getLogger(__name__)

MAX_LOCKS = 149  # a bridge holds 150 accessories, itself included
STARTUP_TIMEOUT = 15.0  # seconds to wait for the cloud before publishing cached locks
RECONNECT_FIRST = 5.0
RECONNECT_MAX = 300.0
QUOTA_PAUSE = 3600.0  # after "API limit reached", polls rest this long
MAP_WAIT = 10.0  # a command waits this long for the gateway map at startup
DETAIL_CONCURRENCY = 4

OPEN_STATE_TO_HOMEKIT = {
    OpenState.LOCKED: SECURED,
    OpenState.UNLOCKED: UNSECURED,
    OpenState.UNKNOWN: UNKNOWN,  # never Jammed: the lock just did not say
}
FATAL_ERRORS = (CredentialsError, ConfigurationError)

QueueKey = Hashable


def _verb(target: int) -> str:
    return "unlock" if target == UNSECURED else "lock"


def _advice(err: TTLockError) -> str:
    """What the user can do, beyond the error's own message."""
    if isinstance(err, UnreachableError):
        return "HomeKit shows it as No Response until it answers again"
    if isinstance(err, BusyError):
        return "the gateway stayed busy through every retry; try again in a moment"
    if isinstance(err, TransportError | ServerError):
        return "the TTLock cloud did not answer; check the internet connection and try again"
    return "HomeKit shows the lock's last known state again"


class LockHub:
    """Publishes the account's locks and keeps their HomeKit state true on a call budget."""

    def __init__(
        self,
        *,
        client: TTLockClient,
        storage: Storage,
        identity: Identity,
        platform: PlatformConfig,
        driver: Any,
        bridge: Bridge,
        startup_timeout: float = STARTUP_TIMEOUT,
        reconnect_delays: tuple[float, float] = (RECONNECT_FIRST, RECONNECT_MAX),
        max_locks: int = MAX_LOCKS,
    ) -> None:
        self.client = client
        self.storage = storage
        self.identity = identity
        self.platform = platform
        self.driver = driver
        self.bridge = bridge
        self.startup_timeout = startup_timeout
        self.reconnect_delays = reconnect_delays
        self.max_locks = max_locks
        self.locks: dict[int, KnownLock] = {}  # published locks
        self.accessories: dict[int, TTLockLock] = {}
        self.queues = CommandQueues()
        self.plan: PollPlan = make_plan(0, platform.api_budget_per_month)
        self.cloud_up = False
        self.gateways: dict[int, Gateway] = {}
        self._routes: dict[int, QueueKey] = {}  # lockId -> queue key
        self._unreachable: set[int] = set()
        self._left_out: tuple[int, ...] = ()
        self._auto_lock: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._map_ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._quiet_until = 0.0
        self._driver_started = False
        self._plan_logged = False

    # -- startup ----------------------------------------------------------------------

    async def load(self) -> None:
        """Before the driver starts: publish the cloud's locks, or the cached ones unavailable.

        Costs one login (if no token is stored) and one ``lock/list`` page per 1,000 locks,
        whatever the number of locks: details, gateways and states follow in the background.
        """
        try:
            locks = await asyncio.wait_for(self.client.list_locks(), self.startup_timeout)
        except FATAL_ERRORS:
            raise
        except (TTLockError, TimeoutError) as err:
            cached = load_cached_locks(self.storage)
            _LOGGER.warning(
                "the TTLock cloud is not answering (%s): publishing %d known locks as "
                "unavailable and retrying in the background",
                err or "timeout",
                len(cached),
            )
            self._publish(cached)
            return
        self.cloud_up = True
        self._connected.set()
        self._apply_list(locks)

    def start(self) -> None:
        """After the driver started: reconnect if needed, then map, details, polls."""
        self._driver_started = True
        self._spawn(self._background(), "hub")

    async def stop(self) -> None:
        for handle in self._auto_lock.values():
            handle.cancel()
        self._auto_lock.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queues.close()
        with contextlib.suppress(Exception):
            save_cached_locks(self.storage, list(self.locks.values()))

    async def _background(self) -> None:
        if not self.cloud_up:
            await self._reconnect()
        await self.refresh_gateways()
        self._spawn(self._details_loop(), "details")
        for lock_id in list(self.locks):
            self.poll(lock_id)
        self._spawn(self._list_loop(), "lock-list")
        self._spawn(self._state_loop(), "state-poll")

    async def _reconnect(self) -> None:
        delay, ceiling = self.reconnect_delays
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                locks = await self.client.list_locks()
            except TTLockError as err:
                level = logging.ERROR if isinstance(err, FATAL_ERRORS) else logging.INFO
                _LOGGER.log(level, "TTLock cloud still unavailable (%s); next try in %.0fs",
                            err, min(delay * 2, ceiling))
                delay = min(delay * 2, ceiling)
                continue
            _LOGGER.info("the TTLock cloud answers again: locks are live")
            self.cloud_up = True
            self._connected.set()
            self._apply_list(locks)
            return

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"hapbridge-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("background task %s stopped", task.get_name(), exc_info=err)

    # -- publishing -------------------------------------------------------------------

    def _excluded(self, lock: Lock) -> bool:
        wanted = {entry.casefold() for entry in self.platform.exclude}
        return str(lock.lock_id) in wanted or lock.alias.casefold() in wanted

    def _apply_list(self, listed: Iterable[Lock]) -> None:
        """Reconcile the published accessories with a fresh ``lock/list``."""
        known = [
            KnownLock.from_lock(lock, self.locks.get(lock.lock_id))
            for lock in listed
            if not self._excluded(lock)
        ]
        self._publish(known)
        self.refresh_plan()
        for lock in self.locks.values():
            self.accessories[lock.lock_id].set_battery(lock.battery)
            self._update_available(lock.lock_id)
        save_cached_locks(self.storage, list(self.locks.values()))

    def _choose(self, locks: list[KnownLock]) -> list[KnownLock]:
        """At most ``max_locks``: published ones first, then known AIDs, then list order."""
        if len(locks) <= self.max_locks:
            return locks
        aids = self.identity.aids
        ranked = sorted(
            enumerate(locks),
            key=lambda item: (
                item[1].lock_id not in self.accessories,
                item[1].lock_id not in aids,
                aids.get(item[1].lock_id, 0),
                item[0],
            ),
        )
        chosen = {lock.lock_id for _i, lock in ranked[: self.max_locks]}
        left_out = tuple(lock.lock_id for lock in locks if lock.lock_id not in chosen)
        if left_out != self._left_out:
            names = ", ".join(f"{lock.alias} ({lock.lock_id})" for lock in locks
                              if lock.lock_id in set(left_out))
            _LOGGER.warning(
                "%d locks on this account, but a HomeKit bridge holds %d: NOT published: %s. "
                "List locks you do not need in \"exclude\" to choose which are left out.",
                len(locks), self.max_locks, names,
            )
        self._left_out = left_out
        return [lock for lock in locks if lock.lock_id in chosen]

    def _publish(self, locks: list[KnownLock]) -> None:
        chosen = self._choose(locks)
        wanted = {lock.lock_id: lock for lock in chosen}
        removed = [lid for lid in self.accessories if lid not in wanted]
        added = [lock for lock in chosen if lock.lock_id not in self.accessories]
        aids = self.identity.assign([lock.lock_id for lock in added])
        for lock_id in removed:
            self._remove(lock_id)
        for lock in added:
            self._add(lock, aids[lock.lock_id])
        fresh = {lock.lock_id for lock in added}
        for lock in chosen:
            self.locks[lock.lock_id] = lock
            if lock.lock_id not in fresh:
                self.accessories[lock.lock_id].set_info(name=lock.alias)
        if (added or removed) and self._driver_started:
            _LOGGER.info("locks changed: %d added, %d removed", len(added), len(removed))
            self.driver.config_changed()
            if added:
                self._spawn(self._welcome([lock.lock_id for lock in added]), "new-locks")

    async def _welcome(self, lock_ids: list[int]) -> None:
        """New locks at runtime: route them (so polls queue right), then details and state."""
        if any(lock_id not in self._routes for lock_id in lock_ids):
            await self.refresh_gateways()
        for lock_id in lock_ids:
            self.poll(lock_id)
        await self.refresh_details(lock_ids)

    def _add(self, lock: KnownLock, aid: int) -> None:
        accessory = TTLockLock(
            self.driver,
            lock_id=lock.lock_id,
            name=lock.alias,
            aid=aid,
            serial=lock.mac,
            model=lock.model,
            firmware=lock.firmware,
            on_target=self.request,
            low_battery_threshold=self.platform.low_battery_threshold,
        )
        accessory.set_battery(lock.battery)
        self.bridge.add_accessory(accessory)
        self.accessories[lock.lock_id] = accessory
        self.locks[lock.lock_id] = lock
        self._update_available(lock.lock_id)

    def _remove(self, lock_id: int) -> None:
        accessory = self.accessories.pop(lock_id)
        self.bridge.accessories.pop(accessory.aid, None)
        self.locks.pop(lock_id, None)
        self._unreachable.discard(lock_id)
        if (handle := self._auto_lock.pop(lock_id, None)) is not None:
            handle.cancel()
        _LOGGER.info("%s (%s) is no longer on the account: removed from HomeKit",
                     accessory.display_name, lock_id)

    def refresh_plan(self) -> PollPlan:
        now = datetime.now(tz=UTC)
        days = 30  # the plan's month; the usage counter resets on the calendar month
        month_left = max(0.0, 1.0 - (now.day - 1 + now.hour / 24) / days)
        plan = make_plan(
            len(self.locks),
            self.platform.api_budget_per_month,
            gateways=len(self.gateways),
            used=self.client.usage.total,
            month_left=month_left,
        )
        changed = (plan.locks, plan.state_interval) != (self.plan.locks, self.plan.state_interval)
        if self._map_ready.is_set() and (changed or not self._plan_logged):
            self._plan_logged = True  # logged once the gateway count is known, then on changes
            log = _LOGGER.warning if plan.over_budget else _LOGGER.info
            log("poll plan: %s", plan.describe())
        self.plan = plan
        return plan

    # -- availability -----------------------------------------------------------------

    def _update_available(self, lock_id: int) -> None:
        if (accessory := self.accessories.get(lock_id)) is not None:
            accessory.set_available(self.cloud_up and lock_id not in self._unreachable)

    def _mark_reachable(self, lock_id: int) -> None:
        if lock_id in self._unreachable:
            self._unreachable.discard(lock_id)
            _LOGGER.info("%s answers again", self._name(lock_id))
        self._update_available(lock_id)

    def _mark_unreachable(self, lock_id: int, err: TTLockError) -> None:
        if lock_id not in self._unreachable:
            _LOGGER.warning("%s is unreachable: %s; HomeKit shows it as No Response until it "
                            "answers again", self._name(lock_id), err)
        self._unreachable.add(lock_id)
        self._update_available(lock_id)

    def _name(self, lock_id: int) -> str:
        lock = self.locks.get(lock_id)
        return f"{lock.alias} ({lock_id})" if lock else str(lock_id)

    # -- gateway map ------------------------------------------------------------------

    async def refresh_gateways(self) -> None:
        """Lock -> gateway from the gateway list and each gateway's locks (1 + G calls)."""
        try:
            gateways = await self.client.list_gateways()
            seen = await asyncio.gather(*(self.client.gateway_locks(g.gateway_id)
                                          for g in gateways))
        except TTLockError as err:
            _LOGGER.warning(
                "cannot read the gateway list (%s): commands run one at a time per lock "
                "until it works", err,
            )
            self._map_ready.set()
            self.refresh_plan()
            return
        self.gateways = {g.gateway_id: g for g in gateways}
        best: dict[int, tuple[bool, int, int]] = {}  # lockId -> (online, rssi, gatewayId)
        for gateway, reached in zip(gateways, seen, strict=True):
            for item in reached:
                score = self._score(gateway, item)
                if item.lock_id not in best or score > best[item.lock_id]:
                    best[item.lock_id] = score
        routes: dict[int, QueueKey] = {}
        for lock_id, lock in self.locks.items():
            if lock_id in best:
                online, _rssi, gateway_id = best[lock_id]
                routes[lock_id] = ("gateway", gateway_id)
                if not online:
                    self._mark_unreachable(lock_id, UnreachableError(
                        f"its gateway {self.gateways[gateway_id].name or gateway_id} is offline"
                        ": check its power and Wi-Fi"))
            elif lock.wifi:
                routes[lock_id] = ("wifi", lock_id)
            else:
                routes[lock_id] = ("lock", lock_id)
                if not lock.has_gateway:
                    self._mark_unreachable(lock_id, UnreachableError(
                        "it is not connected to any gateway: add a gateway near it in the "
                        "TTLock app"))
        self._routes = routes
        self._map_ready.set()
        self.refresh_plan()
        _LOGGER.info("%d gateways; %d locks behind a gateway, %d on their own",
                     len(gateways), sum(1 for k in routes.values() if k[0] == "gateway"),
                     sum(1 for k in routes.values() if k[0] != "gateway"))

    @staticmethod
    def _score(gateway: Gateway, item: GatewayLock) -> tuple[bool, int, int]:
        return (gateway.online, item.rssi if item.rssi is not None else -200, gateway.gateway_id)

    def route(self, lock_id: int) -> QueueKey:
        return self._routes.get(lock_id, ("lock", lock_id))

    # -- commands ---------------------------------------------------------------------

    def request(self, lock_id: int, target: int) -> None:
        """HomeKit asked for ``target``: queue the cloud call and return at once."""
        if lock_id not in self.accessories:
            return
        if (handle := self._auto_lock.pop(lock_id, None)) is not None:
            handle.cancel()
        _LOGGER.info("%s: %s requested from HomeKit", self._name(lock_id), _verb(target))
        if self._map_ready.is_set():
            self._submit_command(lock_id, target)
        else:
            self._spawn(self._submit_when_mapped(lock_id, target), f"command-{lock_id}")

    async def _submit_when_mapped(self, lock_id: int, target: int) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._map_ready.wait(), MAP_WAIT)
        self._submit_command(lock_id, target)

    def _submit_command(self, lock_id: int, target: int) -> asyncio.Future[bool]:
        job = partial(self._run_command, lock_id, target)
        return self.queues.submit(self.route(lock_id), lock_id, job, Priority.COMMAND)

    async def _run_command(self, lock_id: int, target: int) -> None:
        accessory = self.accessories.get(lock_id)
        if accessory is None:
            return
        send = self.client.unlock if target == UNSECURED else self.client.lock
        try:
            await send(lock_id)
        except TTLockError as err:
            self._command_failed(lock_id, target, err)
            return
        except Exception:
            _LOGGER.exception("%s: %s failed unexpectedly", self._name(lock_id), _verb(target))
            self._revert(lock_id)
            return
        self._mark_reachable(lock_id)
        newer = self.queues.has_queued_command(self.route(lock_id), lock_id)
        accessory.show_state(target, settle_target=not newer)
        _LOGGER.info("%s: %sed", self._name(lock_id), _verb(target))
        if target == UNSECURED:
            self._arm_auto_lock(lock_id)

    def _command_failed(self, lock_id: int, target: int, err: TTLockError) -> None:
        if isinstance(err, UnreachableError):
            self._mark_unreachable(lock_id, err)
        if isinstance(err, QuotaError):
            self._quiet_until = time.monotonic() + QUOTA_PAUSE
        _LOGGER.error("%s: %s failed: %s (%s)", self._name(lock_id), _verb(target), err,
                      _advice(err))
        self._revert(lock_id)

    def _revert(self, lock_id: int) -> None:
        if self.queues.has_queued_command(self.route(lock_id), lock_id):
            return  # a newer wish is on its way: keep showing it
        if (accessory := self.accessories.get(lock_id)) is not None:
            accessory.revert_target()

    def _arm_auto_lock(self, lock_id: int) -> None:
        lock = self.locks.get(lock_id)
        if lock is None or not lock.auto_lock_seconds:
            return
        loop = asyncio.get_running_loop()
        self._auto_lock[lock_id] = loop.call_later(
            lock.auto_lock_seconds, self._auto_locked, lock_id
        )

    def _auto_locked(self, lock_id: int) -> None:
        """The lock secured itself (it does not report that): show it."""
        self._auto_lock.pop(lock_id, None)
        if (accessory := self.accessories.get(lock_id)) is not None:
            accessory.show_state(SECURED)
            _LOGGER.info("%s: auto-locked", self._name(lock_id))

    # -- polling ----------------------------------------------------------------------

    def poll(self, lock_id: int) -> asyncio.Future[bool]:
        """Queue a state query behind the lock's gateway (commands go first)."""
        job = partial(self._run_poll, lock_id)
        return self.queues.submit(self.route(lock_id), lock_id, job, Priority.POLL)

    async def _run_poll(self, lock_id: int) -> None:
        accessory = self.accessories.get(lock_id)
        if accessory is None or time.monotonic() < self._quiet_until:
            return
        try:
            state = await self.client.query_open_state(lock_id)
        except UnreachableError as err:
            self._mark_unreachable(lock_id, err)
            return
        except QuotaError as err:
            self._quiet_until = time.monotonic() + QUOTA_PAUSE
            _LOGGER.error("polling paused for an hour: %s", err)
            return
        except TTLockError as err:
            _LOGGER.info("%s: state query failed (%s); trying again at the next poll",
                         self._name(lock_id), err)
            return
        self._mark_reachable(lock_id)
        current = OPEN_STATE_TO_HOMEKIT[state.state]
        if current == UNSECURED and lock_id in self._auto_lock:
            return  # unlocked on our command; the auto-lock timer will show it secured
        busy = self.queues.has_command(self.route(lock_id), lock_id)
        accessory.show_state(current, settle_target=not busy)

    async def _state_loop(self) -> None:
        """Round-robin state queries, spread evenly over the plan's interval."""
        index = 0
        while True:
            interval = self.plan.state_interval
            lock_ids = sorted(self.locks)
            if not interval or not lock_ids:
                await asyncio.sleep(60)
                continue
            await asyncio.sleep(interval / len(lock_ids))
            index %= len(lock_ids)
            if time.monotonic() >= self._quiet_until:
                self.poll(lock_ids[index])
            index += 1

    async def _list_loop(self) -> None:
        """One ``lock/list`` sweep per interval: battery, names, added and removed locks."""
        while True:
            await asyncio.sleep(self.plan.list_interval)
            if time.monotonic() < self._quiet_until:
                continue
            try:
                locks = await self.client.list_locks()
            except TTLockError as err:
                if isinstance(err, QuotaError):
                    self._quiet_until = time.monotonic() + QUOTA_PAUSE
                _LOGGER.warning("lock list refresh failed (%s); keeping the last known list",
                                err)
                continue
            self._apply_list(locks)

    async def _details_loop(self) -> None:
        """Model, firmware and auto-lock time: once at start, then as the plan allows."""
        while True:
            await self.refresh_details()
            await asyncio.sleep(self.plan.detail_interval)
            await self.refresh_gateways()

    async def refresh_details(self, lock_ids: Iterable[int] | None = None) -> None:
        limit = asyncio.Semaphore(DETAIL_CONCURRENCY)

        async def one(lock_id: int) -> None:
            async with limit:
                try:
                    detail = await self.client.lock_detail(lock_id)
                except TTLockError as err:
                    _LOGGER.info("%s: details unavailable (%s)", self._name(lock_id), err)
                    return
            lock = self.locks.get(lock_id)
            accessory = self.accessories.get(lock_id)
            if lock is None or accessory is None:
                return
            self.locks[lock_id] = lock = lock.with_detail(detail)
            accessory.set_info(model=lock.model, firmware=lock.firmware)

        await asyncio.gather(*(one(lid) for lid in list(lock_ids or self.locks)))
        save_cached_locks(self.storage, list(self.locks.values()))

