"""Counting API calls, because free TTLock developer plans allow only thousands a month."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from hapbridge.storage import Storage

USAGE_FILE = "usage.json"


def current_month(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC).strftime(
        "%Y-%m"
    )


class UsageCounter:
    """Calls by endpoint for the current month, persisted so the count spans restarts.

    Writes are debounced (``flush_interval``): counting must not add disk I/O to every call.
    """

    def __init__(self, storage: Storage | None = None, flush_interval: float = 30.0) -> None:
        self._storage = storage
        self._flush_interval = flush_interval
        self._last_flush = 0.0
        self._dirty = False
        self.month = current_month()
        self.by_endpoint: Counter[str] = Counter()
        self.session: Counter[str] = Counter()
        self._load()

    def _load(self) -> None:
        if self._storage is None:
            return
        data = self._storage.read_json(USAGE_FILE) or {}
        if data.get("month") == self.month:
            self.by_endpoint.update({str(k): int(v) for k, v in data.get("calls", {}).items()})

    def record(self, endpoint: str) -> None:
        month = current_month()
        if month != self.month:
            self.month = month
            self.by_endpoint.clear()
        self.by_endpoint[endpoint] += 1
        self.session[endpoint] += 1
        self._dirty = True
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self.flush()

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())

    @property
    def session_total(self) -> int:
        return sum(self.session.values())

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self._storage is None or not self._dirty:
            return
        self._storage.write_json(
            USAGE_FILE, {"month": self.month, "calls": dict(self.by_endpoint)}
        )
        self._dirty = False
