"""Whether pushes arrive: the poll plan relaxes while they do, and goes back when they stop.

Pushes make polling a safety net, but nothing says when a callback stops arriving (the
URL changed in the developer platform, the tunnel died, a proxy broke). A command is the
evidence: the lock must write a record for it (a gateway unlock is record type 12, a
remote lock type 11), which a working callback pushes within seconds. So each successful
command of a lock that pushes opens an expectation of a pushed record with the same bolt
change, from about when the command ran; none within ``expect_within`` means pushes seem
lost: said once, and the plan polls fully again until a push arrives, which is said
too. A quiet house proves nothing either way and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from hapbridge.push.records import PushedRecord
from hapbridge.ttlock.record_types import LockChange

_LOGGER = logging.getLogger(__name__)

EXPECT_WITHIN = 120.0  # seconds for a command's record to be pushed (a gateway takes a few)
# A record this much older than the command's result may be the command's own (the lock
# acts while the command travels; the push may even come before the answer).
EARLY_MS = 10_000
RECENT = 8  # pushed bolt changes kept per lock, for a push that came before the answer


class PushWatch:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change  # the plan follows ``relaxed``
        self.expect_within = EXPECT_WITHIN
        self.live = False  # a push arrived (and none was missed since)
        self.lost = False  # a command's record was not pushed in time
        self._ever = False  # a push arrived at some time
        self.last_push_at: float | None = None  # unix time of the newest push
        # lock id -> its recently pushed bolt changes: (lock time ms, change)
        self._recent: dict[int, deque[tuple[int, LockChange]]] = {}
        # lock id -> (the change awaited, from lock time ms, the timer)
        self._waiting: dict[int, tuple[LockChange, int, asyncio.TimerHandle]] = {}

    @property
    def relaxed(self) -> bool:
        """Pushes arrive: the plan polls as a safety net only."""
        return self.live and not self.lost

    def heard(self, lock_id: int, name: str, records: Iterable[PushedRecord] = ()) -> None:
        """A push for the lock was accepted."""
        self.last_push_at = time.time()
        recent = self._recent.setdefault(lock_id, deque(maxlen=RECENT))
        recent.extend((r.lock_date, r.meaning.lock) for r in records
                      if r.success and r.meaning.lock is not None)
        if (waiting := self._waiting.get(lock_id)) is not None and self._met(lock_id, *waiting[:2]):
            self._waiting.pop(lock_id)[2].cancel()
        if self.relaxed:
            return
        again = self.lost and self._ever
        self.lost, self.live, self._ever = False, True, True
        if again:
            _LOGGER.info("pushes arrive again (%s): polling relaxes to a safety net", name)
        else:
            _LOGGER.info("pushes arrive (%s): state comes from them, polling relaxes to a "
                         "safety net", name)
        self._on_change()

    def expect(self, lock_id: int, name: str, change: LockChange) -> None:
        """A command for the lock succeeded: its record should be pushed soon."""
        since = int(time.time() * 1000) - EARLY_MS
        if (waiting := self._waiting.pop(lock_id, None)) is not None:
            waiting[2].cancel()  # the newer command's record is the one to wait for
        if self._met(lock_id, change, since):
            return
        what = "unlock" if change is LockChange.UNLOCKED else "lock"
        handle = asyncio.get_running_loop().call_later(
            self.expect_within, self._missed, lock_id, name, what)
        self._waiting[lock_id] = (change, since, handle)

    def _met(self, lock_id: int, change: LockChange, since: int) -> bool:
        return any(at >= since and done is change for at, done in self._recent.get(lock_id, ()))

    def _missed(self, lock_id: int, name: str, what: str) -> None:
        self._waiting.pop(lock_id, None)
        if self.lost:
            return
        self.lost = True
        was_live, self.live = self.live, False
        if was_live:
            _LOGGER.warning("pushes seem lost: %s's record of the %s was not pushed within "
                            "%.0f s; back to full polling until a push arrives (check the "
                            "tunnel or proxy, and 'hapbridge callback-url')", name, what,
                            self.expect_within)
            self._on_change()
        else:
            _LOGGER.warning("no push arrived for %s's %s within %.0f s: is the callback URL "
                            "('hapbridge callback-url') saved in the TTLock developer "
                            "platform, and does your proxy or tunnel reach the receiver? "
                            "Polling as without pushes", name, what, self.expect_within)

    def close(self) -> None:
        for _change, _since, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
