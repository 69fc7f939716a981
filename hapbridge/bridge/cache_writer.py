"""``locks.json`` written in order: now, or queued to one worker thread off the event loop.

A state the bridge learnt must be on disk before a restart can rely on it, and a HomeKit
event must not wait for two fsyncs. So a write is either *now* (the caller goes on only
once it is on disk) or *queued* (the disk already holds something a restart can trust: a
lock's state marked in doubt while its command travels). One worker thread keeps the
writes in the order they were made, and a write now first waits for the queued ones.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from hapbridge.bridge.futures import resolved
from hapbridge.bridge.lock_cache import write_cache
from hapbridge.storage import Storage, StorageError

_LOGGER = logging.getLogger(__name__)

Items = list[dict[str, Any]]


class CacheWriter:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._pool: ThreadPoolExecutor | None = None
        self._last: Future[None] | None = None
        self._written: Items | None = None  # what the last write made (or will make)

    def write(self, items: Items, *, now: bool) -> asyncio.Future[None]:
        """Write ``items`` unless they are what was last written; done once on disk."""
        loop = asyncio.get_running_loop()
        if items == self._written:
            return resolved(None)
        self._written = items
        if now:
            self.drain()
            self._save(items)
            return resolved(None)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hapbridge-locks-json")
        self._last = self._pool.submit(self._save, items)
        return asyncio.wrap_future(self._last, loop=loop)

    def drain(self) -> None:
        """Wait for the queued write (a few ms at most) so nothing older lands later."""
        if self._last is not None and not self._last.done():
            self._last.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _save(self, items: Items) -> None:
        try:
            write_cache(self._storage, items)
        except StorageError as err:
            self._written = None  # try again at the next change
            _LOGGER.warning("cannot save the lock cache (%s); going on without", err)
