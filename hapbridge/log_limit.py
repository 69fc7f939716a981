"""Log lines that anyone on the network can trigger, at most one per kind per interval.

A request costs an attacker a few bytes; a log line costs the owner disk and attention. Each
kind of line is written at most once per ``interval``; the next one that gets through says
how many were left out meanwhile, so nothing is hidden, only summed up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 60.0


class RateLimitedLog:
    """``log(kind, level, msg, *args)`` writes to ``logger`` at most once per interval per
    kind (a fixed, short name: never a value from the request, or the kinds themselves grow
    without bound)."""

    def __init__(self, logger: logging.Logger, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    def log(self, kind: str, level: int, msg: str, *args: object) -> bool:
        """Write the line unless one of this kind was written less than ``interval`` ago;
        True when written."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._dropped[kind] = self._dropped.get(kind, 0) + 1
            return False
        self._last[kind] = now
        dropped = self._dropped.pop(kind, 0)
        if dropped:
            msg += f" ({dropped} more like it in the last {self.interval:.0f}s not logged)"
        self.logger.log(level, msg, *args)
        return True

    def at(self, level: int) -> Callable[..., bool]:
        """``log`` with its level fixed: ``warn = RateLimitedLog(logger).at(WARNING)``,
        then ``warn(kind, msg, *args)``."""

        def write(kind: str, msg: str, *args: object) -> bool:
            return self.log(kind, level, msg, *args)

        return write
