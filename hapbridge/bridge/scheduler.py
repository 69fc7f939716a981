"""The poll plan and the loops that follow it, with one shared backoff for every retry.

Lock-list sweeps (battery, names, added and removed locks), the daily gateway map and
details, the state-poll round-robin, and the retries of an incomplete gateway map and of a
state query that met a busy gateway all wait on the same :class:`RetryPolicy` (the
reconnect delays), as does the cloud health's reconnect. A failing step is one log line,
never the end of its loop; only cancellation ends one. Background calls rest while the
cloud health says so (down, or the quota is used up). While pushes arrive
(``push_watch``), the plan is the safety net's: far fewer polls; when they seem lost, the
plan polls fully again at once.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from hapbridge.bridge.cloud_api import CloudApi
from hapbridge.bridge.cloud_health import CloudHealth, Spawn
from hapbridge.bridge.gateway_routes import GatewayRoutes
from hapbridge.bridge.log_text import describe
from hapbridge.bridge.poll_plan import PollPlan, make_plan
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import TrackedLock
from hapbridge.config import PlatformConfig
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.reach import Cause
from hapbridge.ttlock.retry import RetryPolicy

_LOGGER = logging.getLogger(__name__)

PLAN_CHECK = 60.0  # with state polling off, how often the loop looks at the plan again
DETAIL_CONCURRENCY = 4
# Background retries of an incomplete gateway map, and of a state query that met a busy
# gateway (each try costs calls); then the next refresh or poll round tries again.
MAP_RETRIES = 6
POLL_RETRIES = 6


class Scheduler:
    def __init__(
        self, *, client: CloudApi, health: CloudHealth, registry: LockRegistry,
        routes: GatewayRoutes, platform: PlatformConfig, backoff: RetryPolicy, spawn: Spawn,
        poll: Callable[[int], Awaitable[bool]],
        after_details: Callable[[Iterable[int] | None], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._health = health
        self._registry = registry
        self._routes = routes
        self._platform = platform
        self.backoff = backoff
        self._spawn = spawn
        self._poll = poll
        # the lock services' reads (passage-mode configurations, wireless door sensors)
        self._after_details = after_details
        self.plan: PollPlan = make_plan(0, platform.api_budget_per_month)
        self.restored: set[int] = set()  # locks shown from locks.json: not asked at start
        self.running = False  # the loops run (a cloud coming back is then re-polled)
        self.poll_index = 0  # the round-robin's next lock
        self.last_recheck = time.monotonic()  # with polling off: the last unreachable recheck
        self._map_retry: asyncio.Task[None] | None = None
        self._plan_logged = False
        self.relaxed: Callable[[], bool] = lambda: False  # pushes arrive (push_watch)
        self._replanned = asyncio.Event()  # wakes the state-poll wait for a new pace

    async def run(self) -> None:
        """Once the cloud answers: gateway map, first states, missing details, the loops."""
        await self._health.wait_up()
        await self.map_gateways()
        self.first_polls()
        missing = [lid for lid, r in self._registry.records.items() if not r.listing.detailed]
        self._spawn(self._details_then_services(missing, None), "details")
        self.running = True
        self._spawn(self.every("lock list refresh", lambda: self.plan.list_interval,
                               self.sweep), "lock-list")
        self._spawn(self.every("gateway map and details refresh",
                               lambda: self.plan.detail_interval, self.daily), "daily")
        self._spawn(self.every("state poll", self._poll_wait, self.poll_next,
                               wake=self._replanned), "state-poll")

    async def every(self, what: str, interval: Callable[[], float],
                    step: Callable[[], Awaitable[None]], wake: asyncio.Event | None = None
                    ) -> None:
        """Run ``step`` after every ``interval()`` seconds until cancelled; after a failure
        the next try comes sooner (the backoff, up to the interval). ``wake`` set: the
        wait starts again at the new ``interval()``."""
        failures = 0
        while True:
            wait = interval()
            if failures:
                wait = min(wait, self.backoff.delay(failures - 1))
            if wake is None:
                await asyncio.sleep(wait)
            else:
                try:
                    await asyncio.wait_for(wake.wait(), wait)
                except TimeoutError:
                    pass
                else:
                    wake.clear()
                    continue
            try:
                await step()
            except Exception as err:
                failures += 1
                _LOGGER.error("%s failed (%s); trying again with backoff", what,
                              describe(err))
            else:
                failures = 0

    # -- the plan ---------------------------------------------------------------------

    def pollable(self) -> list[int]:
        return sorted(lid for lid, r in self._registry.records.items() if r.pollable)

    def refresh_plan(self) -> None:
        now = datetime.now(tz=UTC)
        days = calendar.monthrange(now.year, now.month)[1]  # as the usage counter's month
        month_left = max(0.0, 1.0 - (now.day - 1 + now.hour / 24) / days)
        plan = make_plan(len(self.pollable()), self._platform.api_budget_per_month,
                         gateways=len(self._routes.gateways), used=self._client.usage.total,
                         month_left=month_left, pushes=self.relaxed())
        changed = ((plan.locks, plan.state_interval, plan.pushes)
                   != (self.plan.locks, self.plan.state_interval, self.plan.pushes))
        if self._routes.ready.is_set() and (changed or not self._plan_logged):
            self._plan_logged = True  # logged once the gateway count is known, then on changes
            log = _LOGGER.warning if plan.over_budget else _LOGGER.info
            log("poll plan: %s", plan.describe())
        self.plan = plan

    def pushes_changed(self) -> None:
        """Pushes started or stopped arriving: the new pace now; lost, every lock is asked
        again (within the plan), as anything may have happened since the last push."""
        self.refresh_plan()
        self._replanned.set()
        if not self.relaxed():
            self.cloud_back()

    # -- state polls ------------------------------------------------------------------

    def first_polls(self) -> None:
        """State now (at start, or when the cloud is back) for as many locks as the plan
        allows (a fresh cached state counts as known); the rest at the plan's pace."""
        lock_ids = self.pollable()
        wanted = [lid for lid in lock_ids if lid not in self.restored]
        polled = wanted[:self.plan.startup_polls]
        for lock_id in polled:
            self._poll(lock_id)
        self.poll_index = lock_ids.index(polled[-1]) + 1 if polled else 0
        restored = len(lock_ids) - len(wanted)
        if restored:
            _LOGGER.info("%d locks show the state known from before the restart (fresher "
                         "than the poll interval): not queried now", restored)
        if len(polled) < len(wanted):
            _LOGGER.info("state of %d of %d locks queried now (apiBudgetPerMonth); the "
                         "others follow at the poll plan's pace", len(polled), len(wanted))

    def cloud_back(self) -> None:
        """Anything may have happened meanwhile: every lock is asked again, within the plan."""
        self.restored.clear()
        if self.running:
            self.first_polls()

    def _poll_wait(self) -> float:
        if self.plan.state_interval and self.plan.locks:
            return self.plan.state_interval / self.plan.locks
        return min(PLAN_CHECK, self.plan.recheck_interval)

    async def poll_next(self) -> None:
        """The next lock of the round-robin; with state polling off, the next unreachable
        lock once per ``recheck_interval``, so No Response clears when it is back even if
        nobody sends a command."""
        now = time.monotonic()
        if self._health.quiet:
            return
        if self.plan.state_interval:
            lock_ids = self.pollable()
        elif now - self.last_recheck >= self.plan.recheck_interval:
            self.last_recheck = now
            lock_ids = sorted(lid for lid, r in self._registry.records.items()
                              if r.cause not in (None, Cause.NO_GATEWAY))
        else:
            return
        if not lock_ids:
            return
        self.poll_index %= len(lock_ids)
        self._poll(lock_ids[self.poll_index])
        self.poll_index += 1

    def retry_poll(self, record: TrackedLock) -> None:
        """A query met a busy gateway (or got no answer): again after the backoff, not a
        whole round later (at start that is minutes per lock)."""
        if record.poll_failures >= POLL_RETRIES or record.poll_retry is not None:
            return
        delay = self.backoff.delay(record.poll_failures)
        record.poll_failures += 1

        def again() -> None:
            record.poll_retry = None
            self._poll(record.lock_id)

        record.poll_retry = asyncio.get_running_loop().call_later(delay, again)

    # -- lock list, gateway map, details ----------------------------------------------

    async def sweep(self, retries: int | None = None) -> None:
        """One ``lock/list``: battery, names, added and removed locks."""
        if self._health.quiet:
            return
        await self.list_once(retries)

    async def list_once(self, retries: int | None = None) -> None:
        """A lock list applied (the cloud health's probe and reconnect use it too)."""
        listing = await self._health.watch(self._client.lock_listing(retries=retries))
        added = self._registry.apply_list(listing.locks, listing.unreadable)
        self.refresh_plan()
        if added and self._registry.announce:  # the driver runs: new locks mid-flight
            self._spawn(self._welcome(sorted(added)), "new-locks")

    async def _welcome(self, lock_ids: list[int]) -> None:
        """New locks at runtime: route them (so polls queue right), then details and state."""
        await self.map_gateways()
        for lock_id in lock_ids:
            self._poll(lock_id)
        await self._details_then_services(lock_ids, lock_ids)

    async def daily(self) -> None:
        await self.map_gateways()
        await self._details_then_services(None, None)

    async def _details_then_services(self, details: list[int] | None,
                                     services: list[int] | None) -> None:
        """Details of ``details`` (None: every lock), then what the lock services of
        ``services`` need read, as the details tell (at start and daily, never at each
        poll: one call per lock that needs it)."""
        if details is None or details:
            await self.refresh_details(details)
        if self._after_details is not None:
            await self._after_details(services)

    async def map_gateways(self) -> None:
        """The gateway map; when incomplete, retried with backoff in the background: without
        it a scene's commands to one gateway run side by side and meet -3003."""
        complete = await self._routes.refresh()
        self.refresh_plan()
        if complete or self._map_retry is not None:
            return

        async def retry() -> None:
            try:
                for attempt in range(MAP_RETRIES):
                    await asyncio.sleep(self.backoff.delay(attempt))
                    if await self._routes.refresh():
                        self.refresh_plan()
                        return
                _LOGGER.warning("the gateway map is still incomplete after %d tries; the "
                                "daily refresh tries again", MAP_RETRIES)
            finally:
                self._map_retry = None

        self._map_retry = self._spawn(retry(), "gateway-map-retry")

    @property
    def map_retrying(self) -> bool:
        return self._map_retry is not None

    async def refresh_details(self, lock_ids: Iterable[int] | None = None) -> None:
        """Details lock by lock: one unreadable answer skips that lock only."""
        limit = asyncio.Semaphore(DETAIL_CONCURRENCY)
        registry = self._registry

        async def one(lock_id: int) -> None:
            async with limit:
                try:
                    detail = await self._health.watch(self._client.lock_detail(lock_id))
                except TTLockError as err:  # an unreadable answer is one too (answer_of)
                    _LOGGER.info("%s: details unavailable (%s)", registry.name(lock_id), err)
                    return
            registry.apply_detail(lock_id, detail)

        wanted = list(registry.records if lock_ids is None else lock_ids)
        await asyncio.gather(*(one(lid) for lid in wanted))
        registry.save()
