"""The auto-lock model: a state source for what the lock does by itself and never reports.

A lock with ``autoLockTime`` secures itself that long after an unlock. The model hears
every state the registry takes: an unlock arms a timer (a command's unlock afresh; a poll's
only when none runs, since it may just confirm the unlock we made), a secured state cancels
it, and when it fires it reports SECURED like any other source. A timer belongs to the
unlock that armed it, and none is armed while a newer command waits (that one decides).

Passage mode is honoured as TTLock defines it (``ttlock/passage_schedule.py``, on the
lock's clock): within a window the lock stays unlocked, so the relock is due
``autoLockTime`` after the window ends; with auto-unlock on (and bit 46) a secured lock
opens when a window starts (a second timer). A changed configuration plans both again.
Until the configuration is read, a lock whose details say passage mode is on is treated
as held open (no relock shown that the lock may not make).
"""

from __future__ import annotations

import asyncio
import logging
import time

from accessories.ttlock_lock import SECURED, UNSECURED
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.ttlock.models import Feature, has_feature
from hapbridge.ttlock.passage import PassageMode, PassagePeriod
from hapbridge.ttlock.passage_schedule import PassageSchedule

_LOGGER = logging.getLogger(__name__)

ALWAYS = PassageMode(enabled=True, periods=(PassagePeriod(),))
OFF = PassageMode(enabled=False)


def schedule_of(record: TrackedLock) -> PassageSchedule:
    """The lock's passage mode on its own clock."""
    mode = record.passage
    if mode is None:
        mode = ALWAYS if record.listing.passage_mode else OFF
    return PassageSchedule(mode, record.listing.timezone_offset_ms)


class AutoLockModel:
    def __init__(self, registry: LockRegistry) -> None:
        self._registry = registry
        self.stopped = False
        registry.listeners.append(self.heard)

    def heard(self, record: TrackedLock, report: Report) -> None:
        if report.fact is Fact.PASSAGE:
            self.replan(record)
            return
        if report.fact is not Fact.LOCK:
            return
        if report.value == SECURED:
            self.cancel(record)
            self._plan_unlock(record)
        elif report.value == UNSECURED:
            self._cancel_unlock(record)
            if report.source in (Source.COMMAND, Source.AUTO_LOCK) or record.auto_lock is None:
                self.arm(record, since=report.at)

    def replan(self, record: TrackedLock) -> None:
        """The schedule changed: the lock's own next move again."""
        if record.state == UNSECURED:
            shown = record.shown.get(Fact.LOCK)
            self.arm(record, since=shown.at if shown is not None else time.time())
        elif record.state == SECURED:
            self._plan_unlock(record)

    def arm(self, record: TrackedLock, since: float | None = None) -> None:
        """The relock of a lock unlocked at ``since`` (unix seconds; default now)."""
        self.cancel(record)
        seconds = record.listing.auto_lock_seconds
        if self.stopped or not seconds or record.mailbox.has_command:
            return
        now = time.time()
        due = schedule_of(record).relock_from(now if since is None else since, seconds, now)
        if due is None:
            _LOGGER.debug("%s: passage mode holds it open: no auto-lock", record.name)
            return

        def fire() -> None:
            if record.auto_lock is not handle:  # only the timer that is still current
                return
            record.auto_lock = None
            if schedule_of(record).active(time.time()):  # a window began meanwhile
                self.arm(record)
                return
            if self._registry.report(record.lock_id,
                                     Report(Fact.LOCK, SECURED, Source.AUTO_LOCK)):
                _LOGGER.info("%s: auto-locked", record.name)

        handle = asyncio.get_running_loop().call_later(max(0.0, due - now), fire)
        record.auto_lock = handle

    def _plan_unlock(self, record: TrackedLock) -> None:
        """With auto-unlock on, the secured lock opens when the next window starts."""
        self._cancel_unlock(record)
        if self.stopped:
            return
        now = time.time()
        supported = has_feature(record.listing.feature_value, Feature.PASSAGE_AUTO_UNLOCK)
        event = schedule_of(record).next_event(
            unlocked=False, since=now, now=now, auto_lock_seconds=0,
            auto_unlock_supported=supported)
        if event is None:
            return

        def fire() -> None:
            if record.auto_unlock is not handle:
                return
            record.auto_unlock = None
            if record.state == UNSECURED or record.mailbox.has_command:
                return  # open already, or a newer wish decides
            if not schedule_of(record).active(time.time()):
                self._plan_unlock(record)  # early by a hair, or the schedule changed
                return
            if self._registry.report(record.lock_id,
                                     Report(Fact.LOCK, UNSECURED, Source.AUTO_LOCK)):
                _LOGGER.info("%s: unlocked by passage mode (a window started)", record.name)

        handle = asyncio.get_running_loop().call_later(max(0.0, event.at - now), fire)
        record.auto_unlock = handle

    @staticmethod
    def cancel(record: TrackedLock) -> None:
        if record.auto_lock is not None:
            record.auto_lock.cancel()
            record.auto_lock = None

    @staticmethod
    def _cancel_unlock(record: TrackedLock) -> None:
        if record.auto_unlock is not None:
            record.auto_unlock.cancel()
            record.auto_unlock = None
