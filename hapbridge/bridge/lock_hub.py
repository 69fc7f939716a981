"""The glue between the TTLock cloud and the HomeKit accessories.

The hub owns the cloud client, the lock -> gateway map, the accessories, the per-gateway
queues, the pollers and the auto-lock timers. HomeKit reads never reach it (accessories
answer from memory); writes become queued commands. Every failure is logged with the lock,
what failed and what to do, and never takes the bridge down: each background loop survives
any exception (one log line, then a backoff), only cancellation ends it.

Ordering rules that keep the shown state true:
- a lock's work stays in the queue that holds it while its route changes (``queue_key``);
- every command completion and auto-lock bumps the lock's generation, and a state answer
  whose query started in an older generation is dropped (it may predate the change);
- an auto-lock timer belongs to the unlock that armed it: arming cancels the previous one.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyhap.accessory import Bridge

from accessories.ttlock_lock import SECURED, UNKNOWN, UNSECURED, TTLockLock
from hapbridge.bridge.command_queue import CommandQueues, Priority
from hapbridge.bridge.gateway_map import QueueKey, Reach
from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_cache import KnownLock, load_cached_locks, save_cached_locks
from hapbridge.bridge.log_text import advice, describe, plural, verb
from hapbridge.bridge.poll_plan import PollPlan, make_plan
from hapbridge.config import PlatformConfig
from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.client import TTLockClient
from hapbridge.ttlock.errors import (
    ConfigurationError,
    CredentialsError,
    QuotaError,
    ServerError,
    TransportError,
    TTLockError,
    UnreachableError,
)
from hapbridge.ttlock.models import Gateway, Lock, OpenState

_LOGGER = logging.getLogger(__name__)

MAX_LOCKS = 149  # a bridge holds 150 accessories, itself included
STARTUP_TIMEOUT = 15.0  # seconds to wait for the cloud before publishing cached locks
RECONNECT_FIRST = 5.0
PLAN_CHECK = 60.0  # with state polling off, how often the loop looks at the plan again
RECONNECT_MAX = 300.0
QUOTA_PAUSE = 3600.0  # after "API limit reached", polls rest this long
MAP_WAIT = 10.0  # a command waits this long for the gateway map at startup
DETAIL_CONCURRENCY = 4
# A lock left out of this many lock lists in a row is removed from HomeKit (with its room
# and scenes); before that it shows No Response. One odd answer (an empty list in a cloud
# hiccup) must not wipe a Home.
REMOVE_AFTER_SWEEPS = 2
# Background retries of an incomplete gateway map (backoff from the reconnect delay); then
# the daily refresh tries again. Bounded: each try costs 1 + gateways calls.
MAP_RETRIES = 6
# Failed lock-list sweeps in a row (cloud unreachable) before every lock shows No Response.
CLOUD_LOST_AFTER = 2
# A command or poll that cannot reach the cloud starts a quick lock-list probe (at most this
# often), so an outage shows as No Response within seconds, not at the next sweep.
PROBE_MIN_INTERVAL = 30.0
# A cached state younger than this (and than the poll interval) is shown at start instead of
# a query: enough for a crash loop or a quick restart, too short to miss what happened
# while the bridge was down for longer.
RESTORE_MAX_AGE = 120.0

OPEN_STATE_TO_HOMEKIT = {
    OpenState.LOCKED: SECURED,
    OpenState.UNLOCKED: UNSECURED,
    OpenState.UNKNOWN: UNKNOWN,  # never Jammed: the lock just did not say
}
FATAL_ERRORS = (CredentialsError, ConfigurationError)
# Why a lock is unreachable: only the first two clear when the gateway map says so.
GATEWAY_OFFLINE = "gateway offline"
NO_GATEWAY = "no gateway"
LOCK_SILENT = "lock silent"
NOT_LISTED = "not listed"
# Only the gateway map decides NO_GATEWAY (such locks leave the poll rotation): one -2012
# from a lock with a gateway is a passing Bluetooth loss, cleared by its next poll.
CAUSE_BY_ERRCODE = {-3002: GATEWAY_OFFLINE}

def _not_run() -> asyncio.Future[bool]:
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    done.set_result(False)
    return done


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
        restore_max_age: float = RESTORE_MAX_AGE,
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
        self.restore_max_age = restore_max_age
        self.locks: dict[int, KnownLock] = {}  # published locks
        self.accessories: dict[int, TTLockLock] = {}
        self.queues = CommandQueues()
        self.plan: PollPlan = make_plan(0, platform.api_budget_per_month)
        self.cloud_up = False
        self.gateways: dict[int, Gateway] = {}
        self._routes: dict[int, QueueKey] = {}  # lockId -> queue key
        self._unreachable: dict[int, str] = {}  # lockId -> cause
        self._left_out: tuple[int, ...] = ()
        self._missing: dict[int, int] = {}  # lockId -> lock lists in a row without it
        self._list_failures = 0
        self._cache_written: list[dict[str, Any]] | None = None
        self._state_seen: dict[int, tuple[int, float]] = {}  # lockId -> (state, unix time)
        self._restored: set[int] = set()  # locks whose cached state was fresh at start
        self._in_flight: dict[int, int] = {}  # lockId -> target being sent to the cloud
        self._map_retry: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._last_probe = -PROBE_MIN_INTERVAL
        self._auto_lock: dict[int, asyncio.TimerHandle] = {}
        self._generation: dict[int, int] = {}  # lockId -> changes of state we caused or saw
        self._pending: dict[int, int] = {}  # lockId -> target, waiting for the gateway map
        self._cached: dict[int, KnownLock] = {}  # the lock cache, until the first list
        self._tasks: set[asyncio.Task[Any]] = set()
        self._map_ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._quiet_until = 0.0
        self._poll_index = 0
        self._last_recheck = time.monotonic()
        self._driver_started = False
        self._plan_logged = False
        self._published = False
        self._stopping = False

    # -- startup ----------------------------------------------------------------------

    async def load(self) -> None:
        """Before the driver starts: publish the cloud's locks, or the cached ones unavailable.

        Costs one login (if no token is stored) and one ``lock/list`` page per 1,000 locks,
        whatever the number of locks: gateways and states follow in the background, and
        details only for locks the cache knows none of.
        """
        cached = load_cached_locks(self.storage)
        self._cached = {lock.lock_id: lock for lock in cached}
        try:
            listing = await asyncio.wait_for(self.client.lock_listing(), self.startup_timeout)
        except FATAL_ERRORS:
            raise
        except (TTLockError, TimeoutError) as err:
            excludes = self.platform.excludes
            known = [lock for lock in cached if not excludes(lock.lock_id, lock.alias)]
            locks = known if cached else self._placeholders()
            _LOGGER.warning(
                "the TTLock cloud is not answering (%s): %s; retrying in the background",
                describe(err) or f"no answer within {self.startup_timeout:.0f}s",
                f"publishing {plural(len(locks), 'known lock')} as unavailable" if locks
                else "no locks known from an earlier start to publish yet",
            )
            self._publish(locks)
            return
        self.cloud_up = True
        self._connected.set()
        self._apply_list(listing.locks, listing.unreadable)
        self._restore_states()
        _LOGGER.info("%d locks published after %d cloud calls; gateway map, details and "
                     "first states follow in the background", len(self.accessories),
                     self.client.usage.session_total)

    def _placeholders(self) -> list[KnownLock]:
        """Without a lock cache, the locks that have AIDs, named by id until the cloud answers.

        Publishing none would make HomeKit drop every room and scene; a lock removed from the
        account meanwhile only shows as No Response until the first lock list.
        """
        aids = self.identity.aids
        lock_ids = [lid for lid in sorted(aids, key=aids.__getitem__)
                    if not self.platform.excludes(lid, "")]
        if lock_ids:
            _LOGGER.warning("no lock cache: publishing the %d locks this bridge published "
                            "before, named by id until the cloud answers", len(lock_ids))
        return [KnownLock(lock_id=lid, alias=f"Lock {lid}") for lid in lock_ids]

    def start(self) -> None:
        """After the driver started: reconnect if needed, then map, details, polls."""
        self._driver_started = True
        self._spawn(self._background(), "hub")

    async def stop(self) -> None:
        """Stop every task, timer and queue of the hub; nothing new starts afterwards.

        The lock cache is saved only when this run published locks: a start that failed
        before (bad credentials, a clock not set yet) knows nothing worth saving.
        """
        self._stopping = True
        self._log_abandoned()
        for handle in self._auto_lock.values():
            handle.cancel()
        self._auto_lock.clear()
        self._pending.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.queues.close()
        if self._published:
            self._save_cache()

    def _log_abandoned(self) -> None:
        """Say which HomeKit wishes a stop cuts off: someone may be waiting at that door."""
        for lock_id in self.accessories:
            if (target := self._in_flight.get(lock_id)) is not None:
                _LOGGER.warning("%s: %s cut off by the stop while the cloud was carrying it; "
                                "it may or may not have happened (hapbridge locks --state "
                                "tells)", self._name(lock_id), verb(target))
            elif self._has_queued_command(lock_id):
                _LOGGER.warning("%s: a queued HomeKit command was not sent (the bridge "
                                "stopped)", self._name(lock_id))

    async def _background(self) -> None:
        if not self.cloud_up:
            await self._reconnect()
        await self._map_gateways()
        self._first_polls()
        missing = [lid for lid, lock in self.locks.items() if not lock.detailed]
        if missing:
            self._spawn(self.refresh_details(missing), "details")
        self._spawn(self._every("lock list refresh", lambda: self.plan.list_interval,
                                self._refresh_list), "lock-list")
        self._spawn(self._every("gateway map and details refresh",
                                lambda: self.plan.detail_interval, self._refresh_daily),
                    "daily")
        self._spawn(self._every("state poll", self._poll_wait, self._poll_next), "state-poll")

    async def _reconnect(self) -> None:
        delay, ceiling = self.reconnect_delays
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                listing = await self.client.lock_listing()
                self.cloud_up = True
                self._apply_list(listing.locks, listing.unreadable)
            except Exception as err:
                quiet = isinstance(err, TTLockError) and not isinstance(err, FATAL_ERRORS)
                _LOGGER.log(logging.INFO if quiet else logging.ERROR,
                            "TTLock cloud still unavailable (%s); next try in %.0fs",
                            describe(err), min(delay * 2, ceiling))
                delay = min(delay * 2, ceiling)
                continue
            break
        _LOGGER.info("the TTLock cloud answers again: locks are live")
        self._connected.set()

    async def _every(
        self, what: str, interval: Callable[[], float], step: Callable[[], Awaitable[None]]
    ) -> None:
        """Run ``step`` after every ``interval()`` seconds until cancelled.

        A failure is one log line, never the end of the loop. The next try comes sooner (the
        reconnect delay, doubling up to the interval): a passing problem heals quickly and a
        lasting one costs no more calls than the plan.
        """
        first, _ceiling = self.reconnect_delays
        failures = 0
        while True:
            wait = interval()
            if failures:
                wait = min(wait, first * 2 ** (failures - 1))
            await asyncio.sleep(wait)
            try:
                await step()
            except Exception as err:
                failures += 1
                _LOGGER.error("%s failed (%s); trying again in %.0fs", what, describe(err),
                              min(interval(), first * 2 ** (failures - 1)))
            else:
                failures = 0

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        if self._stopping:  # nothing may outlive stop()
            coro.close()
            return None
        task = asyncio.create_task(coro, name=f"hapbridge-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("background task %s stopped", task.get_name(), exc_info=err)

    # -- publishing -------------------------------------------------------------------

    def _apply_list(self, listed: Iterable[Lock], unreadable: Iterable[int] = ()) -> None:
        """Reconcile the published accessories with a fresh ``lock/list``.

        A published lock whose item was unreadable stays as it was: dropping it would make
        HomeKit forget its room and scenes over one bad answer.
        """
        listed = list(listed)
        known = [
            KnownLock.from_lock(lock, self.locks.get(lock.lock_id)
                                or self._cached.get(lock.lock_id))
            for lock in listed
            if not self.platform.excludes(lock.lock_id, lock.alias)
        ]
        answered = {lock.lock_id for lock in listed} | set(unreadable)
        known += [self.locks[lid] for lid in unreadable if lid in self.locks]
        known += self._not_yet_removed(answered)
        self._cached = {}
        self._publish(known)
        self.refresh_plan()
        for lock in self.locks.values():
            accessory = self.accessories[lock.lock_id]
            was_low = accessory.battery_low
            accessory.set_battery(lock.battery)
            if accessory.battery_low and not was_low:
                _LOGGER.warning("%s: battery low (%d%%, below lowBatteryThreshold %d%%): "
                                "replace the batteries soon", self._name(lock.lock_id),
                                lock.battery or 0, self.platform.low_battery_threshold)
            self._update_available(lock.lock_id)
        self._save_cache()

    def _restore_states(self) -> None:
        """Show each lock's cached state while it is younger than ``restore_max_age`` (and
        the poll interval), and leave it out of the start-up polls: a crash loop costs no
        state queries. An unlocked lock that locks itself is polled: its cached state may
        have changed by itself."""
        window = min(self.plan.state_interval or 0.0, self.restore_max_age)
        now = time.time()
        for lock_id, lock in self.locks.items():
            fresh = lock.state is not None and 0 <= now - lock.state_at < window
            if not fresh or (lock.state == UNSECURED and lock.auto_lock_seconds):
                continue
            if lock.state in (SECURED, UNSECURED):
                self.accessories[lock_id].show_state(lock.state)
                self._state_seen[lock_id] = (lock.state, lock.state_at)
                self._restored.add(lock_id)

    def _seen(self, lock_id: int, state: int) -> None:
        """The cloud just told (or a command just made) ``state``: kept for a restart."""
        self._state_seen[lock_id] = (state, time.time())

    def _not_yet_removed(self, answered: set[int]) -> list[KnownLock]:
        """Published (or, at the first list, cached) locks this list left out, until they
        have been missing REMOVE_AFTER_SWEEPS times: meanwhile they show No Response."""
        for lock_id in answered:
            self._missing.pop(lock_id, None)
            if self._unreachable.get(lock_id) == NOT_LISTED:
                del self._unreachable[lock_id]
        kept = []
        for lock_id, lock in (self.locks or self._cached).items():
            if lock_id in answered or self.platform.excludes(lock_id, lock.alias):
                continue
            misses = self._missing.get(lock_id, 0) + 1
            if misses >= REMOVE_AFTER_SWEEPS:
                self._missing.pop(lock_id, None)
                continue
            if misses == 1:
                _LOGGER.warning("%s is missing from the TTLock lock list: shown as No Response,"
                                " removed from HomeKit if the next list lacks it too",
                                f"{lock.alias} ({lock_id})")
            self._missing[lock_id] = misses
            self._unreachable.setdefault(lock_id, NOT_LISTED)  # keep a cause it already had
            kept.append(lock)
        return kept

    def _save_cache(self) -> None:
        """Write ``locks.json`` when its content changed (a sweep usually changes nothing)."""
        locks = [
            dataclasses.replace(lock, state=seen[0], state_at=seen[1])
            if (seen := self._state_seen.get(lock.lock_id)) else lock
            for lock in self.locks.values()
        ]
        content = [lock.to_json() for lock in locks]
        if content == self._cache_written:
            return
        try:
            save_cached_locks(self.storage, locks)
        except StorageError as err:
            _LOGGER.warning("cannot save the lock cache (%s); going on without", err)
            return
        self._cache_written = content

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
        wanted = {lock.lock_id for lock in chosen}
        removed = [lid for lid in self.accessories if lid not in wanted]
        new = [lock for lock in chosen if lock.lock_id not in self.accessories]
        aids = self._assign_aids(new)
        for lock_id in removed:
            self._remove(lock_id)
        added = {lock.lock_id for lock in new
                 if lock.lock_id in aids and self._add(lock, aids[lock.lock_id])}
        for lock in chosen:
            if lock.lock_id in self.accessories:
                self.locks[lock.lock_id] = lock
                if lock.lock_id not in added:
                    self.accessories[lock.lock_id].set_info(name=lock.alias)
        self._published = True
        if (added or removed) and self._driver_started:
            _LOGGER.info("locks changed: %d added, %d removed", len(added), len(removed))
            try:
                self.driver.config_changed()  # new layout: persist it, tell the controllers
            except Exception as err:
                _LOGGER.error("cannot announce the changed locks to HomeKit (%s); they show "
                              "after the next change or restart", describe(err))
            if added:
                self._spawn(self._welcome(sorted(added)), "new-locks")

    def _assign_aids(self, new: list[KnownLock]) -> dict[int, int]:
        """AIDs for new locks; none when they cannot be saved (retried at the next list)."""
        if not new:
            return {}
        try:
            return self.identity.assign([lock.lock_id for lock in new])
        except StorageError as err:
            _LOGGER.error("%d new locks are not published yet: their HomeKit IDs cannot be "
                          "saved (%s); trying again at the next lock list", len(new), err)
            return {}

    async def _welcome(self, lock_ids: list[int]) -> None:
        """New locks at runtime: route them (so polls queue right), then details and state."""
        if any(lock_id not in self._routes for lock_id in lock_ids):
            await self._map_gateways()
        for lock_id in lock_ids:
            self.poll(lock_id)
        await self.refresh_details(lock_ids)

    def _add(self, lock: KnownLock, aid: int) -> bool:
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
        try:
            self.bridge.add_accessory(accessory)
        except ValueError as err:  # HAP-python refuses a duplicate AID (a damaged bridge.json)
            _LOGGER.error("cannot publish %s (%s) as HomeKit accessory %d (%s); restore "
                          "bridge.json from a backup", lock.alias, lock.lock_id, aid, err)
            return False
        self.accessories[lock.lock_id] = accessory
        self.locks[lock.lock_id] = lock
        self._update_available(lock.lock_id)
        return True

    def _remove(self, lock_id: int) -> None:
        accessory = self.accessories.pop(lock_id)
        self.bridge.accessories.pop(accessory.aid, None)
        self.locks.pop(lock_id, None)
        self._unreachable.pop(lock_id, None)
        self._pending.pop(lock_id, None)
        self._cancel_auto_lock(lock_id)
        _LOGGER.info("%s (%s) is no longer on the account: removed from HomeKit",
                     accessory.display_name, lock_id)

    def refresh_plan(self) -> PollPlan:
        now = datetime.now(tz=UTC)
        days = calendar.monthrange(now.year, now.month)[1]  # as the usage counter's month
        month_left = max(0.0, 1.0 - (now.day - 1 + now.hour / 24) / days)
        plan = make_plan(
            len(self._pollable()),
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

    def _mark_reachable(self, lock_id: int, causes: tuple[str, ...] | None = None,
                        news: str = "answers again") -> None:
        """Clear No Response (only when it was for one of ``causes``, if given)."""
        cause = self._unreachable.get(lock_id)
        if cause is not None and (causes is None or cause in causes):
            del self._unreachable[lock_id]
            _LOGGER.info("%s %s", self._name(lock_id), news)
        self._update_available(lock_id)

    def _mark_unreachable(self, lock_id: int, err: TTLockError, cause: str | None = None) -> None:
        cause = cause or CAUSE_BY_ERRCODE.get(err.errcode or 0, LOCK_SILENT)
        if lock_id not in self._unreachable:
            until = ("a gateway reaches it (the gateway map is read daily)"
                     if cause == NO_GATEWAY else "it answers again")
            _LOGGER.warning("%s is unreachable: %s; HomeKit shows it as No Response until %s",
                            self._name(lock_id), err, until)
        self._unreachable[lock_id] = cause
        self._update_available(lock_id)

    def _name(self, lock_id: int) -> str:
        lock = self.locks.get(lock_id)
        return f"{lock.alias} ({lock_id})" if lock else str(lock_id)

    # -- gateway map ------------------------------------------------------------------

    async def _map_gateways(self) -> None:
        """The gateway map; when incomplete, keep retrying with backoff in the background:
        without it a scene's commands to one gateway run side by side and meet -3003."""
        if await self.refresh_gateways() or self._map_retry is not None:
            return

        async def retry() -> None:
            delay, ceiling = self.reconnect_delays
            try:
                for _attempt in range(MAP_RETRIES):
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    if await self.refresh_gateways():
                        return
                    delay = min(delay * 2, ceiling)
                _LOGGER.warning("the gateway map is still incomplete after %d tries; the "
                                "daily refresh tries again", MAP_RETRIES)
            finally:
                self._map_retry = None

        self._map_retry = self._spawn(retry(), "gateway-map-retry")

    async def refresh_gateways(self) -> bool:
        """Lock -> gateway from the gateway list and each gateway's locks (1 + G calls);
        False when a try later may complete it (a gateway failed for a passing reason).

        A gateway whose lock list fails leaves its locks on their last route. It also clears
        No Response for locks that had it only because their gateway was offline (or
        missing) and now is online: without state polling nothing else would.
        """
        try:
            gateways = await self.client.list_gateways()
        except Exception as err:
            _LOGGER.warning(
                "cannot read the gateway list (%s): %s until it works", describe(err),
                "locks keep their last gateway" if self._routes
                else "commands run one at a time per lock",
            )
            self._map_ready.set()
            self.refresh_plan()
            return False
        answers = await asyncio.gather(*(self.client.gateway_locks(g.gateway_id)
                                         for g in gateways), return_exceptions=True)
        self.gateways = {g.gateway_id: g for g in gateways}
        reach = Reach.from_answers(gateways, answers)
        routes: dict[int, QueueKey] = {}
        for lock_id, lock in self.locks.items():
            routes[lock_id] = route = reach.route(lock, self._routes.get(lock_id))
            link = reach.best.get(lock_id)
            if link is not None and link.online:
                self._mark_reachable(lock_id, (GATEWAY_OFFLINE, NO_GATEWAY),
                                     "is reachable again: its gateway is online")
            elif link is not None:
                name = self.gateways[link.gateway_id].name or link.gateway_id
                self._mark_unreachable(lock_id, UnreachableError(
                    f"its gateway {name} is offline: check its power and Wi-Fi"),
                    GATEWAY_OFFLINE)
            elif route[0] == "wifi":
                self._mark_reachable(lock_id, (GATEWAY_OFFLINE, NO_GATEWAY))
            elif route[0] == "lock" and not lock.has_gateway:
                self._mark_unreachable(lock_id, UnreachableError(
                    "it is not connected to any gateway: add a gateway near it in the "
                    "TTLock app"), NO_GATEWAY)
        self._routes = routes
        self._map_ready.set()
        self.refresh_plan()
        behind = sum(1 for key in routes.values() if key[0] == "gateway")
        _LOGGER.info("%s; %d locks behind a gateway, %d on their own",
                     plural(len(gateways), "gateway"), behind, len(routes) - behind)
        return not reach.passing

    def route(self, lock_id: int) -> QueueKey:
        return self._routes.get(lock_id, ("lock", lock_id))

    def queue_key(self, lock_id: int) -> QueueKey:
        """The lock's route, unless its earlier work still waits or runs in another queue.

        A lock that moved to another gateway (or got its route only after the gateway map
        arrived) keeps its queue until that queue is done with it: work in two queues would
        let an older command run after a newer one.
        """
        route = self.route(lock_id)
        holder = self.queues.holding(route, lock_id)
        return holder.key if holder is not None else route

    # -- commands ---------------------------------------------------------------------

    def request(self, lock_id: int, target: int) -> None:
        """HomeKit asked for ``target``: queue the cloud call and return at once."""
        if self._stopping or lock_id not in self.accessories:
            return
        self._cancel_auto_lock(lock_id)
        if self._unreachable.get(lock_id) == NO_GATEWAY:
            # The cloud could only answer -2012: no call spent, the tile flips back at once.
            _LOGGER.warning("%s: %s from HomeKit not sent: no gateway reaches this lock; add "
                            "a gateway near it in the TTLock app", self._name(lock_id),
                            verb(target))
            asyncio.get_running_loop().call_soon(self._revert, lock_id)
            return
        _LOGGER.info("%s: %s requested from HomeKit", self._name(lock_id), verb(target))
        if self._map_ready.is_set() and not self._pending:
            self._submit_command(lock_id, target)
            return
        first = not self._pending
        self._pending[lock_id] = target  # the newest wish, in the first wish's place
        if first:
            self._spawn(self._submit_when_mapped(), "commands-before-map")

    async def _submit_when_mapped(self) -> None:
        """Commands from before the gateway map, queued together and in order once it is
        there (or after MAP_WAIT): one waiter, so a later wish never overtakes an earlier."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._map_ready.wait(), MAP_WAIT)
        pending, self._pending = self._pending, {}
        for lock_id, target in pending.items():
            if lock_id in self.accessories:
                self._submit_command(lock_id, target)

    def _submit_command(self, lock_id: int, target: int) -> asyncio.Future[bool]:
        job = partial(self._run_command, lock_id, target)
        return self.queues.submit(self.queue_key(lock_id), lock_id, job, Priority.COMMAND)

    def _has_command(self, lock_id: int) -> bool:
        """A command for the lock waits (for the map or in a queue) or runs."""
        return lock_id in self._pending or self.queues.has_command(self.queue_key(lock_id),
                                                                   lock_id)

    def _has_queued_command(self, lock_id: int) -> bool:
        """A command for the lock waits to run: its wish is the one to show."""
        return lock_id in self._pending or self.queues.has_queued_command(
            self.queue_key(lock_id), lock_id)

    def _bump(self, lock_id: int) -> None:
        """The lock's state changed under us: state answers from before are stale."""
        self._generation[lock_id] = self._generation.get(lock_id, 0) + 1

    async def _run_command(self, lock_id: int, target: int) -> None:
        accessory = self.accessories.get(lock_id)
        if accessory is None:
            return
        send = self.client.unlock if target == UNSECURED else self.client.lock
        self._in_flight[lock_id] = target
        try:
            await send(lock_id)
        except TTLockError as err:
            self._command_failed(lock_id, target, err)
            return
        except Exception:
            _LOGGER.exception("%s: %s failed unexpectedly", self._name(lock_id), verb(target))
            self._revert(lock_id)
            return
        finally:
            self._in_flight.pop(lock_id, None)
            self._bump(lock_id)
        self._mark_reachable(lock_id)
        newer = self._has_queued_command(lock_id)
        accessory.show_state(target, settle_target=not newer)
        self._seen(lock_id, target)
        _LOGGER.info("%s: %sed", self._name(lock_id), verb(target))
        if target == UNSECURED:
            self._arm_auto_lock(lock_id)

    def _command_failed(self, lock_id: int, target: int, err: TTLockError) -> None:
        if isinstance(err, UnreachableError):
            self._mark_unreachable(lock_id, err)
        if isinstance(err, QuotaError):
            self._quiet_until = time.monotonic() + QUOTA_PAUSE
        _LOGGER.error("%s: %s failed: %s (%s)", self._name(lock_id), verb(target), err,
                      advice(err))
        self._revert(lock_id)
        self._suspect_cloud(err)

    def _revert(self, lock_id: int) -> None:
        if self._has_queued_command(lock_id):
            return  # a newer wish is on its way: keep showing it
        if (accessory := self.accessories.get(lock_id)) is not None:
            accessory.revert_target()

    def _arm_auto_lock(self, lock_id: int) -> None:
        """Show the lock secured once it secures itself (it does not report that).

        A timer belongs to the unlock that armed it: arming cancels the lock's previous
        timer, and none is armed while a newer command waits (that one decides the state).
        """
        self._cancel_auto_lock(lock_id)
        lock = self.locks.get(lock_id)
        if (self._stopping or lock is None or not lock.auto_lock_seconds
                or self._has_queued_command(lock_id)):
            return

        def fire() -> None:
            if self._auto_lock.get(lock_id) is handle:  # only the timer that is still current
                del self._auto_lock[lock_id]
                self._auto_locked(lock_id)

        handle = asyncio.get_running_loop().call_later(lock.auto_lock_seconds, fire)
        self._auto_lock[lock_id] = handle

    def _cancel_auto_lock(self, lock_id: int) -> None:
        if (handle := self._auto_lock.pop(lock_id, None)) is not None:
            handle.cancel()

    def _auto_locked(self, lock_id: int) -> None:
        self._bump(lock_id)
        if (accessory := self.accessories.get(lock_id)) is not None:
            accessory.show_state(SECURED)
            self._seen(lock_id, SECURED)
            _LOGGER.info("%s: auto-locked", self._name(lock_id))

    # -- polling ----------------------------------------------------------------------

    def poll(self, lock_id: int) -> asyncio.Future[bool]:
        """Queue a state query behind the lock's gateway (commands go first)."""
        if self._stopping:
            return _not_run()
        job = partial(self._run_poll, lock_id)
        return self.queues.submit(self.queue_key(lock_id), lock_id, job, Priority.POLL)

    async def _run_poll(self, lock_id: int) -> None:
        accessory = self.accessories.get(lock_id)
        if accessory is None or time.monotonic() < self._quiet_until:
            return
        generation = self._generation.get(lock_id, 0)
        try:
            # No retries: a retry would hold the gateway's queue (and a waiting command)
            # for up to maximumApiRetry timeouts; the next poll is the retry.
            state = await self.client.query_open_state(lock_id, retries=0)
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
            self._suspect_cloud(err)
            return
        self._mark_reachable(lock_id)
        if self._generation.get(lock_id, 0) != generation:
            _LOGGER.debug("%s: state answer overtaken by a command or auto-lock: dropped",
                          self._name(lock_id))
            return
        current = OPEN_STATE_TO_HOMEKIT[state.state]
        if current == UNSECURED and lock_id in self._auto_lock:
            return  # unlocked on our command; the auto-lock timer will show it secured
        busy = self._has_command(lock_id)
        accessory.show_state(current, settle_target=not busy)
        if current != UNKNOWN:
            self._seen(lock_id, current)
        if current == SECURED:
            self._cancel_auto_lock(lock_id)
        elif current == UNSECURED and not busy:
            self._arm_auto_lock(lock_id)  # opened by hand or in the app: it locks itself

    def _pollable(self) -> list[int]:
        """Locks a state query can reach: behind a gateway, or on Wi-Fi. Asking one without
        either costs a call that can only answer -2012."""
        return sorted(lid for lid, lock in self.locks.items()
                      if (lock.has_gateway or lock.wifi)
                      and self._unreachable.get(lid) != NO_GATEWAY)

    def _first_polls(self) -> None:
        """State now (at start, or when the cloud is back) for as many locks as the plan
        allows (a fresh cached state counts as known); the rest at the plan's pace."""
        lock_ids = self._pollable()
        wanted = [lid for lid in lock_ids if lid not in self._restored]
        polled = wanted[:self.plan.startup_polls]
        for lock_id in polled:
            self.poll(lock_id)
        self._poll_index = lock_ids.index(polled[-1]) + 1 if polled else 0
        restored = len(lock_ids) - len(wanted)
        if restored:
            _LOGGER.info("%d locks show the state known from before the restart (fresher "
                         "than the poll interval): not queried now", restored)
        if len(polled) < len(wanted):
            _LOGGER.info("state of %d of %d locks queried now (apiBudgetPerMonth); the "
                         "others follow at the poll plan's pace", len(polled), len(wanted))

    def _poll_wait(self) -> float:
        if self.plan.state_interval and self.plan.locks:
            return self.plan.state_interval / self.plan.locks
        return min(PLAN_CHECK, self.plan.recheck_interval)

    async def _poll_next(self) -> None:
        """The next lock of the round-robin; with state polling off, the next unreachable
        lock once per ``recheck_interval``, so No Response clears when it is back even if
        nobody sends a command."""
        now = time.monotonic()
        if now < self._quiet_until:
            return
        if self.plan.state_interval:
            lock_ids = self._pollable()
        elif now - self._last_recheck >= self.plan.recheck_interval:
            self._last_recheck = now
            lock_ids = sorted(lid for lid, cause in self._unreachable.items()
                              if cause != NO_GATEWAY and lid in self.locks)
        else:
            return
        if not lock_ids:
            return
        self._poll_index %= len(lock_ids)
        self.poll(lock_ids[self._poll_index])
        self._poll_index += 1

    async def _refresh_list(self, retries: int | None = None) -> None:
        """One ``lock/list`` sweep: battery, names, added and removed locks."""
        if time.monotonic() < self._quiet_until:
            return
        try:
            listing = await self.client.lock_listing(retries=retries)
        except TTLockError as err:
            if isinstance(err, QuotaError):
                self._quiet_until = time.monotonic() + QUOTA_PAUSE
            if isinstance(err, TransportError | ServerError):
                self._list_failures += 1
                if self._list_failures == CLOUD_LOST_AFTER and self.cloud_up:
                    self._set_cloud_up(False)
            raise  # the loop logs it and tries again sooner
        self._list_failures = 0
        self._apply_list(listing.locks, listing.unreadable)
        if not self.cloud_up:
            self._set_cloud_up(True)  # after the new list: its locks are the ones asked

    def _suspect_cloud(self, err: TTLockError) -> None:
        """A command or poll could not reach the cloud: probe it now rather than show
        possibly stale states as live until the next sweep."""
        now = time.monotonic()
        if (not isinstance(err, TransportError | ServerError) or not self.cloud_up
                or self._probe is not None or now - self._last_probe < PROBE_MIN_INTERVAL):
            return
        self._last_probe = now
        self._probe = self._spawn(self._probe_cloud(), "cloud-probe")

    async def _probe_cloud(self) -> None:
        """Up to CLOUD_LOST_AFTER quick lock lists (no retries): one answer clears the
        suspicion, as many failures mark the cloud lost."""
        try:
            for attempt in range(CLOUD_LOST_AFTER):
                if attempt:
                    await asyncio.sleep(self.reconnect_delays[0])
                with contextlib.suppress(TTLockError):
                    await self._refresh_list(retries=0)
                    return
                if not self.cloud_up:
                    return
        finally:
            self._probe = None

    def _set_cloud_up(self, up: bool) -> None:
        """The cloud stopped (or started again) answering: every lock shows it; back, every
        lock is asked again (anything may have happened meanwhile), within the plan."""
        self.cloud_up = up
        if up:
            _LOGGER.info("the TTLock cloud answers again: locks are live")
            self._restored.clear()
            self._first_polls()
        else:
            _LOGGER.warning("the TTLock cloud is not answering: every lock shows No Response "
                            "until it does (its state here could be stale)")
        for lock_id in self.accessories:
            self._update_available(lock_id)

    async def _refresh_daily(self) -> None:
        """Gateway map, then model, firmware and auto-lock time of every lock."""
        await self._map_gateways()
        await self.refresh_details()

    async def refresh_details(self, lock_ids: Iterable[int] | None = None) -> None:
        """Details lock by lock: one unreadable answer skips that lock only."""
        limit = asyncio.Semaphore(DETAIL_CONCURRENCY)

        async def one(lock_id: int) -> None:
            async with limit:
                try:
                    detail = await self.client.lock_detail(lock_id)
                except TTLockError as err:  # an unreadable answer is one too (answer_of)
                    _LOGGER.info("%s: details unavailable (%s)", self._name(lock_id), err)
                    return
            lock = self.locks.get(lock_id)
            accessory = self.accessories.get(lock_id)
            if lock is None or accessory is None:
                return
            self.locks[lock_id] = lock = lock.with_detail(detail)
            accessory.set_info(model=lock.model, firmware=lock.firmware)

        wanted = list(self.locks if lock_ids is None else lock_ids)
        await asyncio.gather(*(one(lid) for lid in wanted))
        self._save_cache()
