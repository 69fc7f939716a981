"""The bridge core, put together: one record per lock and the small parts that serve it.

A HomeKit write reaches :meth:`LockHub.request`, which hands the wish to the lock's mailbox
(``dispatcher``); the mailbox runs it on the lock's gateway when that is free, through
``lock_jobs`` and the ``cloud_health`` to the client. Answers come back as reports to the
lock's record in the ``registry`` (which saves what a restart relies on and lets the
accessory render the record); the ``auto_lock`` model and the ``scheduler``'s polls are
sources like any other. HomeKit reads never get here: accessories answer from memory.
Every background loop survives any exception (one log line, then a backoff).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from pyhap.accessory import Bridge

from accessories.ttlock_lock import TTLockLock
from hapbridge.bridge import door_state
from hapbridge.bridge.auto_lock import AutoLockModel
from hapbridge.bridge.cloud_api import CloudApi
from hapbridge.bridge.cloud_health import FATAL_ERRORS, CloudHealth
from hapbridge.bridge.dispatcher import Dispatcher
from hapbridge.bridge.futures import resolved
from hapbridge.bridge.gateway_routes import GatewayRoutes
from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_cache import KnownLock
from hapbridge.bridge.lock_jobs import LockJobs
from hapbridge.bridge.log_text import describe, plural, verb
from hapbridge.bridge.passage_jobs import PassageJobs
from hapbridge.bridge.placement import MAX_LOCKS, FixedHost, Host, Placement
from hapbridge.bridge.poll_plan import PollPlan
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.scheduler import MAP_RETRIES, Scheduler
from hapbridge.bridge.tracked_lock import TrackedLock
from hapbridge.config import PlatformConfig
from hapbridge.storage import Storage
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.reach import Carrier, Cause, lone_carrier
from hapbridge.ttlock.retry import RetryPolicy

_LOGGER = logging.getLogger(__name__)

STARTUP_TIMEOUT = 15.0  # seconds to wait for the cloud before publishing cached locks
RECONNECT_FIRST = 5.0
RECONNECT_MAX = 300.0
MAP_WAIT = 10.0  # a command waits this long for the gateway map at startup
# A cached state younger than this (and than the poll interval) is shown at start instead of
# a query: enough for a crash loop or a quick restart, too short to miss what happened
# while the bridge was down for longer.
RESTORE_MAX_AGE = 120.0


class LockHub:
    """Publishes the account's locks and keeps their HomeKit state true on a call budget."""

    def __init__(
        self,
        *,
        client: CloudApi,
        storage: Storage,
        identity: Identity,
        platform: PlatformConfig,
        driver: Any,
        bridge: Bridge,
        startup_timeout: float = STARTUP_TIMEOUT,
        reconnect_delays: tuple[float, float] = (RECONNECT_FIRST, RECONNECT_MAX),
        max_locks: int = MAX_LOCKS,
        restore_max_age: float = RESTORE_MAX_AGE,
        placement: Placement | None = None,
        hosts: Callable[[int], Host] | None = None,
    ) -> None:
        """One bridge (``identity``, ``driver``, ``bridge``), or with ``placement`` and
        ``hosts`` as many as the locks need (bridge_set.py); ``driver`` is bridge 1's."""
        self.client = client
        self.identity = identity
        self.driver = driver
        if placement is None or hosts is None:
            only = FixedHost(1, driver, bridge)
            placement = Placement(lambda _n: identity, capacity=max_locks, max_bridges=1)
            hosts = lambda _n: only  # noqa: E731
        self.startup_timeout = startup_timeout
        self.restore_max_age = restore_max_age
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._map_wait_over = False
        self._map_wait: asyncio.TimerHandle | None = None
        backoff = RetryPolicy(max_retries=MAP_RETRIES, base_delay=reconnect_delays[0],
                              max_delay=reconnect_delays[1])
        self.health = CloudHealth(probe=lambda: self.scheduler.list_once(retries=0),
                                  backoff=backoff, spawn=self._spawn,
                                  on_change=self._cloud_changed)
        self.registry = LockRegistry(
            storage=storage, placement=placement, hosts=hosts, platform=platform,
            discard=lambda box: self.dispatcher.discard(box),
            on_target=self.request, cloud_up=lambda: self.health.up,
            on_passage=lambda lock_id, on: self.passage.request(lock_id, on))
        self.auto_lock = AutoLockModel(self.registry)
        self.passage = PassageJobs(client, self.health, self.registry)
        self.routes = GatewayRoutes(client, self.health, self.registry,
                                    lambda: self.dispatcher.pump())
        self.scheduler = Scheduler(
            client=client, health=self.health, registry=self.registry, routes=self.routes,
            platform=platform, backoff=backoff, spawn=self._spawn, poll=self.poll,
            after_details=self._read_services)
        self.jobs = LockJobs(client, self.health, self.registry, self.scheduler.retry_poll)
        self.dispatcher = Dispatcher(self._carrier_of, send=self.jobs.send,
                                     settled=self.jobs.settled, retry=client.retry,
                                     send_passage=self.passage.send,
                                     settled_passage=self.passage.settled)
        self.passage.dispatcher = self.dispatcher

    # -- what the server and the tests see --------------------------------------------

    @property
    def accessories(self) -> dict[int, TTLockLock]:
        return {lid: record.accessory for lid, record in self.registry.records.items()}

    @property
    def locks(self) -> dict[int, KnownLock]:
        return {lid: record.listing for lid, record in self.registry.records.items()}

    def record(self, lock_id: int) -> TrackedLock:
        """Everything the bridge knows of the lock (KeyError when it is not published)."""
        return self.registry.records[lock_id]

    @property
    def plan(self) -> PollPlan:
        return self.scheduler.plan

    @property
    def cloud_up(self) -> bool:
        return self.health.up

    def route(self, lock_id: int) -> Carrier | None:
        return self._carrier_of(lock_id)

    # -- startup and stop -------------------------------------------------------------

    async def load(self) -> None:
        """Before the driver starts: publish the cloud's locks, or the cached ones unavailable.

        Costs one login (if no token is stored) and one ``lock/list`` page per 1,000 locks,
        whatever the number of locks: gateways and states follow in the background, and
        details only for locks the cache knows none of.
        """
        registry, platform = self.registry, self.registry.platform
        cached = registry.load_cache()
        try:
            listing = await asyncio.wait_for(
                self.health.watch(self.client.lock_listing()), self.startup_timeout)
        except FATAL_ERRORS:
            raise
        except (TTLockError, TimeoutError) as err:
            known = [lock for lock in cached if not platform.excludes(lock.lock_id, lock.alias)]
            locks = known if cached else registry.placeholders()
            _LOGGER.warning(
                "the TTLock cloud is not answering (%s): %s; retrying in the background",
                describe(err) or f"no answer within {self.startup_timeout:.0f}s",
                f"publishing {plural(len(locks), 'known lock')} as unavailable" if locks
                else "no locks known from an earlier start to publish yet",
            )
            self.health.lost("no answer at start")
            registry.publish(locks)
            return
        registry.apply_list(listing.locks, listing.unreadable)
        self.scheduler.refresh_plan()
        window = min(self.scheduler.plan.state_interval or 0.0, self.restore_max_age)
        self.scheduler.restored = registry.restore_states(window)
        _LOGGER.info("%d locks published after %d cloud calls; gateway map, details and "
                     "first states follow in the background", len(registry.records),
                     self.client.usage.session_total)

    def start(self) -> None:
        """After the driver started: reconnect if needed, then map, details, polls."""
        self.registry.announce = True
        self.health.reconnect()
        self._map_wait = asyncio.get_running_loop().call_later(MAP_WAIT,
                                                               self._release_commands)
        self._spawn(self.scheduler.run(), "hub")

    async def stop(self) -> None:
        """Stop every task, timer and job; nothing new starts afterwards. The lock cache is
        saved only when this run published locks (a failed start knows nothing worth it)."""
        self._stopping = self.auto_lock.stopped = True
        if self._map_wait is not None:
            self._map_wait.cancel()
        self._log_abandoned()
        self.registry.stop_timers()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.dispatcher.close()
        self.registry.close()

    def _log_abandoned(self) -> None:
        """Say which HomeKit wishes a stop cuts off: someone may be waiting at that door."""
        for box in self.dispatcher.cut_off():
            name = self.registry.name(box.lock_id)
            if box.in_flight is not None:
                _LOGGER.warning("%s: %s cut off by the stop while the cloud was carrying it; "
                                "it may or may not have happened (hapbridge locks --state "
                                "tells)", name, verb(box.in_flight))
            else:
                _LOGGER.warning("%s: a queued HomeKit command was not sent (the bridge "
                                "stopped)", name)

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

    def _cloud_changed(self, up: bool) -> None:
        """Every lock shows it; back, every lock is asked again (after the answer that
        brought it back is applied: a new lock list's locks are the ones asked)."""
        self.registry.render_all()
        if up:
            asyncio.get_running_loop().call_soon(self.scheduler.cloud_back)

    # -- HomeKit wishes, state queries ------------------------------------------------

    def request(self, lock_id: int, target: int) -> None:
        """HomeKit asked for ``target``: hand it to the lock's mailbox and return at once."""
        record = self.registry.get(lock_id)
        if self._stopping or record is None:
            return
        self.auto_lock.cancel(record)
        if record.cause is Cause.NO_GATEWAY:
            # The cloud could only answer -2012: no call spent, the tile flips back at once.
            _LOGGER.warning("%s: %s from HomeKit not sent: no gateway reaches this lock; %s",
                            record.name, verb(target), Cause.NO_GATEWAY.advice)
            asyncio.get_running_loop().call_soon(self.registry.render, lock_id)
            return
        _LOGGER.info("%s: %s requested from HomeKit", record.name, verb(target))
        self.dispatcher.wish(record.mailbox, target)
        record.render(self.health.up)

    def poll(self, lock_id: int) -> asyncio.Future[bool]:
        """Queue a state query behind the lock's gateway (commands go first)."""
        record = self.registry.get(lock_id)
        if self._stopping or record is None:
            return resolved(False)
        return self.dispatcher.poll(record.mailbox, lambda: self.jobs.query(lock_id))

    async def refresh_list(self) -> None:
        """One lock-list sweep now (as the plan's loop makes them)."""
        await self.scheduler.list_once()

    async def refresh_details(self, lock_ids: Iterable[int] | None = None) -> None:
        await self.scheduler.refresh_details(lock_ids)

    async def refresh_gateways(self) -> bool:
        complete = await self.routes.refresh()
        self.scheduler.refresh_plan()
        return complete

    async def _read_services(self, lock_ids: Iterable[int] | None) -> None:
        """What the door sensors and passage switches need from the cloud (no gateway)."""
        chosen = None if lock_ids is None else list(lock_ids)
        await asyncio.gather(self.passage.refresh(chosen),
                             door_state.read_sensors(self.client, self.health, self.registry,
                                                     chosen))

    def _carrier_of(self, lock_id: int) -> Carrier | None:
        """The lock's carrier now; None (wait) while the first gateway map is awaited, so
        a scene sent at start does not run side by side through one gateway."""
        record = self.registry.get(lock_id)
        if record is not None and record.carrier is not None:
            return record.carrier
        if not (self.routes.ready.is_set() or self._map_wait_over):
            return None
        return lone_carrier(lock_id, wifi=record is not None and record.listing.wifi)

    def _release_commands(self) -> None:
        self._map_wait_over = True
        self.dispatcher.pump()
