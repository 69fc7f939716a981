"""The published locks: lock list -> records and accessories, AIDs, removal, ``locks.json``.

One :class:`TrackedLock` per published lock, kept here and nowhere else; removing a lock is
dropping its record. State sources report through :meth:`LockRegistry.report`: the record
takes the report or not (its ordering rule), a changed state is on disk before HomeKit
sees it (a restart may rely on it: a crash right after must not bring back the state from
before), then the accessory renders the record and the listeners (the auto-lock model)
hear of it.

One odd answer never wipes a Home: a lock leaves HomeKit only after REMOVE_AFTER_SWEEPS
lock lists in a row lack it, and an unreadable item keeps its lock as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from accessories.lock_services import Wanted, add_lock_services
from accessories.passage_switch import PassageWish
from accessories.ttlock_lock import SECURED, UNSECURED, TTLockLock
from hapbridge.bridge.cache_writer import CacheWriter
from hapbridge.bridge.dispatcher import Mailbox
from hapbridge.bridge.futures import resolved
from hapbridge.bridge.lock_cache import KnownLock, load_cached_locks
from hapbridge.bridge.log_text import describe
from hapbridge.bridge.placement import Host, Placed, Placement
from hapbridge.bridge.state_events import event_for
from hapbridge.bridge.tracked_lock import Fact, Report, Source, TrackedLock
from hapbridge.config import PlatformConfig
from hapbridge.event_log import EVENTS_FILE, EventLog
from hapbridge.storage import Storage
from hapbridge.ttlock.models import Lock, LockDetail
from hapbridge.ttlock.reach import Cause

_LOGGER = logging.getLogger(__name__)

REMOVE_AFTER_SWEEPS = 2
# A command's result goes to disk this long after its event (the disk holds "in doubt"
# meanwhile): writing while the event is on its way would slow it down.
SAVE_AFTER = 0.1
Listener = Callable[[TrackedLock, Report], None]


class LockRegistry:
    """The records of the published locks, and what HomeKit and the disk see of them."""

    def __init__(
        self,
        *,
        storage: Storage,
        placement: Placement,
        hosts: Callable[[int], Host],
        platform: PlatformConfig,
        discard: Callable[[Mailbox], None],
        on_target: Callable[[int, int], None],
        cloud_up: Callable[[], bool],
        on_passage: PassageWish = lambda _lock_id, _on: None,
    ) -> None:
        self.storage = storage
        self.placement = placement
        self._hosts = hosts  # bridge number -> its driver and Bridge (made when new)
        self.platform = platform
        self._discard = discard  # the dispatcher drops a removed lock's work
        self.records: dict[int, TrackedLock] = {}
        self.listeners: list[Listener] = []
        self.announce = False  # the driver runs: layout changes are told to HomeKit
        self.published = False
        self._on_target = on_target
        self._on_passage = on_passage  # the passage-mode switch's wishes (passage_jobs)
        self._cloud_up = cloud_up
        self._cached: dict[int, KnownLock] = {}  # locks.json, until the first list
        self._writer = CacheWriter(storage)
        self._json: dict[int, dict[str, Any]] = {}  # each record as locks.json keeps it
        self._unsaved: set[int] = set()  # records whose news follows in a moment
        self._saving: asyncio.TimerHandle | None = None
        self._left_out: tuple[int, ...] = ()
        self.events = EventLog(storage.path(EVENTS_FILE))  # every state change, its source

    @property
    def max_locks(self) -> int:
        return self.placement.capacity

    def on_bridge(self, number: int) -> list[TrackedLock]:
        return [record for record in self.records.values() if record.bridge == number]

    def get(self, lock_id: int) -> TrackedLock | None:
        return self.records.get(lock_id)

    def name(self, lock_id: int) -> str:
        record = self.records.get(lock_id)
        return record.name if record is not None else str(lock_id)

    # -- state ------------------------------------------------------------------------

    def report(self, lock_id: int, report: Report) -> bool:
        """A state source's news for a lock; True when the lock's record took it."""
        record = self.records.get(lock_id)
        if record is None:
            return False
        before = record.state
        shown = record.shown.get(report.fact)  # the door and passage mode: their own news
        was = before if report.fact is Fact.LOCK else (None if shown is None else shown.value)
        if not record.accept(report):
            return False
        in_doubt = record.doubt and report.fact is Fact.LOCK  # only the bolt's own news
        record.doubt = record.doubt and not in_doubt
        changed = record.state != before or in_doubt
        if changed and not in_doubt:
            # On disk before HomeKit sees it, as a restart may rely on it.
            self._writer.write(self._items((lock_id,)), now=True)
        record.render(self._cloud_up())
        if changed and in_doubt:
            # The disk says the state is in doubt (a command was on its way), which a
            # restart never relies on: the new state follows once the event is out.
            self._save_soon(lock_id)
        # passage mode's first read (at start) is what the lock has had, not news
        first_read = report.fact is Fact.PASSAGE and shown is None and (
            report.source is Source.POLL)
        if (report.value != was and not first_read
                and (event := event_for(record, report)) is not None):
            self.events.append(event)  # after the HomeKit event: never ahead of it
        for listener in self.listeners:
            listener(record, report)
        return True

    def report_battery(self, lock_id: int, percent: int) -> None:
        """A battery level a source read (each pushed record carries one)."""
        if (record := self.records.get(lock_id)) is not None:
            record.listing = dataclasses.replace(record.listing, battery=percent)
            self._show_battery(record)

    def doubt(self, lock_id: int) -> asyncio.Future[None]:
        """A command for the lock is on its way: until its result, the lock's state on disk
        is "in doubt" (a restart asks the lock). Done once that is on disk."""
        record = self.records.get(lock_id)
        if record is None or not self.published:
            return resolved(None)
        record.doubt = True
        return self._writer.write(self._items((lock_id,)), now=False)

    def render(self, lock_id: int) -> None:
        if (record := self.records.get(lock_id)) is not None:
            record.render(self._cloud_up())

    def render_all(self) -> None:
        for record in self.records.values():
            record.render(self._cloud_up())

    def set_cause(self, lock_id: int, cause: Cause | None, why: str = "",
                  only: tuple[Cause, ...] | None = None) -> None:
        """Mark the lock unreachable for ``cause`` (None: reachable; with ``only``, clear
        only those causes). Logged when it changes."""
        record = self.records.get(lock_id)
        if record is None or (only is not None and record.cause not in only):
            return
        if cause is None and record.cause is not None:
            _LOGGER.info("%s %s", record.name, why or "answers again")
        elif cause is not None and record.cause is None:
            until = ("a gateway reaches it (the gateway map is read daily)"
                     if cause is Cause.NO_GATEWAY else "it answers again")
            _LOGGER.warning("%s is unreachable: %s; HomeKit shows it as No Response until %s",
                            record.name, why, until)
        record.cause = cause
        record.render(self._cloud_up())

    # -- the lock list ----------------------------------------------------------------

    def load_cache(self) -> list[KnownLock]:
        cached = load_cached_locks(self.storage)
        self._cached = {lock.lock_id: lock for lock in cached}
        return cached

    def placeholders(self) -> list[KnownLock]:
        """Without a lock cache, the locks that have AIDs, named by id until the cloud
        answers: publishing none would make HomeKit drop every room and scene."""
        homes = self.placement.homes()
        lock_ids = [lid for lid in sorted(homes, key=lambda lid: (homes[lid].bridge,
                                                                   homes[lid].aid))
                    if not self.platform.excludes(lid, "")]
        if lock_ids:
            _LOGGER.warning("no lock cache: publishing the %d locks this bridge published "
                            "before, named by id until the cloud answers", len(lock_ids))
        return [KnownLock(lock_id=lid, alias=f"Lock {lid}") for lid in lock_ids]

    def apply_list(self, listed: Iterable[Lock], unreadable: Iterable[int] = ()) -> list[int]:
        """Reconcile the records with a fresh ``lock/list``; the ids of new locks."""
        listed = list(listed)
        known = [
            KnownLock.from_lock(lock, self._previous(lock.lock_id))
            for lock in listed if not self.platform.excludes(lock.lock_id, lock.alias)
        ]
        answered = {lock.lock_id for lock in listed} | set(unreadable)
        known += [self.records[lid].listing for lid in unreadable if lid in self.records]
        missing = self._not_yet_removed(answered)
        known += [lock for lock, _misses in missing.values()]
        added = self.publish(known, {lid: misses for lid, (_l, misses) in missing.items()})
        self._cached = {}
        for lock_id in answered:
            self.set_cause(lock_id, None, only=(Cause.NOT_LISTED,))
        for record in self.records.values():
            self._show_battery(record)
        self.save()
        return added

    def _previous(self, lock_id: int) -> KnownLock | None:
        record = self.records.get(lock_id)
        return record.listing if record is not None else self._cached.get(lock_id)

    def _not_yet_removed(self, answered: set[int]) -> dict[int, tuple[KnownLock, int]]:
        """Published (or, at the first list, cached) locks this list left out, with how
        many lists in a row lacked them, until that is REMOVE_AFTER_SWEEPS: meanwhile they
        show No Response."""
        kept = {}
        previous = ({lid: r.listing for lid, r in self.records.items()} if self.records
                    else self._cached)
        for lock_id, lock in previous.items():
            if lock_id in answered or self.platform.excludes(lock_id, lock.alias):
                continue
            record = self.records.get(lock_id)
            misses = (record.missing if record is not None else 0) + 1
            if misses >= REMOVE_AFTER_SWEEPS:
                continue
            if misses == 1:
                _LOGGER.warning("%s is missing from the TTLock lock list: shown as No Response,"
                                " removed from HomeKit if the next list lacks it too",
                                f"{lock.alias} ({lock_id})")
            kept[lock_id] = (lock, misses)
        return kept

    def _show_battery(self, record: TrackedLock) -> None:
        accessory, lock = record.accessory, record.listing
        was_low = accessory.battery_low
        accessory.set_battery(lock.battery)
        if accessory.battery_low and not was_low:
            _LOGGER.warning("%s: battery low (%d%%, below lowBatteryThreshold %d%%): "
                            "replace the batteries soon", record.name, lock.battery or 0,
                            self.platform.low_battery_threshold)

    def _place(self, locks: list[KnownLock]) -> dict[int, Placed]:
        """A bridge and an AID for each lock (placement.py); those that fit in no bridge
        are named in the log, once per change."""
        # Shown now, or (at the first list after a start) at the last run: these keep their
        # place before a lock that comes back to a bridge that filled up meanwhile.
        outcome = self.placement.place(locks, self.records or self._cached)
        left_out = tuple(lock.lock_id for lock in outcome.left_out)
        if left_out and left_out != self._left_out:
            names = ", ".join(f"{lock.alias} ({lock.lock_id})" for lock in outcome.left_out)
            _LOGGER.warning(
                "%d locks on this account, but %d HomeKit bridges of %d locks (or the bridges "
                "bridge.bridges pins them to) hold them: NOT published: %s. List locks you do "
                "not need in \"exclude\", or change bridge.bridges.", len(locks),
                self.placement.max_bridges, self.max_locks, names)
        self._left_out = left_out
        return outcome.placed

    def publish(self, locks: list[KnownLock], missing: dict[int, int] | None = None
                ) -> list[int]:
        """Make the records match ``locks`` (``missing``: lists in a row that lacked each
        lock); the ids of the locks added."""
        placed = self._place(locks)
        wanted = {lock.lock_id: lock for lock in locks if lock.lock_id in placed}
        removed = [lid for lid, record in self.records.items()
                   if lid not in wanted or placed[lid].bridge != record.bridge]
        changed = {self.records[lid].bridge for lid in removed}
        for lock_id in removed:
            self._drop(lock_id, moving=lock_id in wanted)
        new = [lock for lock in wanted.values() if lock.lock_id not in self.records]
        added = [lock.lock_id for lock in new if self._add(lock, placed[lock.lock_id])]
        changed |= {placed[lid].bridge for lid in added}
        relaid = 0
        for lock_id, record in self.records.items():
            if lock_id not in added:
                record.listing = wanted[lock_id]
                record.accessory.set_info(name=record.listing.alias)
                record.services.rename(record.accessory.display_name)
                if self._relayout(record):
                    changed.add(record.bridge)
                    relaid += 1
            if missing is not None:
                record.missing = missing.get(lock_id, 0)
            if record.missing:
                record.cause = record.cause or Cause.NOT_LISTED  # keep a cause it had
            record.render(self._cloud_up())
        self.published = True
        if changed:
            self._announce(len(added), len(removed), changed, relaid)
        return added

    def _wanted(self, lock: KnownLock) -> Wanted:
        return Wanted.of(lock.lock_id, lock.alias, lock.feature_value, self.platform)

    def _build(self, lock: KnownLock, placed: Placed) -> TrackedLock:
        """The lock's accessory with the extra services its features and the config ask
        for (appended after the lock's own, in fixed IID slots), in a new record."""
        accessory = TTLockLock(
            self._hosts(placed.bridge).driver, lock_id=lock.lock_id, name=lock.alias,
            aid=placed.aid, serial=lock.mac, model=lock.model, firmware=lock.firmware,
            on_target=self._on_target, low_battery_threshold=self.platform.low_battery_threshold,
        )
        wanted = self._wanted(lock)
        services = add_lock_services(
            accessory, lock_id=lock.lock_id, door_sensor=wanted.door_sensor,
            passage_switch=wanted.passage_switch, on_passage=self._on_passage)
        accessory.set_battery(lock.battery)
        return TrackedLock(lock, accessory, Mailbox(lock.lock_id), services=services,
                           bridge=placed.bridge)

    def _add(self, lock: KnownLock, placed: Placed) -> bool:
        record = self._build(lock, placed)
        try:
            self._hosts(placed.bridge).accessory.add_accessory(record.accessory)
        except ValueError as err:  # HAP-python refuses a duplicate AID (a damaged bridge.json)
            _LOGGER.error("cannot publish %s (%s) as HomeKit accessory %d of bridge %d (%s); "
                          "restore its bridge.json from a backup", lock.alias, lock.lock_id,
                          placed.aid, placed.bridge, err)
            return False
        self.records[lock.lock_id] = record
        return True

    def _relayout(self, record: TrackedLock) -> bool:
        """A lock whose services changed (a start from an older locks.json, a sensor bound
        later) gets its accessory rebuilt under the same AID: the IIDs of what it had stay
        (fixed slots). True when rebuilt."""
        if self._wanted(record.listing) == record.services.wanted:
            return False
        aid = record.accessory.aid
        fresh = self._build(record.listing, Placed(bridge=record.bridge, aid=aid))
        self._hosts(record.bridge).accessory.accessories[aid] = fresh.accessory
        record.accessory, record.services = fresh.accessory, fresh.services
        shown = [name for name, on in (("door sensor", record.services.door_sensor),
                                       ("passage-mode switch", record.services.passage_switch))
                 if on is not None]
        _LOGGER.info("%s: shown in HomeKit with %s", record.name,
                     " and ".join(shown) or "no extra services")
        return True

    def drop(self, lock_id: int, why: str) -> None:
        """The lock is gone for good (the cloud says it no longer exists): out at once."""
        if lock_id in self.records:
            _LOGGER.warning("%s %s: removed from HomeKit", self.name(lock_id), why)
            bridge = self.records[lock_id].bridge
            self._drop(lock_id)
            self._announce(0, 1, {bridge})
            self.save()

    def _drop(self, lock_id: int, *, moving: bool = False) -> None:
        """Out of HomeKit (``moving``: onto another bridge, which placement.py logged)."""
        record = self.records.pop(lock_id)
        record.cancel_timers()
        self._discard(record.mailbox)
        self._hosts(record.bridge).accessory.accessories.pop(record.accessory.aid, None)
        if not moving:
            _LOGGER.info("%s (%s) is no longer on the account: removed from HomeKit",
                         record.accessory.display_name, lock_id)

    def _announce(self, added: int, removed: int, bridges: set[int], relaid: int = 0
                  ) -> None:
        if not self.announce:
            return
        _LOGGER.info("locks changed: %d added, %d removed%s", added, removed,
                     f", {relaid} with new services" if relaid else "")
        for number in sorted(bridges):
            try:
                self._hosts(number).layout_changed()  # persist it, tell the controllers
            except Exception as err:
                _LOGGER.error("cannot announce the changed locks of bridge %d to HomeKit (%s);"
                              " they show after the next change or restart", number,
                              describe(err))

    def apply_detail(self, lock_id: int, detail: LockDetail) -> None:
        if (record := self.records.get(lock_id)) is not None:
            record.listing = lock = record.listing.with_detail(detail)
            record.accessory.set_info(model=lock.model, firmware=lock.firmware)

    # -- locks.json -------------------------------------------------------------------

    def restore_states(self, window: float) -> set[int]:
        """Show each lock's cached state while it is younger than ``window``; the locks
        shown so (they need no query at start). An unlocked lock that locks itself is
        asked: its state may have changed by itself."""
        now_wall, now = time.time(), time.monotonic()
        restored = set()
        for lock_id, record in self.records.items():
            lock = record.listing
            age = now_wall - lock.state_at
            if lock.state not in (SECURED, UNSECURED) or not 0 <= age < window:
                continue
            if lock.state == UNSECURED and lock.auto_lock_seconds:
                continue
            cached = Report(Fact.LOCK, lock.state, Source.CACHE, since=now - age,
                            at=lock.state_at)
            if self.report(lock_id, cached):
                restored.add(lock_id)
        return restored

    def save(self) -> None:
        """Write ``locks.json`` now when its content changed (a sweep usually changes
        nothing)."""
        if self.published:
            self._writer.write(self._items(), now=True)

    def _save_soon(self, lock_id: int) -> None:
        self._unsaved.add(lock_id)
        if self._saving is None:
            self._saving = asyncio.get_running_loop().call_later(SAVE_AFTER, self._save_later)

    def _save_later(self) -> None:
        self._saving = None
        changed, self._unsaved = self._unsaved, set()
        self._writer.write(self._items(changed), now=False)

    def _items(self, changed: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """What locks.json holds, rebuilt for the ``changed`` locks only (every lock when
        None): with 149 locks, a command must not convert them all."""
        if changed is None:
            self._unsaved.clear()
            self._json = {lid: r.persisted().to_json() for lid, r in self.records.items()}
        for lock_id in changed or ():
            if (record := self.records.get(lock_id)) is not None:
                self._json[lock_id] = record.persisted().to_json()
        return [self._json[lid] if lid in self._json else
                self._json.setdefault(lid, record.persisted().to_json())
                for lid, record in self.records.items()]

    def stop_timers(self) -> None:
        for record in self.records.values():
            record.cancel_timers()

    def close(self) -> None:
        """The last state saved, the writer thread done (the bridge stops)."""
        if self._saving is not None:
            self._saving.cancel()
            self._saving = None
        self.save()
        self._writer.close()
