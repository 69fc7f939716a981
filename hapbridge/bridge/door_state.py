"""The door sensor as a state source: what a poll or a pushed record says of the door.

The door is a fact of its own on the lock's record (``Fact.DOOR``), ordered like the bolt
(an older report never overwrites a newer one) but separately from it, so a late door
record is not lost behind a newer unlock. ``queryOpenState`` reports it when the bridge
polls the lock anyway; a pushed record 30/31 (and 64, "door not closed", which keeps it
open) when pushes arrive. The tamper flag follows ``push/door_alerts.py``.
"""

from __future__ import annotations

from accessories.door_sensor import CLOSED, OPEN
from hapbridge.bridge.registry import LockRegistry
from hapbridge.bridge.tracked_lock import Fact, Report, Source
from hapbridge.ttlock.models import LockState
from hapbridge.ttlock.record_types import DoorChange

CONTACT = {DoorChange.OPEN: OPEN, DoorChange.CLOSED: CLOSED}  # -> ContactSensorState


def polled(registry: LockRegistry, lock_id: int, state: LockState, sent: float) -> None:
    """A state query's door reading, stamped with when the query was sent."""
    if state.door is not None:
        registry.report(lock_id, Report(Fact.DOOR, CONTACT[state.door], Source.POLL,
                                        since=sent))
