"""The cloud's callback: each new record of a gateway or Wi-Fi lock POSTed to a URL.

As ``lockRecord/notify.md`` describes it: only locks that upload records (behind an online
gateway, or Wi-Fi locks online) push; the gateway uploads a moment after the event
(``push_delay``), and the cloud posts at once, form-encoded, ``records`` as a JSON string,
expecting the raw answer ``success``. Whether the cloud retries is undocumented, so the
simulator does not: a push that fails is counted and logged, not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from hapbridge.log_limit import RateLimitedLog
from hapbridge.redact import install_log_redaction, mask_in_logs
from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.routes_locks import record_item
from hapbridge.simulator.world import SimLock, SimRecord, World, now_ms
from hapbridge.ttlock.record_types import meaning_of

_LOGGER = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(5.0, connect=2.0)
MAX_PENDING = 1000  # pushes waiting for their delay; more are dropped (a runaway test)


def push_item(record: SimRecord, lock: SimLock) -> dict[str, Any]:
    """One element of ``records`` in the shape the cloud pushes it: the listed record
    without its id, with the lock's MAC and battery."""
    item = record_item(record)
    del item["recordId"]
    item["lockMac"] = lock.mac
    item["electricQuantity"] = lock.battery if record.battery is None else record.battery
    from_lock = meaning_of(record.record_type).from_lock
    if from_lock is not None:
        item["recordTypeFromLock"] = from_lock
    return item


def push_form(record: SimRecord, lock: SimLock, admin: str) -> dict[str, str]:
    return {
        "notifyType": "1",
        "lockId": str(lock.lock_id),
        "lockMac": lock.mac,
        "admin": admin,
        "records": json.dumps([push_item(record, lock)], separators=(",", ":")),
    }


class Pusher:
    """Schedules a push for each record ``World.add_record`` reports."""

    def __init__(self, world: World, settings: Callable[[], SimConfig]) -> None:
        self.world = world
        self._settings = settings  # read per record: tests set callback_url on a live server
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.answers: Counter[str] = Counter()  # "success", "HTTP 404", "unreachable"...
        self.skipped: Counter[str] = Counter()  # "no gateway", "gateway offline"
        self._warn = RateLimitedLog(_LOGGER).at(logging.WARNING)

    def uploads(self, lock: SimLock) -> str | None:
        """Why the lock's records are not uploaded now, or None when they are."""
        if lock.wifi:
            return None if lock.online else "Wi-Fi lock offline"
        gateway = self.world.gateway_of(lock)
        if gateway is None:
            return "no gateway"
        return None if gateway.online else "gateway offline"

    def record_added(self, record: SimRecord) -> None:
        config = self._settings()
        lock = self.world.locks.get(record.lock_id)
        if not config.callback_url or lock is None:
            return
        if (reason := self.uploads(lock)) is not None:
            self.skipped[reason] += 1
            return
        if len(self._tasks) >= MAX_PENDING:
            self.skipped["too many pending"] += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._push(record, lock, config.callback_url, config.push_delay, config.username))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, record: SimRecord, lock: SimLock, url: str, delay: float,
                    admin: str) -> None:
        await asyncio.sleep(delay)
        record.server_date = now_ms()  # it reached the cloud now: the push goes out at once
        mask_in_logs(urlsplit(url).path)  # httpx logs the POST: the path is the secret
        if self._client is None:
            install_log_redaction()
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        try:
            answer = await self._client.post(url, data=push_form(record, lock, admin))
        except httpx.HTTPError as err:
            self.answers["unreachable"] += 1
            self._warn("unreachable", "cannot push to the callback URL (%s): is the receiver "
                       "running?", type(err).__name__)
            return
        outcome = "success" if answer.text.strip() == "success" else f"HTTP {answer.status_code}"
        self.answers[outcome] += 1
        what = meaning_of(record.record_type).description
        if outcome == "success":
            _LOGGER.info("pushed %s at %s", what, lock.alias)
        else:
            self._warn(outcome, "the callback URL answered %s to a push, not 'success'",
                       outcome)

    async def wait_idle(self) -> None:
        """Until every scheduled push was sent (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
