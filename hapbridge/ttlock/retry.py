"""Retry policy for calls the cloud may answer later: busy gateways, 5xx, timeouts."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` is Homebridge's ``maximumApiRetry``: retries after the first attempt."""

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter (x0.5..x1.5) so queued callers do not stampede."""
        rng = rng or random
        raw = min(self.max_delay, self.base_delay * (2**retry))
        return raw * rng.uniform(0.5, 1.5)
