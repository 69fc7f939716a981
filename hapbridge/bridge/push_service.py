"""The push receiver in the bridge process: started with the bridge, wired to its core.

With a ``callback`` block the bridge listens for TTLock's pushes: the receiver (checks,
forwarding) hands them to :class:`PushIntake` (records -> reports), :class:`PushWatch`
tells the scheduler's plan whether pushes arrive, and each successful command opens an
expectation of its record. ``STORAGE/pushes.json`` keeps when the last push arrived, for
``check`` (``push/arrivals.py``: no cloud call, no running bridge needed). The start-up line
names the local URL with the secret path masked: ``hapbridge callback-url`` prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

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

    async def start(self) -> None:
        """Listen (a ReceiverError naming callback.port when it cannot), then wire."""
        secret = path_secret(self._storage)
        receiver = PushReceiver(self.settings, secret, self, account=self._account)
        await receiver.start()
        self.receiver = receiver
        self._hub.scheduler.relaxed = lambda: self.watch.relaxed
        self._hub.registry.listeners.append(self._heard)
        _LOGGER.info("pushes: receiver at %s (secret path masked; 'hapbridge callback-url' "
                     "prints the URL to paste)", masked_url(receiver.urls.local, secret))

    async def stop(self) -> None:
        self.watch.close()
        if self.receiver is not None:
            await self.receiver.stop()
            self.receiver = None
        if self._saving is not None:
            with contextlib.suppress(Exception):
                await self._saving
        self._save()

    # -- RecordSink: the intake, plus when the last push came -----------------------

    def known_lock(self, lock_id: int) -> bool:
        return self.intake.known_lock(lock_id)

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
