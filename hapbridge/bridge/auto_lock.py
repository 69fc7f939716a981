"""The auto-lock model: a state source for what the lock does by itself and never reports.

A lock with ``autoLockTime`` secures itself that long after an unlock. The model hears
every state the registry takes: an unlock arms a timer (a command's unlock afresh; a poll's
only when none runs, since it may just confirm the unlock we made), a secured state cancels
it, and when it fires it reports SECURED like any other source. A timer belongs to the
unlock that armed it, and none is armed while a newer command waits (that one decides).
"""

from __future__ import annotations

import asyncio
import logging

from accessories.ttlock_lock import SECURED, UNSECURED
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock

_LOGGER = logging.getLogger(__name__)


class AutoLockModel:
    def __init__(self, registry: LockRegistry) -> None:
        self._registry = registry
        self.stopped = False
        registry.listeners.append(self.heard)

    def heard(self, record: TrackedLock, report: Report) -> None:
        if report.fact is not Fact.LOCK or report.source is Source.AUTO_LOCK:
            return
        if report.value == SECURED:
            self.cancel(record)
        elif report.value == UNSECURED and (report.source is Source.COMMAND
                                            or record.auto_lock is None):
            self.arm(record)

    def arm(self, record: TrackedLock) -> None:
        self.cancel(record)
        seconds = record.listing.auto_lock_seconds
        if self.stopped or not seconds or record.mailbox.has_command:
            return

        def fire() -> None:
            if record.auto_lock is handle:  # only the timer that is still current
                record.auto_lock = None
                if self._registry.report(record.lock_id,
                                         Report(Fact.LOCK, SECURED, Source.AUTO_LOCK)):
                    _LOGGER.info("%s: auto-locked", record.name)

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        record.auto_lock = handle

    @staticmethod
    def cancel(record: TrackedLock) -> None:
        if record.auto_lock is not None:
            record.auto_lock.cancel()
            record.auto_lock = None
