"""Which bridge each lock is on, and its AID there: assigned once, kept in storage.

A HomeKit bridge holds 149 locks; an account with more gets more bridges in one process.
Each bridge's ``bridge.json`` holds the AIDs of its locks, so that map is also where a lock
lives: one source of truth, nothing to reconcile. A lock never moves by itself (a moved
lock loses its room, scenes and automations in HomeKit): locks keep their bridge while it
has room, new ones fill the first bridge with room, and removed ones leave a gap that a
later lock may fill. Only the config moves a lock (``bridge.bridges[].locks``/``groups``
pin it, and a bridge with such rules holds only the locks they name).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pyhap.accessory import Bridge

from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_cache import KnownLock
from hapbridge.config import MAX_BRIDGES, ChildBridge
from hapbridge.storage import StorageError

_LOGGER = logging.getLogger(__name__)

MAX_LOCKS = 149  # a bridge holds 150 accessories, itself included


class Host(Protocol):
    """One HomeKit bridge as the registry uses it: the driver its accessories belong to and
    the Bridge accessory they are added to."""

    number: int
    driver: Any
    accessory: Bridge

    def layout_changed(self) -> None:
        """Locks were added or removed: tell the controllers (when it runs)."""


@dataclass
class FixedHost:
    """A bridge made elsewhere (the hub's tests): always announced to."""

    number: int
    driver: Any
    accessory: Bridge

    def layout_changed(self) -> None:
        self.driver.config_changed()


@dataclass(frozen=True)
class Placed:
    """Where one lock is published."""

    bridge: int
    aid: int


@dataclass
class Outcome:
    """What :meth:`Placement.place` decided."""

    placed: dict[int, Placed]
    left_out: list[KnownLock]


class Placement:
    """The bridges' AID maps, read through ``open_identity`` (bridge number -> its identity,
    made on first use), and the rule that places new locks."""

    def __init__(
        self,
        open_identity: Callable[[int], Identity],
        known: Iterable[int] = (1,),
        *,
        pins: Iterable[ChildBridge] = (),
        capacity: int = MAX_LOCKS,
        max_bridges: int = MAX_BRIDGES,
    ) -> None:
        self._open = open_identity
        self.identities: dict[int, Identity] = {}
        self.pins = [child for child in pins if child.pins_locks]
        self.capacity = capacity
        self.max_bridges = max_bridges
        for number in sorted(set(known)):
            self.identity(number)

    def identity(self, number: int) -> Identity:
        if number not in self.identities:
            self.identities[number] = self._open(number)
        return self.identities[number]

    @property
    def bridges(self) -> list[int]:
        return sorted(self.identities)

    def homes(self) -> dict[int, Placed]:
        """Every lock that has an AID, with its bridge (the lowest, should a crash in the
        middle of a move have left it in two maps)."""
        found: dict[int, Placed] = {}
        for number in sorted(self.identities, reverse=True):
            for lock_id, aid in self.identities[number].aids.items():
                found[lock_id] = Placed(number, aid)
        return found

    def pinned_to(self, lock: KnownLock) -> int | None:
        """The bridge the config pins the lock to (the first rule naming it), if any."""
        for child in self.pins:
            if child.holds(lock.lock_id, lock.alias, lock.group_id):
                return child.number
        return None

    def place(self, locks: list[KnownLock], published: Iterable[int] = ()) -> Outcome:
        """A bridge and an AID for each lock: pinned ones first, then the others where
        they are, then new ones (and ones whose bridge lost its room) in the first bridge
        with room. The published locks, then the ones with a home, rank first when not
        all fit. New AIDs are saved (one write per bridge) before they are handed out."""
        homes, shown = self.homes(), set(published)
        ranked = sorted(enumerate(locks), key=lambda item: (
            item[1].lock_id not in shown, item[1].lock_id not in homes, item[0]))
        reserved = {child.number for child in self.pins}
        count: Counter[int] = Counter()
        chosen: dict[int, int] = {}
        left_out: list[KnownLock] = []
        pinned = {lock.lock_id: self.pinned_to(lock) for lock in locks}
        for _index, lock in ranked:
            if (number := pinned[lock.lock_id]) is not None:
                if count[number] < self.capacity:
                    chosen[lock.lock_id] = number
                    count[number] += 1
                else:
                    left_out.append(lock)
        for _index, lock in ranked:
            home = homes.get(lock.lock_id)
            if (pinned[lock.lock_id] is None and home is not None
                    and home.bridge not in reserved and count[home.bridge] < self.capacity):
                chosen[lock.lock_id] = home.bridge
                count[home.bridge] += 1
        free = (n for n in range(1, self.max_bridges + 1) if n not in reserved)
        number = next(free, None)
        for _index, lock in ranked:
            if lock.lock_id in chosen or pinned[lock.lock_id] is not None:
                continue
            while number is not None and count[number] >= self.capacity:
                number = next(free, None)
            if number is None:
                left_out.append(lock)
                continue
            chosen[lock.lock_id] = number
            count[number] += 1
        placed = self._save(chosen, homes, {lock.lock_id: lock for lock in locks}, pinned)
        return Outcome(placed, left_out)

    def _save(self, chosen: dict[int, int], homes: dict[int, Placed],
              by_id: dict[int, KnownLock], pinned: dict[int, int | None]
              ) -> dict[int, Placed]:
        """AIDs for the locks new to their bridge; a moved lock leaves its old map after
        its new AID is on disk (a crash between keeps it where it was)."""
        fresh: dict[int, list[int]] = {}
        for lock_id, number in chosen.items():
            home = homes.get(lock_id)
            if home is None or home.bridge != number:
                fresh.setdefault(number, []).append(lock_id)
        placed = {lid: homes[lid] for lid, n in chosen.items()
                  if lid in homes and homes[lid].bridge == n}
        for number, lock_ids in sorted(fresh.items()):
            try:
                aids = self.identity(number).assign(lock_ids)
            except StorageError as err:
                _LOGGER.error("%d new locks of bridge %d are not published yet: their HomeKit "
                              "IDs cannot be saved (%s); trying again at the next lock list",
                              len(lock_ids), number, err)
                continue
            moved: dict[int, list[int]] = {}
            for lock_id in lock_ids:
                placed[lock_id] = Placed(number, aids[lock_id])
                if (home := homes.get(lock_id)) is not None:
                    moved.setdefault(home.bridge, []).append(lock_id)
                    why = ("bridge.bridges pins it there" if pinned[lock_id] == number else
                           f"bridge {home.bridge} is full or holds only the locks "
                           "bridge.bridges names")
                    _LOGGER.warning(
                        "%s (%s) moves from bridge %d to bridge %d (%s): HomeKit sees it as "
                        "a new accessory there; put it in its room and scenes again",
                        by_id[lock_id].alias, lock_id, home.bridge, number, why)
            for old, gone in moved.items():
                self.identity(old).forget(gone)
        return placed
