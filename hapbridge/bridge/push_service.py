"""The push receiver in the bridge process: started with the bridge, wired to its core.

With a ``callback`` block the bridge listens for TTLock's pushes: the receiver (checks,
forwarding) hands them to :class:`PushIntake` (records -> reports), :class:`PushWatch`
tells the scheduler's plan whether pushes arrive, and each successful command opens an
expectation of its record. ``STORAGE/pushes.json`` keeps when the last push arrived, for
``check`` (``push/arrivals.py``: no cloud call, no running bridge needed). The start-up line
names the local URL with the secret path masked: ``hapbridge callback-url`` prints it.

The receiver runs on an event loop of its own, in its own thread: a flood of hostile
requests is parsed and refused there, so HomeKit's loop only ever sees the pushes that
passed every check (handed over in arrival order with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from accessories.ttlock_lock import UNSECURED
from hapbridge.bridge.lock_hub import LockHub
from hapbridge.bridge.push_intake import PushIntake
from hapbridge.bridge.push_watch import PushWatch
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.push.arrivals import PUSHES_FILE, save_last_push
from hapbridge.push.callback_url import path_secret
from hapbridge.push.receiver import PushReceiver
from hapbridge.push.settings import CallbackSettings
from hapbridge.storage import Storage, StorageError
from hapbridge.ttlock.record_types import LockChange

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

SAVE_EVERY = 30.0  # seconds: pushes.json is written at most this often (and at stop)


def masked_url(url: str, secret: str) -> str:
    return url.replace(secret, secret[:4] + "…")


class PushService:
    def __init__(self, settings: CallbackSettings, storage: Storage, hub: LockHub,
                 account: str) -> None:
        self.settings = settings
        self._storage = storage
        self._hub = hub
        self._account = account
        self.watch = PushWatch(hub.scheduler.pushes_changed)
        self.intake = PushIntake(hub.registry, self.watch)
        self.receiver: PushReceiver | None = None
        self._saved_at = 0.0
        self._saving: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the bridge's (HomeKit's)
        self._own: asyncio.AbstractEventLoop | None = None  # the receiver's
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Listen (a ReceiverError naming callback.port when it cannot), then wire."""
        secret = path_secret(self._storage)
        self._loop = asyncio.get_running_loop()
        self._own = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._own.run_forever, name="hapbridge-push",
                                        daemon=True)
        self._thread.start()
        receiver = PushReceiver(self.settings, secret, _Handover(self, self._loop),
                                account=self._account)
        try:
            await self._there(receiver.start())
        except BaseException:
            await self._end_thread()
            raise
        self.receiver = receiver
        self._hub.scheduler.relaxed = lambda: self.watch.relaxed
        self._hub.registry.listeners.append(self._heard)
        _LOGGER.info("pushes: receiver at %s (secret path masked; 'hapbridge callback-url' "
                     "prints the URL to paste)", masked_url(receiver.urls.local, secret))

    async def stop(self) -> None:
        self.watch.close()
        if self.receiver is not None:
            receiver, self.receiver = self.receiver, None
            with contextlib.suppress(Exception):
                await self._there(receiver.stop())
        await self._end_thread()
        if self._saving is not None:
            with contextlib.suppress(Exception):
                await self._saving
        self._save()

    async def _there(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the receiver's loop, awaited here."""
        assert self._own is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._own))

    async def _end_thread(self) -> None:
        if self._own is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            await self._there(_cancel_the_rest())  # connections still being answered
        own, thread, self._own, self._thread = self._own, self._thread, None, None
        own.call_soon_threadsafe(own.stop)
        await asyncio.to_thread(thread.join, 5.0)
        if not thread.is_alive():
            own.close()

    # -- RecordSink (on the bridge's loop): the intake, and when the last push came ----

    def lock_mac(self, lock_id: int) -> str | None:
        return self.intake.lock_mac(lock_id)

    def accept(self, push: Any) -> None:
        self.intake.accept(push)
        now = time.monotonic()
        if now - self._saved_at >= SAVE_EVERY and self._saving is None:
            self._saved_at = now
            self._saving = asyncio.get_running_loop().run_in_executor(None, self._save)
            self._saving.add_done_callback(lambda _f: setattr(self, "_saving", None))

    def _save(self) -> None:
        if self.watch.last_push_at is None:
            return
        try:
            save_last_push(self._storage, self.watch.last_push_at, self.intake.accepted)
        except StorageError as err:
            _LOGGER.warning("cannot write %s (%s): 'check' may show an older last push",
                            PUSHES_FILE, err)

    def _heard(self, record: TrackedLock, report: Report) -> None:
        """A command landed: the lock must record it, and a working callback push it."""
        if (report.source is Source.COMMAND and report.fact is Fact.LOCK
                and (record.listing.has_gateway or record.listing.wifi)):
            self.watch.expect(record.lock_id, record.name, LockChange.UNLOCKED
                              if report.value == UNSECURED else LockChange.LOCKED)


async def _cancel_the_rest() -> None:
    """On a loop about to stop: end its other tasks, so none is destroyed pending."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _Handover:
    """The receiver's sink, on the receiver's thread: ``lock_mac`` is a dictionary look-up
    (safe from any thread); each accepted push goes to the bridge's loop, in order."""

    def __init__(self, sink: PushService, loop: asyncio.AbstractEventLoop) -> None:
        self._sink = sink
        self._loop = loop

    def lock_mac(self, lock_id: int) -> str | None:
        return self._sink.lock_mac(lock_id)

    def accept(self, push: Any) -> None:
        self._loop.call_soon_threadsafe(self._sink.accept, push)
