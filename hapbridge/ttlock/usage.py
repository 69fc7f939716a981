"""Counting API calls, because free TTLock developer plans allow only thousands a month.

The bridge and CLI commands share one ``usage.json``. Each process counts in memory and a
flush *adds* what it counted since its last flush to what the file holds, under an advisory
lock, so neither overwrites the other's calls. Counting must never cost the API call
anything: ``record`` does no I/O, flushes run at most every ``flush_interval`` seconds in a
worker thread when an event loop is running, and a failed flush is one warning, not an error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hapbridge.errors import HapbridgeError
from hapbridge.storage import Storage

_LOGGER = logging.getLogger(__name__)

USAGE_FILE = "usage.json"


def current_month(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC).strftime(
        "%Y-%m"
    )


def _file_month(data: Any) -> str | None:
    return data.get("month") if isinstance(data, dict) else None


def _calls_of(data: Any, month: str, path: object) -> Counter[str]:
    """The month's counts in a ``usage.json`` document; a wrong shape counts as none."""
    if data is None or (isinstance(data, dict) and data.get("month") != month):
        return Counter()
    try:
        return Counter({str(k): int(v) for k, v in data["calls"].items()})
    except (KeyError, TypeError, ValueError, AttributeError):
        _LOGGER.warning("%s has an unexpected shape; counting this month's calls from zero",
                        path)
        return Counter()


class UsageCounter:
    """Calls by endpoint for the current month, persisted so the count spans restarts.

    ``by_endpoint`` holds the month's calls as last seen in the file plus this process's
    since; ``session`` only this process's. ``record`` adds in place on the caller's thread;
    a flush thread only swaps in a new ``by_endpoint``, so a reader summing it on the event
    loop never sees the dict change size under it.
    """

    def __init__(self, storage: Storage | None = None, flush_interval: float = 30.0) -> None:
        self._storage = storage
        self._flush_interval = flush_interval
        self._last_flush = time.monotonic()
        self._mutex = threading.Lock()  # counters, between the loop and a flush thread
        self._flushing = threading.Lock()  # one flush at a time (thread or aclose)
        self._flush_task: asyncio.Task[None] | None = None
        self._failing = False  # warn once per run of failed flushes
        self.month = current_month()
        self.by_endpoint: Counter[str] = _calls_of(self._read_file(), self.month, self._path)
        self.session: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()  # counted since the last successful flush

    @property
    def _path(self) -> object:
        return self._storage.path(USAGE_FILE) if self._storage is not None else USAGE_FILE

    def _read_file(self) -> Any:
        """The raw document; unreadable or corrupt counts as none (it is only a count)."""
        if self._storage is None:
            return None
        try:
            return self._storage.read_json(USAGE_FILE)
        except HapbridgeError as err:
            _LOGGER.warning("%s; counting this month's calls from zero", err)
            return None

    def record(self, endpoint: str) -> None:
        """Count one call. No disk I/O here; may start a background flush."""
        month = current_month()
        with self._mutex:
            if month != self.month:  # a new budget month: last month's tail is irrelevant
                self.month = month
                self.by_endpoint = Counter()
                self._pending = Counter()
            self.by_endpoint[endpoint] += 1
            self.session[endpoint] += 1
            self._pending[endpoint] += 1
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self._flush_soon()

    def _flush_soon(self) -> None:
        if self._storage is None or (self._flush_task and not self._flush_task.done()):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop: nothing to block, flush right here
            self.flush()
            return
        self._last_flush = time.monotonic()
        self._flush_task = asyncio.create_task(asyncio.to_thread(self.flush))

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())

    @property
    def session_total(self) -> int:
        return sum(self.session.values())

    def flush(self) -> None:
        """Add the calls counted since the last flush to the file. Never raises.

        Blocking (disk, lock file): on an event loop, prefer :meth:`aflush`.
        """
        self._last_flush = time.monotonic()
        if self._storage is None:
            return
        with self._flushing:
            with self._mutex:
                month, delta, self._pending = self.month, self._pending, Counter()
            if not delta:
                return
            try:
                merged = self._merge(month, delta)
            except Exception as err:  # anything: a count must never break an API call
                with self._mutex:
                    if self.month == month:
                        self._pending.update(delta)  # try again next time
                if not self._failing:
                    reason = err if isinstance(err, HapbridgeError) else repr(err)
                    _LOGGER.warning("API call counts not saved: %s", reason)
                self._failing = True
                return
            self._failing = False
            with self._mutex:
                if merged is not None and self.month == month:
                    self.by_endpoint = merged + self._pending

    def _merge(self, month: str, delta: Counter[str]) -> Counter[str] | None:
        """Re-read the file and add ``delta`` to it, atomically against other processes.

        None when the file already belongs to a later month: the delta is last month's tail.
        """
        assert self._storage is not None
        with self._storage.locked(USAGE_FILE):
            data = self._read_file()
            file_month = _file_month(data)
            if isinstance(file_month, str) and file_month > month:
                return None
            merged = _calls_of(data, month, self._path)
            merged.update(delta)
            self._storage.write_json(USAGE_FILE, {"month": month, "calls": dict(merged)})
        return merged

    async def aflush(self) -> None:
        """Flush in a worker thread, after any background flush in progress."""
        if self._flush_task is not None:
            await asyncio.shield(self._flush_task)
        await asyncio.to_thread(self.flush)

    async def aclose(self) -> None:
        """The final flush: waits for a background one, then writes synchronously."""
        task, self._flush_task = self._flush_task, None
        if task is not None and not task.done():
            await asyncio.wait([task])
        self.flush()
