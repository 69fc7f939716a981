"""A judged record as event-log entries: what changed, who did it and how."""

from __future__ import annotations

import logging

from hapbridge.event_log import Event, Source
from hapbridge.push.ordering import Judgement, Verdict
from hapbridge.ttlock.record_types import DoorChange


def events_of(judgement: Judgement, lock_name: str = "", *, battery_before: int | None = None,
              at: float | None = None) -> list[Event]:
    """The changes a judgement applied, then its alert (shown even when the record was
    older, since an alert is news either way); a failed try is logged as one too. Every
    record carries the battery: it is an event only when it differs from ``battery_before``
    (what the lock showed)."""
    record = judgement.record
    meaning = record.meaning
    changes: list[str] = []
    if judgement.verdict is Verdict.FAILED_TRY:
        changes.append(f"failed try: {meaning.description}")
    if judgement.lock is not None:
        changes.append(judgement.lock.value)
    if judgement.door is not None:
        changes.append("door open" if judgement.door is DoorChange.OPEN else "door closed")
    if judgement.battery is not None and judgement.battery != battery_before:
        changes.append(f"battery {judgement.battery}%")
    if judgement.alert is not None and judgement.verdict not in (Verdict.DUPLICATE,
                                                                 Verdict.FUTURE):
        changes.append(f"alert: {judgement.alert}")
    extra = {} if at is None else {"at": at}
    return [
        Event(lock_id=record.lock_id, change=change, source=Source.PUSH, lock_name=lock_name,
              who=record.username, how=str(meaning.method or ""), lock_time=record.lock_date,
              **extra)
        for change in changes
    ]


def log_line(judgement: Judgement, lock_name: str) -> tuple[int, str]:
    """The level and log-safe line (codes masked) for a judged record: changes and failed
    tries at INFO, an alert at WARNING, a lock clock far ahead at WARNING, the rest (stale,
    duplicate, unknown type) at DEBUG."""
    record = judgement.record
    summary = record.summary()
    verdict = judgement.verdict
    if verdict is Verdict.FUTURE:
        return logging.WARNING, (f"{lock_name}: ignoring a pushed record from the future "
                                 f"({summary}): check the lock's clock in the TTLock app")
    if judgement.alert is not None and verdict is not Verdict.DUPLICATE:
        return logging.WARNING, f"{lock_name}: alert: {judgement.alert} ({summary})"
    if verdict in (Verdict.APPLIED, Verdict.FAILED_TRY):
        return logging.INFO, f"{lock_name}: {summary} (pushed)"
    return logging.DEBUG, f"{lock_name}: pushed record {verdict.value}, ignored ({summary})"
