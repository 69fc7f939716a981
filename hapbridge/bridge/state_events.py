"""A state change the registry took, as one line of the event log (``events.jsonl``).

The registry is the one place every state change passes (the bolt, the door, passage
mode), so it writes them all: a pushed record with who and how, a poll answer, the
auto-lock model, and a HomeKit wish's command
(its source in the log is ``homekit``: every command the bridge sends is one). A state shown
from ``locks.json`` at a quick restart is not news and is not written, nor is passage
mode's first read at start (the registry skips it: the lock has had it all along).
"""

from __future__ import annotations

from accessories.door_sensor import CLOSED, OPEN
from accessories.ttlock_lock import SECURED, UNSECURED
from hapbridge.bridge.tracked_lock import Fact, Report, TrackedLock
from hapbridge.event_log import Event, Source

_CHANGE = {
    Fact.LOCK: {SECURED: "locked", UNSECURED: "unlocked"},
    Fact.DOOR: {CLOSED: "door closed", OPEN: "door open"},
    Fact.PASSAGE: {1: "passage mode on", 0: "passage mode off"},
}
_SOURCE = {Source.COMMAND: Source.HOMEKIT}  # the bridge's commands are HomeKit's wishes


def event_for(record: TrackedLock, report: Report) -> Event | None:
    """The event for a report that changed what the lock shows (None: nothing to tell)."""
    if report.source is Source.CACHE:
        return None
    return Event(lock_id=record.lock_id,
                 change=_CHANGE[report.fact].get(report.value, "state unknown"),
                 source=_SOURCE.get(report.source, report.source),
                 lock_name=record.listing.alias, who=report.who, how=report.how,
                 at=report.at, lock_time=report.lock_date)
