"""Everything the bridge knows of one lock, in one typed record; and how state reaches it.

State sources (a command's result, a poll answer, the auto-lock model, pushed records, the
passage-mode configuration) never touch the accessory: each hands a :class:`Report` to the
registry, which offers it to the lock's record (:meth:`TrackedLock.accept`), saves what a
restart relies on, and lets the accessory and its extra services (door sensor, passage
switch) render the record. The ordering rule lives in one place,
:meth:`Report.newer_than`: a report older than what the record shows (by the time its fact
was known to hold) never overwrites it, and among reports carrying the lock's own clock
(pushed records) an older or equal ``lock_date`` is a replay or a duplicate. A pushed
record's ``since`` is when the lock's clock says it happened, so a poll sent after it wins
and one sent before it loses; a command's own record (pushed after the cloud confirmed the
command) is older than the command's report, so it confirms it and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from enum import Enum

from accessories.lock_services import LockServices, ServicesView
from accessories.ttlock_lock import SECURED, UNKNOWN, UNSECURED, LockView, TTLockLock
from hapbridge.bridge.dispatcher import Mailbox
from hapbridge.bridge.lock_cache import KnownLock
from hapbridge.event_log import Source  # where a state came from: one enum, events too
from hapbridge.push.ordering import RecordOrder
from hapbridge.ttlock.passage import PassageMode
from hapbridge.ttlock.reach import Carrier, Cause, Link


class Fact(Enum):
    """What a report is about; each is ordered on its own (a late door report is not lost
    behind a newer bolt one)."""

    LOCK = "lock"  # HomeKit LockCurrentState
    DOOR = "door"  # ContactSensorState: 0 closed, 1 open (bridge/door_state.py)
    PASSAGE = "passage"  # passage mode: 1 on, 0 off (bridge/passage_jobs.py)


@dataclass(frozen=True)
class Report:
    """One state source's news: ``value`` of ``fact`` held from ``since`` on.

    ``since`` is loop time (``time.monotonic``): for a poll, when the query was sent (the
    answer may predate anything that happened while it travelled); for a command, when the
    cloud confirmed it. ``at`` is the wall-clock time kept on disk. ``lock_date`` is the
    lock's own clock (ms) when the source has it; ``who`` and ``how`` what a record says
    of it (a guest's name, "keypad"), for the event log.
    """

    fact: Fact
    value: int
    source: Source
    since: float = field(default_factory=time.monotonic)
    at: float = field(default_factory=time.time)
    lock_date: int | None = None
    who: str = ""
    how: str = ""

    def newer_than(self, shown: Report | None) -> bool:
        if shown is None:
            return True
        if self.lock_date is not None and shown.lock_date is not None:
            return self.lock_date > shown.lock_date
        return self.since >= shown.since


@dataclass(eq=False)
class TrackedLock:
    """One lock: listing, route, reachability, shown state, wishes, timers, accessory."""

    listing: KnownLock  # lock/list and lock/detail (what locks.json keeps)
    accessory: TTLockLock
    mailbox: Mailbox
    carrier: Carrier | None = None  # what carries its commands; None until the map
    link: Link | None = None  # the gateway the cloud uses for it: signal, online
    cause: Cause | None = None  # why it shows No Response (None: reachable)
    shown: dict[Fact, Report] = field(default_factory=dict)
    settled: int = SECURED  # the last known secured/unsecured: where a failed wish reverts
    services: LockServices = field(default_factory=LockServices)  # door sensor, passage
    passage: PassageMode | None = None  # the cloud's passage-mode configuration, once read
    tampered: bool = False  # the tamper alarm, until the door is used as usual
    sensor_battery_low: bool = False  # a wireless door sensor's battery (doorSensor/query)
    auto_lock: asyncio.TimerHandle | None = None
    auto_unlock: asyncio.TimerHandle | None = None  # passage mode's auto-unlock at a window
    poll_retry: asyncio.TimerHandle | None = None
    poll_failures: int = 0  # polls in a row that met a busy gateway or no answer
    missing: int = 0  # lock lists in a row without it
    doubt: bool = False  # a command is on its way: locks.json says its state is not known
    records: RecordOrder = field(default_factory=RecordOrder)  # pushed records: the gate
    bridge: int = 1  # the HomeKit bridge it is published on (placement.py)

    @property
    def lock_id(self) -> int:
        return self.listing.lock_id

    @property
    def name(self) -> str:
        """How the log names it."""
        return f"{self.listing.alias} ({self.lock_id})"

    @property
    def state(self) -> int:
        """The shown LockCurrentState."""
        report = self.shown.get(Fact.LOCK)
        return UNKNOWN if report is None else report.value

    @property
    def pollable(self) -> bool:
        """A state query can reach it: behind a gateway, or on Wi-Fi. Asking one without
        either costs a call that can only answer -2012."""
        return ((self.listing.has_gateway or self.listing.wifi)
                and self.cause is not Cause.NO_GATEWAY)

    def accept(self, report: Report) -> bool:
        """Take ``report`` unless what is shown is newer; True when taken."""
        if not report.newer_than(self.shown.get(report.fact)):
            return False
        self.shown[report.fact] = report
        if report.fact is Fact.LOCK and report.value in (SECURED, UNSECURED):
            self.settled = report.value
        return True

    def view(self, cloud_up: bool) -> LockView:
        """What HomeKit shows: the state, the wish on its way (else the state), reachable."""
        wish = self.mailbox.target
        target = wish if wish is not None else (
            self.state if self.state in (SECURED, UNSECURED) else self.settled)
        return LockView(current=self.state, target=target,
                        available=cloud_up and self.cause is None)

    def services_view(self) -> ServicesView:
        door, passage = self.shown.get(Fact.DOOR), self.shown.get(Fact.PASSAGE)
        return ServicesView(
            door_open=None if door is None else bool(door.value), tampered=self.tampered,
            sensor_battery_low=self.sensor_battery_low,
            passage_on=wish if (wish := self.mailbox.passage_target) is not None else (
                None if passage is None else bool(passage.value)))

    def render(self, cloud_up: bool) -> None:
        self.accessory.render(self.view(cloud_up))
        self.services.render(self.services_view())

    def persisted(self) -> KnownLock:
        """What ``locks.json`` keeps: the listing, with the state a restart may show (none
        when the shown state is not known: a restart must not rely on an older one)."""
        shown = self.shown.get(Fact.LOCK)
        if shown is None and not self.doubt:
            return self.listing
        known = shown is not None and shown.value in (SECURED, UNSECURED) and not self.doubt
        return dataclasses.replace(self.listing, state=shown.value if shown and known else None,
                                   state_at=shown.at if shown and known else 0.0)

    def cancel_timers(self) -> None:
        for handle in (self.auto_lock, self.auto_unlock, self.poll_retry):
            if handle is not None:
                handle.cancel()
        self.auto_lock = self.auto_unlock = self.poll_retry = None
