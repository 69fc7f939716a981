"""Whether the TTLock cloud answers: one state machine that every cloud call reports to.

Every call the bridge makes goes through :meth:`CloudHealth.watch`, so any answer at all
(a lock list, a command, a poll, even an errcode: the cloud answered) is evidence that the
cloud is up, and no other path can say so. ``up``: normal. ``suspect``: a call got no
answer (timeout, 5xx); a quick probe decides, at most every PROBE_MIN_INTERVAL. ``down``:
the probe failed too (or the start found no cloud); every lock shows No Response, and a
reconnect loop asks with backoff until an answer comes. ``quota-paused``: the account's API
limit is reached; background calls rest for QUOTA_PAUSE (a command from a person still goes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from enum import Enum
from typing import Any, TypeVar

from hapbridge.bridge.log_text import describe
from hapbridge.ttlock.errors import (
    ConfigurationError,
    CredentialsError,
    QuotaError,
    ServerError,
    TransportError,
    TTLockError,
)
from hapbridge.ttlock.retry import RetryPolicy

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
FATAL_ERRORS = (CredentialsError, ConfigurationError)
NO_ANSWER = (TransportError, ServerError)
QUOTA_PAUSE = 3600.0  # after "API limit reached", background calls rest this long
# Quick lock lists (no retries) a probe makes before the cloud counts as down.
CLOUD_LOST_AFTER = 2
PROBE_MIN_INTERVAL = 30.0
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any] | None"]


class Health(Enum):
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"
    QUOTA_PAUSED = "quota-paused"


class CloudHealth:
    """Owns the probe and the reconnect; everything else asks it."""

    def __init__(
        self,
        *,
        probe: Callable[[], Awaitable[object]],
        backoff: RetryPolicy,
        spawn: Spawn,
        on_change: Callable[[bool], None],
    ) -> None:
        self._probe = probe  # one quick call that raises unless the cloud answers
        self._backoff = backoff
        self._spawn = spawn
        self._on_change = on_change
        self._state = Health.DOWN  # until the first answer
        self._known = False  # the first verdict (at start) is the start's to log
        self._quiet_until = 0.0
        self._last_probe = -PROBE_MIN_INTERVAL
        self._probing: asyncio.Task[Any] | None = None
        self._reconnecting: asyncio.Task[Any] | None = None
        self._up = asyncio.Event()

    @property
    def state(self) -> Health:
        if self._state is Health.QUOTA_PAUSED and time.monotonic() >= self._quiet_until:
            self._state = Health.UP
        return self._state

    @property
    def up(self) -> bool:
        """The cloud answers (locks can show their state as live)."""
        return self.state is not Health.DOWN

    @property
    def quiet(self) -> bool:
        """Background calls (polls, sweeps) should not be made now."""
        return self.state in (Health.DOWN, Health.QUOTA_PAUSED)

    async def wait_up(self) -> None:
        await self._up.wait()

    async def watch(self, call: Awaitable[T]) -> T:
        """Await one cloud call and learn from how it ended."""
        try:
            result = await call
        except TTLockError as err:
            if isinstance(err, NO_ANSWER):
                self._no_answer()
            elif not isinstance(err, FATAL_ERRORS):  # an answer, but nothing works
                self.answered()
                if isinstance(err, QuotaError):
                    self._pause(err)
            raise
        self.answered()
        return result

    def answered(self) -> None:
        """The cloud answered: it is up (a quota pause stays until its time is over)."""
        if self._state in (Health.UP, Health.QUOTA_PAUSED):
            return
        was_down, known = self._state is Health.DOWN, self._known
        self._state, self._known = Health.UP, True
        self._up.set()
        if was_down and known:
            _LOGGER.info("the TTLock cloud answers again: locks are live")
            self._on_change(True)

    def lost(self, why: str) -> None:
        """No answer at start (or from a probe): every lock shows No Response; the
        reconnect starts once :meth:`reconnect` is allowed to spawn."""
        was, known = self._state, self._known
        self._state, self._known = Health.DOWN, True
        self._up.clear()
        if was is not Health.DOWN and known:
            _LOGGER.warning("the TTLock cloud is not answering (%s): every lock shows No "
                            "Response until it does (its state here could be stale)", why)
            self._on_change(False)
        self.reconnect()

    def reconnect(self) -> None:
        """While down, ask again with backoff until the cloud answers."""
        if self._state is Health.DOWN and self._reconnecting is None:
            self._reconnecting = self._spawn(self._reconnect(), "reconnect")

    def _pause(self, err: QuotaError) -> None:
        self._state = Health.QUOTA_PAUSED
        self._quiet_until = time.monotonic() + QUOTA_PAUSE
        _LOGGER.error("polling paused for an hour: %s", err)

    def _no_answer(self) -> None:
        """A call got no answer: probe now rather than show possibly stale states as live
        until the next sweep."""
        now = time.monotonic()
        if (self._state is not Health.UP or self._probing is not None
                or now - self._last_probe < PROBE_MIN_INTERVAL):
            return
        self._last_probe = now
        self._state = Health.SUSPECT
        self._probing = self._spawn(self._probe_cloud(), "cloud-probe")

    async def _probe_cloud(self) -> None:
        try:
            for attempt in range(CLOUD_LOST_AFTER):
                if attempt:
                    await asyncio.sleep(self._backoff.base_delay)
                with contextlib.suppress(TTLockError):
                    await self._probe()
                if self._state is not Health.SUSPECT:
                    return  # an answer (from the probe or any other call) settled it
            self.lost(f"{CLOUD_LOST_AFTER} lock lists got no answer")
        finally:
            self._probing = None

    async def _reconnect(self) -> None:
        try:
            failures = 0
            while self._state is Health.DOWN:
                await asyncio.sleep(self._backoff.delay(failures))
                if self._state is not Health.DOWN:
                    break
                try:
                    await self._probe()
                except Exception as err:
                    failures += 1
                    quiet = isinstance(err, TTLockError) and not isinstance(err, FATAL_ERRORS)
                    _LOGGER.log(logging.INFO if quiet else logging.ERROR,
                                "TTLock cloud still unavailable (%s); trying again with "
                                "backoff", describe(err))
        finally:
            self._reconnecting = None
