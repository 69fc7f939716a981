"""Whether pushes arrive: the poll plan relaxes while they do, and goes back when they stop.

Pushes make polling a safety net, but nothing says when a callback stops arriving (the
URL changed in the developer platform, the tunnel died, a proxy broke). A command is the
evidence: the lock must write a record for it (a gateway unlock is record type 12), which
a working callback pushes within seconds. So each successful command of a lock that
pushes opens an expectation; no push for that lock within ``expect_within`` means pushes
seem lost: said once, and the plan polls fully again until a push arrives, which is said
too. A quiet house proves nothing either way and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

EXPECT_WITHIN = 120.0  # seconds for a command's record to be pushed (a gateway takes a few)
EARLY = 10.0  # a push this shortly before the command's result counts (it may come first)


class PushWatch:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change  # the plan follows ``relaxed``
        self.expect_within = EXPECT_WITHIN
        self.live = False  # a push arrived (and none was missed since)
        self.lost = False  # a command's record was not pushed in time
        self.last_push_at: float | None = None  # unix time of the newest push
        self._heard: dict[int, float] = {}  # lock id -> monotonic time of its newest push
        self._waiting: dict[int, asyncio.TimerHandle] = {}

    @property
    def relaxed(self) -> bool:
        """Pushes arrive: the plan polls as a safety net only."""
        return self.live and not self.lost

    def heard(self, lock_id: int, name: str) -> None:
        """A push for the lock was accepted."""
        self._heard[lock_id] = time.monotonic()
        self.last_push_at = time.time()
        if (waiting := self._waiting.pop(lock_id, None)) is not None:
            waiting.cancel()
        if self.lost:
            self.lost = False
            self.live = True
            _LOGGER.info("pushes arrive again (%s): polling relaxes to a safety net", name)
            self._on_change()
        elif not self.live:
            self.live = True
            _LOGGER.info("pushes arrive (%s): state comes from them, polling relaxes to a "
                         "safety net", name)
            self._on_change()

    def expect(self, lock_id: int, name: str, what: str) -> None:
        """A command for the lock succeeded: its record should be pushed soon."""
        if lock_id in self._waiting or self._heard.get(lock_id, -EARLY) > time.monotonic() - EARLY:
            return
        self._waiting[lock_id] = asyncio.get_running_loop().call_later(
            self.expect_within, self._missed, lock_id, name, what)

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
        for handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
