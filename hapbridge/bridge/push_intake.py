"""The bridge's record sink: pushed lock records become reports to each lock's record.

The receiver (``push/receiver.py``) hands over pushes that passed its checks, one at a
time. Each record goes through the lock's gate (``RecordOrder``: duplicates, the far
future, failed tries and unknown types stop there); its bolt change is a PUSH report to the
registry, stamped with the lock's clock, so the record's one ordering rule decides against
polls and commands too; the battery goes to the accessory; the door and the tamper flag
go to the door sensor (``door_state.pushed``: a DOOR report, ordered the same way). Alerts
and failed tries go to the event log as they are; bolt and door changes are written by the
registry, which knows whether they changed anything.
No cloud call is made for any of it.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from accessories.ttlock_lock import SECURED, UNSECURED
from hapbridge.bridge import door_state
from hapbridge.bridge.push_watch import PushWatch
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.log_limit import RateLimitedLog
from hapbridge.push.events import events_of, log_line
from hapbridge.push.ordering import Judgement, Verdict
from hapbridge.push.records import Push
from hapbridge.ttlock.record_types import LockChange

_LOGGER = logging.getLogger(__name__)

_STATE = {LockChange.LOCKED: SECURED, LockChange.UNLOCKED: UNSECURED}


class PushIntake:
    """A :class:`~hapbridge.push.receiver.RecordSink` over the registry."""

    def __init__(self, registry: LockRegistry, watch: PushWatch) -> None:
        self._registry = registry
        self._watch = watch
        self.accepted = 0
        # a lock whose clock jumped sends every record from the future, and a replay repeats
        # them: one warning a minute per lock, like any other line a push can trigger
        self._future = RateLimitedLog(_LOGGER)

    def lock_mac(self, lock_id: int) -> str | None:
        record = self._registry.get(lock_id)
        return None if record is None else record.listing.mac

    def accept(self, push: Push) -> None:
        record = self._registry.get(push.lock_id)
        if record is None:  # removed between the request and now
            return
        self.accepted += 1
        self._watch.heard(record.lock_id, record.name, push.records)
        now_ms, now = int(time.time() * 1000), time.monotonic()
        for judgement in record.records.judge_push(push.records, now_ms):
            self._apply(record, judgement, now_ms, now)

    def _apply(self, record: TrackedLock, judgement: Judgement, now_ms: int,
               now: float) -> None:
        pushed, registry = judgement.record, self._registry
        battery_before = record.listing.battery
        taken = False
        # When the lock's clock says it happened (never later than now): a poll sent after
        # it is newer, and a command confirmed after it (its own record) too.
        since = now - max(0, now_ms - pushed.lock_date) / 1000
        if judgement.lock is not None:
            taken = registry.report(record.lock_id, Report(
                Fact.LOCK, _STATE[judgement.lock], Source.PUSH, since=since,
                lock_date=pushed.lock_date, who=pushed.username,
                how=str(pushed.meaning.method or "")))
        if judgement.battery is not None:
            registry.report_battery(record.lock_id, judgement.battery)
        door_state.pushed(registry, record.lock_id, judgement, since)  # door and tamper
        level, line = log_line(judgement, record.name)
        if judgement.lock is not None and not taken and judgement.door is None:
            level, line = logging.DEBUG, (f"{record.name}: pushed record confirms the state "
                                          f"shown, or is older ({pushed.summary()})")
        if judgement.confirms_auto_lock:
            line += f"; confirms auto-lock ({record.listing.auto_lock_seconds or '?'} s)"
        if judgement.verdict is Verdict.FUTURE:
            self._future.log(f"future {record.lock_id}", level, "%s", line)
        else:
            _LOGGER.log(level, "%s", line)
        # the bolt and the door are written by the registry (it knows what changed)
        for event in events_of(dataclasses.replace(judgement, lock=None, door=None),
                               record.listing.alias,
                               battery_before=battery_before):
            registry.events.append(event)
